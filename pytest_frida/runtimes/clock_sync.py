"""Synchronising a node's clock before a run: chrony, installed and stepped on the node.

The measured offsets of every step are what the latency verdicts rely on (see
measure/clocks.py); synchronising first makes them small, so that an uncorrected run can be
trusted too and drift during a step stays low. With `chrony`, each node gets chrony if it
lacks it (apt-get), its daemon started if none answers, a burst of measurements against the
node's own configured sources (on Grid'5000, the site's), a wait for synchronisation and a
clock step. What `chronyc tracking` says afterwards goes into the report. Commands that
need root go through the site's prefix (`sudo-g5k` on Grid'5000).
"""

from __future__ import annotations

import re
import shlex

from pytest_frida.runtimes.ssh import RemoteError, SshSettings

SYNC_TIMEOUT_S = 300.0

_SCRIPT = """set -e
S={sudo}
if [ -z "$S" ] && [ "$(id -u)" != 0 ]; then S='sudo -n'; fi
if ! command -v chronyc >/dev/null 2>&1; then
  $S env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chrony >/dev/null
fi
chronyc tracking >/dev/null 2>&1 || $S chronyd
$S chronyc -a 'burst 4/4' >/dev/null
chronyc waitsync 30 0 0 1 >/dev/null || echo 'frida: chrony found no source to follow' >&2
$S chronyc -a makestep >/dev/null
chronyc tracking
"""


def chrony_script(sudo: str | None) -> str:
    """The shell script that synchronises one node: `sudo` prefixes root commands (None:
    `sudo -n` unless the session is root already)."""
    return _SCRIPT.format(sudo=shlex.quote(sudo or ""))


_SECONDS = re.compile(r"^(?P<key>[A-Za-z ]+?)\s*:\s*(?P<value>[-+]?[0-9.]+) seconds(?P<rest>.*)$")


def parse_tracking(text: str) -> dict[str, object]:
    """The parts of `chronyc tracking` the report keeps: the reference, the system clock's
    remaining error (ms, positive when fast) and the last correction (ms)."""
    out: dict[str, object] = {}
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Reference ID":
            out["reference"] = value.strip()
            continue
        m = _SECONDS.match(line.strip())
        if not m:
            continue
        ms = float(m["value"]) * 1000
        if m["key"] == "System time":
            out["system_time_ms"] = round(-ms if "slow" in m["rest"] else ms, 6)
        elif m["key"] == "Last offset":
            out["last_offset_ms"] = round(ms, 6)
    if "system_time_ms" not in out:
        raise ValueError(f"no 'System time' line in chronyc tracking output: {text[:200]!r}")
    return out


def sync_clock(ssh: SshSettings, sudo: str | None, host: str) -> dict[str, object]:
    """Synchronise `host`'s clock with chrony; what chrony then reports (RemoteError, naming
    the node, when it cannot)."""
    out = ssh.run(host, f"sh -c {shlex.quote(chrony_script(sudo))}", timeout=SYNC_TIMEOUT_S)
    try:
        return parse_tracking(out)
    except ValueError as exc:
        raise RemoteError(f"{host}: clock synchronisation with chrony: {exc}") from None
