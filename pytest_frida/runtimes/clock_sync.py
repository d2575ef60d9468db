"""Synchronising a node's clock before a run, and saying honestly whether it is.

The measured offsets of every step are what the latency verdicts rely on (see
measure/clocks.py); synchronising first makes them small, so that an uncorrected run can be
trusted too and drift during a step stays low. A node whose ntpd answers keeps it (Grid'5000's
nodes run ntpd against their site's servers, and the testbed's own checks rely on it): its
offset and state are read (`ntpq -c rv`) and nothing is changed. Elsewhere the node gets
chrony if it lacks it (apt-get update, then install), its daemon started if none answers, a
burst of measurements against its configured sources, a wait for synchronisation and a clock
step. What the daemon then says goes into the report, with `synchronised` false (and why)
where it follows no source: such a node is said to be unsynchronised, never passed off as
synchronised. Commands that need root go through the site's prefix (`sudo-g5k` on
Grid'5000).
"""

from __future__ import annotations

import re
import shlex

from pytest_frida.runtimes.ssh import RemoteError, SshSettings

SYNC_TIMEOUT_S = 300.0

_SCRIPT = """set -e
S={sudo}
if [ -z "$S" ] && [ "$(id -u)" != 0 ]; then S='sudo -n'; fi
# ntpq exits 0 even when no ntpd answers: only an answer with an offset counts
if command -v ntpq >/dev/null 2>&1 && rv=$(ntpq -c rv 2>/dev/null) \
    && printf '%s' "$rv" | grep -q 'offset='; then
  echo 'frida-daemon: ntpd'
  echo "$rv"
  exit 0
fi
if ! command -v chronyc >/dev/null 2>&1; then
  $S env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  $S env DEBIAN_FRONTEND=noninteractive apt-get install -y -q chrony >/dev/null
fi
chronyc tracking >/dev/null 2>&1 || $S chronyd
$S chronyc -a 'burst 4/4' >/dev/null
echo 'frida-daemon: chrony'
if chronyc waitsync 30 0 0 1 >/dev/null; then echo 'frida-waitsync: ok'
else echo 'frida-waitsync: no source to follow within 30 s'; fi
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


def parse_ntpq_rv(text: str) -> dict[str, object]:
    """What the report keeps of `ntpq -c rv`: the reference, the system clock's error (ms,
    positive when fast: ntpd's offset is the reference's, so the sign flips), the stratum
    and whether ntpd is synchronised: not with a leap alarm (leap 11), no source
    (sync_unspec), stratum 16, or only its own undisciplined clock (sync_local, refid
    LOCL), whose offset is from itself."""
    fields = dict(re.findall(r"(\w+)=(\"[^\"]*\"|[^,\s]+)", text))
    if "offset" not in fields:
        raise ValueError(f"no offset in ntpq -c rv output: {text[:200]!r}")
    refid = fields.get("refid", "").strip('"')
    stratum = int(fields["stratum"]) if fields.get("stratum", "").isdigit() else None
    problems = []
    if fields.get("leap") == "11" or "leap_alarm" in text:
        problems.append("leap alarm")
    if "sync_unspec" in text:
        problems.append("no source")
    if stratum == 16:
        problems.append("stratum 16")
    if "sync_local" in text or refid.upper().startswith("LOCL") or refid.startswith("127.127.1."):
        problems.append(f"following its own local clock (refid {refid or '?'})")
    out: dict[str, object] = {
        "daemon": "ntpd",
        "synchronised": not problems,
        "reference": refid,
        "system_time_ms": round(-float(fields["offset"]), 6),
        "stratum": stratum,
    }
    if problems:
        out["problem"] = f"ntpd is not synchronised ({'; '.join(problems)})"
    return out


def parse_sync_output(text: str) -> dict[str, object]:
    """The report's record of one node's synchronisation, from the script's output."""
    daemon = re.search(r"^frida-daemon: (\w+)$", text, re.MULTILINE)
    if daemon and daemon.group(1) == "ntpd":
        return parse_ntpq_rv(text)
    out: dict[str, object] = {"daemon": "chrony", **parse_tracking(text)}
    waited = re.search(r"^frida-waitsync: (.*)$", text, re.MULTILINE)
    leap = re.search(r"^Leap status\s*:\s*(.*)$", text, re.MULTILINE)
    problems = []
    if waited and waited.group(1) != "ok":
        problems.append(f"chrony found {waited.group(1)}")
    if leap and leap.group(1).strip() == "Not synchronised":
        problems.append("chrony is not synchronised")
    out["synchronised"] = not problems
    if problems:
        out["problem"] = "; ".join(problems)
    return out


def sync_clock(ssh: SshSettings, sudo: str | None, host: str) -> dict[str, object]:
    """Synchronise `host`'s clock (or read its ntpd); what the daemon then reports, with
    `synchronised` (RemoteError, naming the node, when neither can be run)."""
    out = ssh.run(host, f"sh -c {shlex.quote(chrony_script(sudo))}", timeout=SYNC_TIMEOUT_S)
    try:
        return parse_sync_output(out)
    except ValueError as exc:
        raise RemoteError(f"{host}: clock synchronisation: {exc}") from None


def unsynchronised_note(host: str, record: dict[str, object]) -> str | None:
    """The line a run says when `host`'s daemon did not synchronise it, else None."""
    if record.get("synchronised", True):
        return None
    return (
        f"frida: {host}: clock not synchronised ({record.get('problem')}); each step"
        " still measures and corrects its offset"
    )
