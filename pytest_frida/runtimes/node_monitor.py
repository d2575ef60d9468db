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
from pytest_frida.runtimes.monitor import BrokerMonitor, scrape

#: a node that does not answer within this is skipped for that second
READ_TIMEOUT_S = 2.0

# the container's cgroup, v1 (cpuacct and memory controllers) or v2 (one tree)
_CGROUP = r"""
cg=$(awk -F: '$1=="0"{print $3}' /proc/$p/cgroup)
ca=$(awk -F: '$2~/(^|,)cpuacct(,|$)/{print $3}' /proc/$p/cgroup)
mem=$(awk -F: '$2=="memory"{print $3}' /proc/$p/cgroup)
if [ -n "$ca" ]; then
  echo @cgcpu1; cat /sys/fs/cgroup/cpuacct$ca/cpuacct.usage 2>/dev/null \
    || cat /sys/fs/cgroup/cpu,cpuacct$ca/cpuacct.usage
else
  echo @cgcpu2; cat /sys/fs/cgroup$cg/cpu.stat
fi
if [ -n "$mem" ]; then echo @cgmem; cat /sys/fs/cgroup/memory$mem/memory.usage_in_bytes
else echo @cgmem; cat /sys/fs/cgroup$cg/memory.current; fi
"""


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
    """The command that prints one reading of `broker`, in @-headed sections. With the pid
    the last reading found, `find_pid` runs again only when that process is gone (finding
    a container's costs a Docker call)."""
    process = ("echo @stat; cat /proc/$p/stat; echo @status; cat /proc/$p/status;"
               " echo @io; cat /proc/$p/io 2>/dev/null")
    find = f"p=$({broker.find_pid} 2>/dev/null | head -n 1)"
    return "\n".join([
        f"p={known_pid}; [ -d /proc/$p ] || {{ {find}; }}" if known_pid else find,
        'echo "@pid ${p:-}"',
        f'if [ -n "$p" ]; then\n{process}\n{_CGROUP if broker.container else ""}\nfi',
        "echo @cpu; grep '^cpu' /proc/stat",
        f"echo @dev; stat -c '%Hd %Ld' {broker.data_dir} 2>/dev/null",
        "echo @diskstats; cat /proc/diskstats",
    ])


def sections(text: str) -> dict[str, str]:
    """@-headed sections of a reading: header word -> the lines under it (a header's own
    words after the first are kept as its first line)."""
    out: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith("@"):
            name, _, rest = line[1:].partition(" ")
            current = out.setdefault(name, [])
            if rest:
                current.append(rest)
        elif current is not None:
            current.append(line)
    return {name: "\n".join(lines) for name, lines in out.items()}


def parse_reading(text: str) -> tuple[dict[str, float], dict[str, float], dict[str, float],
                                      list[str]]:
    """(the broker's counters, the node's CPU counters, its data disk's counters, what
    could not be read) from one reading's text."""
    parts = sections(text)
    problems: list[str] = []
    broker: dict[str, float] = {}
    if not parts.get("pid", "").strip():
        problems.append("no broker process on its node (stopped, or not started)")
    else:
        try:
            broker.update(parse_pid_stat(parts["stat"]))
            broker.update(parse_pid_status(parts.get("status", "")))
            broker.update(parse_pid_io(parts.get("io", "")))
        except (KeyError, ValueError, IndexError) as exc:
            problems.append(f"its /proc files did not parse ({exc})")
        for name, version in (("cgcpu1", 1), ("cgcpu2", 2)):
            if parts.get(name, "").strip():
                broker.update(parse_cgroup_cpu(parts[name], version))
        if parts.get("cgmem", "").strip():
            broker.update(parse_cgroup_memory(parts["cgmem"]))
    node: dict[str, float] = {}
    cpu = parts.get("cpu", "")
    try:
        total = parse_proc_stat(cpu)
        node = {"host_busy_ticks": float(total.total - total.idle),
                "host_total_ticks": float(total.total)}
        cores = sum(1 for line in cpu.splitlines() if line[3:4].isdigit())
        broker["node_cores"] = float(cores)
    except ValueError:
        problems.append("the node's /proc/stat did not parse")
    disk: dict[str, float] = {}
    device = parts.get("dev", "").split()
    if len(device) == 2 and all(d.isdigit() for d in device):
        disk = parse_diskstats(parts.get("diskstats", ""), int(device[0]), int(device[1]))
    if not disk:
        problems.append("its data directory's disk is not in the node's /proc/diskstats")
    return broker, node, disk, problems


class NodeBrokerMonitor(BrokerMonitor):
    """Brokers on other machines: one SSH command per broker node and second, and the
    exporter of each broker scraped from here. Sources are `broker-<i>`, and `host <name>`
    and `disk <name>` of each broker node."""

    def __init__(self, run: Callable[[str, str, float], str],
                 brokers: Mapping[int, NodeBroker], metrics_urls: Mapping[int, str],
                 metrics_off: str | None = None) -> None:
        super().__init__()
        self._run = run
        self._brokers = dict(brokers)
        self._pids: dict[int, int] = {}
        self._urls = dict(metrics_urls)
        self._metrics_off = metrics_off

    def read(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for node_id, broker in sorted(self._brokers.items()):
            source = f"broker-{node_id}"
            counters = self._scrape(node_id, source)
            sent = time.time()
            try:
                text = self._run(broker.host,
                                 reading_script(broker, self._pids.get(node_id)),
                                 READ_TIMEOUT_S)
            except Exception as exc:  # whatever ssh says, the step goes on
                self.note(source, f"its node {broker.host} did not answer: {exc}")
                continue
            stamp = (sent + time.time()) / 2
            pid = sections(text).get("pid", "").strip()
            if pid.isdigit():
                self._pids[node_id] = int(pid)
            else:
                self._pids.pop(node_id, None)
            process, node, disk, problems = parse_reading(text)
            for problem in problems:
                self.note(source if "broker process" in problem or "/proc files" in problem
                          else f"{source} node", f"{broker.host}: {problem}")
            if process:
                out[source] = {**counters, **process, STAMP: stamp}
            if node:
                out[f"host {broker.host}"] = {**node, STAMP: stamp}
            if disk:
                out[f"disk {broker.host}"] = {**disk, STAMP: stamp}
        return out

    def _scrape(self, node_id: int, source: str) -> dict[str, float]:
        url = self._urls.get(node_id)
        if url is None:
            self.note(f"{source} Kafka metrics", self._metrics_off or "no exporter")
            return {}
        try:
            return scrape(url)
        except (OSError, ValueError) as exc:
            self.note(f"{source} Kafka metrics", f"the exporter at {url} did not answer: {exc}")
            return {}
