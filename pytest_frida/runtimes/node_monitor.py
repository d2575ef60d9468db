"""Reading brokers that run on other machines (hosts, Grid'5000), over the run's SSH.

Once a second, for each broker node, one command over the connection the run already holds
(ControlMaster) prints the kernel files a local monitor reads itself: the broker's
/proc/<pid> files, its container's cgroup when it runs in one, the node's /proc/stat and
the data disk's /proc/diskstats line. The same parsers as for local files turn them into
counters (measure.proc). Kafka's figures come from the broker's exporter, which the
controller scrapes over the network like Prometheus would.

A reading is stamped at the midpoint of its command's round trip, as the controller's
clock sees it: the counters were read somewhere in between, so a rate over one second is
off by at most the round trip's share of that second.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from pytest_frida.measure.host_speed import parse_proc_stat
from pytest_frida.measure.proc import (
    parse_cgroup_cpu,
    parse_cgroup_memory,
    parse_diskstats,
    parse_pid_io,
    parse_pid_stat,
    parse_pid_status,
)
from pytest_frida.measure.sampler import STAMP
from pytest_frida.runtimes.fan_out import on_each
from pytest_frida.runtimes.monitor import BrokerMonitor

#: a node that does not answer within this is skipped for that second
READ_TIMEOUT_S = 2.0
#: what is said when the login may not read the broker's /proc/<pid>/io: the kernel lets
#: only a login that may trace the process read it, which a broker of another user (Kafka's
#: image runs it as appuser, uid 1000) is not to an ordinary login
IO_UNREADABLE = (
    "/proc/<pid>/io not readable by this login (only the broker's own user, or one allowed"
    " to trace it, may read it): no storage bytes"
)
#: ... when the file is not there: a kernel built without per-task I/O accounting
IO_ABSENT = (
    "/proc/<pid>/io absent (this kernel keeps no per-process I/O accounting): no storage bytes"
)
#: ... when it was read and held no write_bytes
IO_UNPARSED = "/proc/<pid>/io held no write_bytes: no storage bytes"

# the files of a container's cgroup that may hold its CPU and memory, v1 (cpuacct and
# memory controllers, mounted alone or together) or v2 (one tree, maybe under unified/)
_CGROUP_FILES = (
    "$(awk -F: '"
    '$1=="0"{print "/sys/fs/cgroup"$3"/cpu.stat /sys/fs/cgroup/unified"$3"/cpu.stat'
    ' /sys/fs/cgroup"$3"/memory.current"} '
    '$2~/(^|,)cpuacct(,|$)/{print "/sys/fs/cgroup/cpuacct"$3"/cpuacct.usage'
    ' /sys/fs/cgroup/cpu,cpuacct"$3"/cpuacct.usage"} '
    '$2=="memory"{print "/sys/fs/cgroup/memory"$3"/memory.usage_in_bytes"}'
    "' /proc/$p/cgroup)"
)


@dataclass(frozen=True)
class NodeBroker:
    """Where one broker runs and how its process is found there."""

    host: str
    #: a shell command printing the broker's pid on its node (nothing when it is not
    #: running)
    find_pid: str
    #: its data directory on the node, whose disk is read, as a shell word (quoted, or a
    #: command substitution such as Docker's root directory)
    data_dir: str
    #: it runs in a container: its cgroup's CPU and memory, not the process's alone
    container: bool = False


def reading_script(broker: NodeBroker, known_pid: int | None = None) -> str:
    """The command that prints one reading of `broker`: the pid and the data disk's device
    numbers as @-lines, then every file as `path:line` (one grep reads them all, and goes
    past a file that is not there). With the pid the last reading found, `find_pid` runs
    again only when that process is gone (finding a container's costs a Docker call)."""
    find = f"p=$({broker.find_pid} 2>/dev/null | head -n 1)"
    files = "/proc/$p/stat /proc/$p/status /proc/$p/io"
    if broker.container:
        files += f" {_CGROUP_FILES}"
    return "\n".join(
        [
            f"p={known_pid}; [ -d /proc/$p ] || {{ {find}; }}" if known_pid else find,
            'echo "@pid ${p:-}"',
            # an io file that is there but gives grep no line was refused by the kernel's
            # ptrace check on opening, which its mode bits do not tell
            '[ -n "$p" ] && { [ -e /proc/$p/io ] || echo "@io absent"; }',
            f"echo \"@dev $(stat -c '%Hd %Ld' {broker.data_dir} 2>/dev/null)\"",
            f'f=""; [ -n "$p" ] && f="{files}"',
            "grep -H '' $f /proc/stat /proc/diskstats 2>/dev/null",
            "exit 0",
        ]
    )


def files_of(text: str) -> tuple[dict[str, str], dict[str, str]]:
    """A reading's @-lines (name -> value) and its files (path -> text)."""
    marks: dict[str, str] = {}
    files: dict[str, list[str]] = {}
    for line in text.splitlines():
        if line.startswith("@"):
            name, _, value = line[1:].partition(" ")
            marks[name] = value.strip()
        elif ":" in line:
            path, _, content = line.partition(":")
            files.setdefault(path, []).append(content)
    return marks, {path: "\n".join(lines) for path, lines in files.items()}


def _cgroup(files: Mapping[str, str]) -> dict[str, float]:
    """A container's CPU (v1's cpuacct.usage before v2's cpu.stat) and memory."""
    out: dict[str, float] = {}
    for suffix, version in (("/cpuacct.usage", 1), ("/cpu.stat", 2)):
        found = [
            text
            for path, text in files.items()
            if path.startswith("/sys/") and path.endswith(suffix)
        ]
        if found:
            out.update(parse_cgroup_cpu(found[0], version))
            break
    for suffix in ("/memory.usage_in_bytes", "/memory.current"):
        found = [text for path, text in files.items() if path.endswith(suffix)]
        if found:
            out.update(parse_cgroup_memory(found[0]))
            break
    return out


def _allowed_cores(status: str) -> int | None:
    """How many cores the process may run on (Cpus_allowed_list: "0-3,8"): a cpuset or an
    OAR core reservation gives a broker fewer than its node has."""
    for line in status.splitlines():
        if line.startswith("Cpus_allowed_list:"):
            count = 0
            for part in line.split(":", 1)[1].strip().split(","):
                low, _, high = part.partition("-")
                if low.isdigit():
                    count += int(high) - int(low) + 1 if high.isdigit() else 1
            return count or None
    return None


def parse_reading(
    text: str,
) -> tuple[dict[str, float], dict[str, float], dict[str, float], list[str]]:
    """(the broker's counters, the node's CPU counters, its data disk's counters, what
    could not be read) from one reading's text."""
    marks, files = files_of(text)
    problems: list[str] = []
    broker: dict[str, float] = {}
    pid = marks.get("pid", "")
    if not pid:
        problems.append("no broker process on its node (stopped, or not started)")
    else:
        try:
            broker.update(parse_pid_stat(files[f"/proc/{pid}/stat"]))
            broker.update(parse_pid_status(files.get(f"/proc/{pid}/status", "")))
            broker.update(parse_pid_io(files.get(f"/proc/{pid}/io", "")))
        except (KeyError, ValueError, IndexError) as exc:
            problems.append(f"its /proc files did not parse ({exc})")
        else:
            if marks.get("io") == "absent":
                problems.append(IO_ABSENT)
            elif "write_bytes" not in broker:  # read but empty of it, or refused on opening
                problems.append(IO_UNPARSED if f"/proc/{pid}/io" in files else IO_UNREADABLE)
        broker.update(_cgroup(files))
    node: dict[str, float] = {}
    cpu = files.get("/proc/stat", "")
    try:
        total = parse_proc_stat(cpu)
        node = {
            "host_busy_ticks": float(total.total - total.idle),
            "host_total_ticks": float(total.total),
        }
        if broker:  # the ceiling of a broker that was read, not a figure of its own
            allowed = _allowed_cores(files.get(f"/proc/{pid}/status", ""))
            broker["node_cores"] = float(
                allowed
                or sum(
                    1 for line in cpu.splitlines() if line.startswith("cpu") and line[3:4].isdigit()
                )
            )
    except ValueError:
        problems.append("the node's /proc/stat did not parse")
    disk: dict[str, float] = {}
    device = marks.get("dev", "").split()
    if len(device) == 2 and all(d.isdigit() for d in device):
        disk = parse_diskstats(files.get("/proc/diskstats", ""), int(device[0]), int(device[1]))
    if not disk:
        problems.append("its data directory's disk is not in the node's /proc/diskstats")
    return broker, node, disk, problems


class NodeBrokerMonitor(BrokerMonitor):
    """Brokers on other machines: one SSH command per broker node and second, and the
    exporter of each broker scraped from here. Sources are `broker-<i>`, and `host <name>`
    and `disk <name>` of each broker node."""

    def __init__(
        self,
        run: Callable[[str, str, float], str],
        brokers: Mapping[int, NodeBroker],
        metrics_urls: Mapping[int, str],
        metrics_off: str | None = None,
    ) -> None:
        super().__init__()
        self._run = run
        self._brokers = dict(brokers)
        self._pids: dict[int, int] = {}
        self._urls = dict(metrics_urls)
        self._metrics_off = metrics_off

    def read(self) -> dict[str, dict[str, float]]:
        """Every broker node at once: a node that hangs holds up no other's reading."""
        out: dict[str, dict[str, float]] = {}
        brokers = sorted(self._brokers.items())
        for part in on_each(brokers, lambda item: self._read_one(*item), limit=len(brokers)):
            out.update(part)
        return out

    def _read_one(self, node_id: int, broker: NodeBroker) -> dict[str, dict[str, float]]:
        """One broker's reading: its exporter, then its node's files."""
        source = f"broker-{node_id}"
        node_name = broker.host.rsplit("@", 1)[-1]
        counters = self.kafka_figures(source, self._urls.get(node_id), self._metrics_off)
        sent = time.time()
        try:
            text = self._run(
                broker.host, reading_script(broker, self._pids.get(node_id)), READ_TIMEOUT_S
            )
        except Exception as exc:  # whatever ssh says, the step goes on
            self.note(f"{source} node", f"{node_name} did not answer: {exc}")
            # Kafka's figures came over the network: they stand without the node's
            return {source: {**counters, STAMP: sent}} if counters else {}
        stamp = (sent + time.time()) / 2
        pid = files_of(text)[0].get("pid", "")
        if pid.isdigit():
            self._pids[node_id] = int(pid)
        else:
            self._pids.pop(node_id, None)
        process, node, disk, problems = parse_reading(text)
        for problem in problems:
            if problem in (IO_UNREADABLE, IO_ABSENT, IO_UNPARSED):
                where = f"{source} storage bytes"
            elif "broker process" in problem or "/proc files" in problem:
                where = source
            else:
                where = f"{source} node"
            self.note(where, f"{node_name}: {problem}")
        out: dict[str, dict[str, float]] = {}
        if process or counters:
            out[source] = {**counters, **process, STAMP: stamp}
        if node:
            out[f"host {node_name}"] = {**node, STAMP: stamp}
        if disk:
            out[f"disk {node_name}"] = {**disk, STAMP: stamp}
        return out
