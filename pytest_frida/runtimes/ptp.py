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
import re
import shlex
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pytest_frida.runtimes.process import ManagedProcess, stop_together
from pytest_frida.runtimes.ssh import RemoteError, SshSettings, remote_process, tied_to_stdin

#: how long slaves get to follow the master
SETTLE_S = 90.0
POLL_S = 2.0
_GONE = "frida-ptpd-gone: "

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
$S rm -f {stats} {stats}.pid
# the pid file names ptpd itself, not the root prefix that starts it (sudo forks)
exec $S sh -c 'echo $$ > "$0"; exec "$@"' {stats}.pid ptpd -i "$dev" {mode} -d {domain} \\
  -C -L -S {stats}
"""

#: stops the ptpd a start script ran (its pid file), waits, prints the end of its
#: statistics file for the run's logs and removes it: nothing of the run stays on the node
_STOP = """S={sudo}
if [ -z "$S" ] && [ "$(id -u)" != 0 ]; then S='sudo -n'; fi
pid=$(cat {stats}.pid 2>/dev/null) || exit 0
$S kill "$pid" 2>/dev/null || true
i=0
while $S kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.2; i=$((i+1)); done
$S kill -9 "$pid" 2>/dev/null || true
tail -n 200 {stats} 2>/dev/null || true
$S rm -f {stats}.pid {stats}
"""


def start_script(
    sudo: str | None, master_address: str, master: bool, stats: str, domain: int = 0
) -> str:
    """The shell script that runs ptpd on one node (in the foreground), in PTP `domain`."""
    return _START.format(
        sudo=shlex.quote(sudo or ""),
        master=shlex.quote(master_address),
        is_master=int(master),
        mode="-M" if master else "-s",
        stats=shlex.quote(stats),
        domain=int(domain),
    )


def run_domain(run_id: str) -> int:
    """A PTP domain of the run's own (4 to 127: 0 is the default, 1 to 3 the standard's
    alternates), so a slave never follows another run's or the site's own master on the
    same network; the clock id it follows is checked against our master's as well."""
    return 4 + zlib.crc32(run_id.encode()) % 124


@dataclass(frozen=True)
class PtpState:
    """The last line of a node's statistics file."""

    state: str
    #: the grandmaster clock the node follows (a master: its own), e.g.
    #: `3aaacefffedca123(unknown)/1`; "" before it knows one
    clock_id: str
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

    return PtpState(state, fields[2] if len(fields) > 2 else "", ms(4), ms(3))


def same_clock(followed: str, master: str) -> bool:
    """Whether two clock ids (`3aaacefffedca123(uvb-9)/1`) name one clock: the hex id and
    the port, without the host name each node looked up for it (nodes may differ there)."""

    def key(clock: str) -> str:
        return re.sub(r"\([^)]*\)", "", clock).strip()

    return key(followed) == key(master)


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
        #: hosts whose ptpd pid file names a process that no longer runs
        self._gone: dict[str, str] = {}

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
        say(
            f"frida: ptpd: master {self.master}, slaves"
            f" {', '.join(h for h in self.daemons if h != self.master) or 'none'}"
        )

    def _launch(self, host: str, master: bool) -> None:
        script = start_script(
            self.sudo, self.master_address, master, self.stats_path(host), run_domain(self.run_id)
        )
        self.daemons[host] = remote_process(
            f"ptpd-{host}",
            self.ssh,
            host,
            tied_to_stdin(f"sh -c {shlex.quote(script)}"),
            log_path=self.log_dir / f"ptpd-{host.split('@')[-1]}.log",
        )

    def _state(self, host: str) -> tuple[PtpState | None, str | None]:
        """The last line of `host`'s statistics file, or the reason it could not be read.
        Also notes a ptpd that has gone: its ssh session outlives it (tied to the run, see
        ssh.tied_to_stdin), so only its pid file, written as it starts, can tell."""
        stats = shlex.quote(self.stats_path(host))
        pid = shlex.quote(self.stats_path(host) + ".pid")
        try:
            text = self.ssh.run(
                host,
                f"cat {stats} 2>/dev/null | tail -n 5; if [ -f {pid} ];"
                f" then p=$(cat {pid}); [ -d /proc/$p ] ||"
                f' echo "{_GONE}$p"; fi',
                timeout=30,
            )
        except RemoteError as exc:
            return None, str(exc)
        gone = [line for line in text.splitlines() if line.startswith(_GONE)]
        if gone:
            self._gone[host] = gone[-1][len(_GONE) :]
        return parse_statistics(
            "\n".join(line for line in text.splitlines() if not line.startswith(_GONE))
        ), None

    def _exited(self, host: str) -> str | None:
        """How `host`'s ptpd ended, or None while it runs (as far as can be seen)."""
        daemon = self.daemons.get(host)
        if daemon is not None and daemon.returncode is not None:
            return f"its session exited ({daemon.returncode})"
        if host in self._gone:
            return f"pid {self._gone[host]} no longer runs"
        return None

    def read(self, host: str, master_clock: str | None = None) -> dict[str, object]:
        """What the report keeps of `host`'s PTP: its role, state and offset. The master is
        synchronised while its ptpd runs as master (`mst`); a slave while it follows
        (`slv`) the clock id `master_clock` that our master announced, no other."""
        role = "master" if host == self.master else "slave"
        out: dict[str, object] = {"daemon": "ptpd", "role": role, "synchronised": False}
        state, problem = self._state(host)
        if state is not None:
            out.update(state=state.state, clock_id=state.clock_id)
            if role == "slave":
                out.update(
                    offset_from_master_ms=state.offset_ms, one_way_delay_ms=state.one_way_delay_ms
                )
        dead = self._exited(host)
        if problem is None and dead is not None:
            problem = f"ptpd has gone: {dead}; see its log"
        elif problem is None and role == "master":
            if state is None or state.state != "mst":
                problem = (
                    f"not master after {SETTLE_S:.0f}s (state"
                    f" {state.state if state else 'none yet'})"
                )
        elif problem is None:
            master_dead = self._exited(self.master) if self.master else None
            if master_dead is not None:
                problem = f"the PTP master {self.master} has gone: {master_dead}"
            elif state is None or state.state != "slv":
                problem = (
                    f"not following the master after {SETTLE_S:.0f}s (state"
                    f" {state.state if state else 'none yet'})"
                )
            elif not master_clock:
                problem = "the master announced no clock id to check against"
            elif not same_clock(state.clock_id, master_clock):
                problem = (
                    f"follows clock {state.clock_id}, not our master's {master_clock}"
                    " (another PTP master on this network?)"
                )
        out["synchronised"] = problem is None
        if problem is not None:
            out["problem"] = problem
        return out

    def wait(
        self, hosts: Sequence[str], say: Callable[[str], None]
    ) -> dict[str, dict[str, object]]:
        """Each host's PTP record once the master is master and every slave follows it,
        SETTLE_S at most; at once when the master's ptpd has exited."""
        deadline = time.monotonic() + SETTLE_S
        while True:
            master = self.read(self.master) if self.master else None
            clock = str(master.get("clock_id", "")) if master and master["synchronised"] else None
            records = {
                h: master if h == self.master and master is not None else self.read(h, clock)
                for h in hosts
            }
            waiting = [
                h for h, r in records.items() if not r["synchronised"] and self._exited(h) is None
            ]
            master_gone = self.master is not None and self._exited(self.master) is not None
            if not waiting or master_gone or time.monotonic() >= deadline:
                break
            time.sleep(POLL_S)
        for host, record in records.items():
            if not record["synchronised"]:
                say(
                    f"frida: {host}: PTP not synchronised ({record.get('problem')}); each"
                    " step still measures and corrects its offset"
                )
        return records

    def stop(self) -> None:
        """ptpd stopped on every node that answers (and waited for), then the sessions."""
        for host in self.daemons:
            with contextlib.suppress(RemoteError, OSError):
                tail = self.ssh.run(
                    host, f"sh -c {shlex.quote(self._stop_script(host))}", timeout=30
                )
                path = self.log_dir / "ptpd" / Path(self.stats_path(host)).name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(tail)
        stop_together(list(self.daemons.values()), 5.0)
        self.daemons.clear()

    def _stop_script(self, host: str) -> str:
        return _STOP.format(
            sudo=shlex.quote(self.sudo or ""), stats=shlex.quote(self.stats_path(host))
        )
