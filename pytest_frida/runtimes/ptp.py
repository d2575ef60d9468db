"""PTP between the nodes with ptpd (`--frida-clock-sync=ptpd`), as the original experiment
set it up by hand: a master on the first node, a slave on every other, for the whole run: the
master on the interface that holds the address the slaves reach it at (not `lo`, which
`ip route get` names for a node's own address), each slave on its route to that address.

ptpd is installed where it is missing (apt-get, through the site's root prefix) and runs as
a long-lived ssh session tied to the run (it stops when the run does). Each slave writes its
statistics file (one CSV line per PTP exchange); the last line gives its state (`slv` once
it follows the master) and its offset from the master. The report keeps, per node, the role,
the state and that offset next to what the step's own clock probe measured; a slave that
never reached `slv` within SETTLE_S is said to be not synchronised. PTP in software (no
hardware timestamps) is as good as the network's delay is symmetric: the offsets it reports
are its own estimate, which is why every step still measures the clocks itself.
"""

from __future__ import annotations

import contextlib
import shlex
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_frida.runtimes.process import ManagedProcess, stop_together
from pytest_frida.runtimes.ssh import RemoteError, SshSettings, remote_process, tied_to_stdin

#: how long slaves get to follow the master
SETTLE_S = 90.0
POLL_S = 2.0

_START = """set -e
S={sudo}
if [ -z "$S" ] && [ "$(id -u)" != 0 ]; then S='sudo -n'; fi
if ! command -v ptpd >/dev/null 2>&1 && [ ! -x /usr/sbin/ptpd ]; then
  $S env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
  $S env DEBIAN_FRONTEND=noninteractive apt-get install -y -q ptpd >/dev/null
fi
PATH=$PATH:/usr/sbin
if [ {is_master} = 1 ]; then  # the interface holding the address the slaves reach
  dev=$(ip -o -4 addr show to {master} | awk '{{print $2; exit}}')
else
  dev=$(ip -o route get {master} | sed -n 's/.* dev \\([^ ]*\\).*/\\1/p')
fi
[ -n "$dev" ] || {{ echo "no interface towards the PTP master {master}" >&2; exit 1; }}
rm -f {stats}
echo $$ > {stats}.pid
exec $S ptpd -i "$dev" {mode} -C -L -S {stats}
"""

#: stops the ptpd a start script ran (its pid: the script's, kept through exec), and waits
_STOP = """S={sudo}
if [ -z "$S" ] && [ "$(id -u)" != 0 ]; then S='sudo -n'; fi
pid=$(cat {stats}.pid 2>/dev/null) || exit 0
$S kill "$pid" 2>/dev/null || true
i=0
while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
$S kill -9 "$pid" 2>/dev/null || true
rm -f {stats}.pid
"""


def start_script(sudo: str | None, master_address: str, master: bool, stats: str) -> str:
    """The shell script that runs ptpd on one node (in the foreground)."""
    return _START.format(sudo=shlex.quote(sudo or ""), master=shlex.quote(master_address),
                         is_master=int(master), mode="-M" if master else "-s",
                         stats=shlex.quote(stats))


@dataclass(frozen=True)
class PtpState:
    """The last line of a slave's statistics file."""

    state: str
    #: slave minus master, ms (None: not measured yet)
    offset_ms: float | None
    one_way_delay_ms: float | None


def parse_statistics(text: str) -> PtpState | None:
    """The last data line of ptpd's statistics file (`timestamp, state, clock id, one way
    delay, offset from master, ...`, seconds), or None before the first one."""
    lines = [line for line in text.splitlines() if line.strip() and not line.startswith("#")]
    if not lines:
        return None
    fields = [f.strip() for f in lines[-1].split(",")]
    state = fields[1] if len(fields) > 1 else ""

    def ms(index: int) -> float | None:
        try:
            return round(float(fields[index]) * 1000, 6)
        except (IndexError, ValueError):
            return None

    return PtpState(state, ms(4), ms(3))


class PtpDomain:
    """ptpd on every node of a run: started, waited for, read, stopped."""

    def __init__(self, ssh: SshSettings, sudo: str | None, run_id: str, log_dir: Path) -> None:
        self.ssh = ssh
        self.sudo = sudo
        self.run_id = run_id
        self.log_dir = log_dir
        self.master: str | None = None
        self.master_address = ""
        self.daemons: dict[str, ManagedProcess] = {}

    def stats_path(self, host: str) -> str:
        return f"/tmp/frida-ptpd-{self.run_id}-{host.split('@')[-1].split('.')[0]}.stats"

    def start(self, hosts: Sequence[str], say: Callable[[str], None]) -> None:
        """The first host becomes the master (when there is none yet), the others slaves."""
        if self.master is None:
            self.master = hosts[0]
            self.master_address = self.ssh.address(self.master)
            self._launch(self.master, True)
        for host in hosts:
            if host not in self.daemons:
                self._launch(host, False)
        say(f"frida: ptpd: master {self.master}, slaves"
            f" {', '.join(h for h in self.daemons if h != self.master) or 'none'}")

    def _launch(self, host: str, master: bool) -> None:
        script = start_script(self.sudo, self.master_address, master, self.stats_path(host))
        self.daemons[host] = remote_process(
            f"ptpd-{host}", self.ssh, host, tied_to_stdin(f"sh -c {shlex.quote(script)}"),
            log_path=self.log_dir / f"ptpd-{host.split('@')[-1]}.log")

    def read(self, host: str) -> dict[str, object]:
        """What the report keeps of `host`'s PTP: its role, state and offset."""
        if host == self.master:
            return {"daemon": "ptpd", "role": "master", "synchronised": True}
        try:
            text = self.ssh.run(host, f"cat {shlex.quote(self.stats_path(host))} 2>/dev/null"
                                " | tail -n 5", timeout=30)
        except RemoteError as exc:
            return {"daemon": "ptpd", "role": "slave", "synchronised": False,
                    "problem": str(exc)}
        state = parse_statistics(text)
        out: dict[str, object] = {"daemon": "ptpd", "role": "slave",
                                  "synchronised": state is not None and state.state == "slv"}
        if state is not None:
            out.update(state=state.state, offset_from_master_ms=state.offset_ms,
                       one_way_delay_ms=state.one_way_delay_ms)
        if not out["synchronised"]:
            dead = self.daemons[host].returncode if host in self.daemons else None
            out["problem"] = (f"ptpd exited ({dead}); see its log" if dead is not None else
                              f"not following the master after {SETTLE_S:.0f}s (state"
                              f" {state.state if state else 'none yet'})")
        return out

    def wait(self, hosts: Sequence[str], say: Callable[[str], None]) -> dict[str, dict[str,
                                                                                     object]]:
        """Each host's PTP record once every slave follows the master, SETTLE_S at most."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            records = {h: self.read(h) for h in hosts}
            waiting = [h for h, r in records.items() if not r["synchronised"]
                       and self.daemons[h].returncode is None]
            if not waiting or time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        for host, record in records.items():
            if not record["synchronised"]:
                say(f"frida: {host}: PTP not synchronised ({record.get('problem')}); each"
                    " step still measures and corrects its offset")
        return records

    def stop(self) -> None:
        """ptpd stopped on every node that answers (and waited for), then the sessions."""
        for host in self.daemons:
            with contextlib.suppress(RemoteError):
                self.ssh.run(host, f"sh -c {shlex.quote(self._stop_script(host))}",
                             timeout=30)
        stop_together(list(self.daemons.values()), 5.0)
        self.daemons.clear()

    def _stop_script(self, host: str) -> str:
        return _STOP.format(sudo=shlex.quote(self.sudo or ""),
                            stats=shlex.quote(self.stats_path(host)))
