"""Reading a cluster's resource counters where its brokers run.

A monitor answers one question once a second: the cumulative counters of every source it
can read right now (each broker's process and its Kafka metrics, the disk that holds the
brokers' data, the host's CPU). What it cannot read it says in `problems`, one line per
source and reason, so the report can say which figures are missing and why rather than
print a zero.
"""

from __future__ import annotations

import contextlib
import time
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from pytest_frida.measure.broker_metrics import parse_scrape
from pytest_frida.measure.host_speed import parse_proc_stat
from pytest_frida.measure.proc import (
    device_of,
    read_cgroup,
    read_disk,
    read_kernel_threads,
    read_process,
)
from pytest_frida.measure.sampler import STAMP

#: a scrape slower than this is dropped (the sampler's next one comes a second later)
SCRAPE_TIMEOUT_S = 0.8


class BrokerMonitor(ABC):
    """Counters of a cluster's brokers and the hosts they run on."""

    def __init__(self) -> None:
        #: source -> the first reason it could not be read, and when it could not
        self._problems: dict[str, tuple[str, list[float]]] = {}

    @abstractmethod
    def read(self) -> dict[str, dict[str, float]]:
        """source name -> counters (measure.resources keys) of every source read now."""

    def note(self, source: str, why: str) -> None:
        """Keep the first reason a source could not be read (later ones repeat it), and
        every time it could not."""
        self._problems.setdefault(source, (why, []))[1].append(time.time())

    def take_problems(self, window: tuple[float, float] | None = None) -> dict[str, str]:
        """What could not be read since the last call, by source; with a `window`, only
        what failed inside it (a scrape that timed out in the warm-up costs no figure of
        the measured seconds)."""
        problems, self._problems = self._problems, {}
        return {
            source: why
            for source, (why, times) in problems.items()
            if window is None or any(window[0] <= t <= window[1] for t in times)
        }

    def kafka_figures(
        self, source: str, url: str | None, metrics_off: str | None
    ) -> dict[str, float]:
        """Broker `source`'s Kafka figures from its exporter at `url`, or none (and why,
        in problems: `metrics_off` says why there is no exporter)."""
        if url is None:
            self.note(f"{source} Kafka metrics", metrics_off or "no exporter")
            return {}
        try:
            counters = scrape(url)
        except (OSError, ValueError, urllib.error.URLError) as exc:
            self.note(f"{source} Kafka metrics", f"the exporter at {url} did not answer: {exc}")
            return {}
        if "handler_idle_ns" not in counters:
            self.note(
                f"{source} request handlers",
                "this Kafka has no per-pool idle meter"
                " (BrokerRequestHandlerAvgIdlePercent, Kafka 4.2 and later); its"
                " aggregate mixes the controller's pool in a combined node",
            )
        return counters


def scrape(url: str) -> dict[str, float]:
    """One scrape of a JMX exporter; raises OSError when it does not answer in time."""
    with urllib.request.urlopen(url, timeout=SCRAPE_TIMEOUT_S) as response:
        return parse_scrape(response.read().decode("utf-8", "replace"))


def read_container(pid: int) -> dict[str, float]:
    """A container's counters from its main process `pid` (as this host numbers it): its
    cgroup's CPU (every process of the container) and memory, the process's storage bytes
    and resident set."""
    counters = read_process(pid)
    counters.update(read_cgroup(pid))
    return counters


def holds(pid: int, container_id: str) -> bool:
    """Whether this machine's process `pid` runs in the container: its cgroup path names the
    container's id. A daemon in a VM (Docker Desktop, colima) numbers processes in its own
    kernel, and its pids are not ours."""
    try:
        return (
            pid > 0
            and bool(container_id)
            and (container_id in Path(f"/proc/{pid}/cgroup").read_text())
        )
    except OSError:
        return False


class ContainerPids:
    """Each broker's main process as this host numbers it, found through its container:
    `find` gives broker -> container id, `pid_of` container id -> pid. Both are asked again
    only when the process found last is gone (a restart, a new swarm task), so a reading
    costs no Docker call."""

    def __init__(self, find: Callable[[int], str | None], pid_of: Callable[[str], int]) -> None:
        self._find = find
        self._pid_of = pid_of
        self._cache: dict[int, tuple[int, str]] = {}

    def __call__(self, brokers: Iterable[int]) -> dict[int, int | None]:
        out: dict[int, int | None] = {}
        for broker in brokers:
            cached = self._cache.get(broker)
            if cached is None or not holds(*cached):
                cid, pid = "", 0
                with contextlib.suppress(Exception):  # gone between the calls: not running
                    cid = self._find(broker) or ""
                    pid = self._pid_of(cid) if cid else 0
                cached = self._cache[broker] = (pid if holds(pid, cid) else 0, cid)
            out[broker] = cached[0] or None
        return out


class LocalBrokerMonitor(BrokerMonitor):
    """Brokers that run on this host, as processes or in containers of a local Docker
    daemon: their counters through `read_broker` (/proc/<pid>, or the container's cgroup),
    the exporter on loopback, the disk of their data directory and the host's /proc/stat."""

    def __init__(
        self,
        pids: Callable[[], Mapping[int, int | None]],
        metrics_urls: Mapping[int, str],
        data_dir: Path | None,
        metrics_off: str | None = None,
        read_broker: Callable[[int], dict[str, float]] = read_process,
        core_groups: Mapping[str, tuple[int, ...]] | None = None,
    ) -> None:
        """`core_groups`: named sets of cores whose busy time is read apart (with
        --frida-broker-cores, `broker_cores` and `harness_cores`)."""
        super().__init__()
        self._core_groups = dict(core_groups or {})
        self._pids = pids
        self._read_broker = read_broker
        self._urls = dict(metrics_urls)
        self._metrics_off = metrics_off
        self._device = device_of(data_dir) if data_dir is not None else None
        self._data_dir = data_dir

    def read(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for node_id, pid in sorted(self._pids().items()):
            source = f"broker-{node_id}"
            if pid is None:
                self.note(source, "not running (stopped on purpose or dead)")
                continue
            counters = self.kafka_figures(source, self._urls.get(node_id), self._metrics_off)
            try:  # after the scrape, so the time stamped below is the process's own
                counters.update(self._read_broker(pid))
            except (OSError, ValueError, IndexError) as exc:
                self.note(source, f"its process {pid} could not be read: {exc}")
                continue
            if "write_bytes" not in counters:
                self.note(f"{source} storage bytes", "/proc/<pid>/io not readable here")
            counters[STAMP] = time.time()
            out[source] = counters
        if self._device is None:
            self.note(
                "disk",
                f"the data directory {self._data_dir} is on no block device"
                " this machine lists (tmpfs, or a Docker root elsewhere): no disk to"
                " measure",
            )
        else:
            disk = read_disk(self._device)
            if disk:
                out["disk"] = {**disk, STAMP: time.time()}
            else:
                self.note(
                    "disk", f"device {self._device[0]}:{self._device[1]} is not in /proc/diskstats"
                )
        out.update(self._host())
        return out

    def _host(self) -> dict[str, dict[str, float]]:
        """The host's CPU ticks from one read of /proc/stat, each core group's, and the
        CPU its kernel threads used (measure.outside keeps those apart from other work)."""
        try:
            text = Path("/proc/stat").read_text(encoding="ascii")
            counters: dict[str, float] = {}
            for name, cores in {"host": None, **self._core_groups}.items():
                times = parse_proc_stat(text, cores)
                counters[f"{name}_busy_ticks"] = float(times.total - times.idle)
                counters[f"{name}_total_ticks"] = float(times.total)
        except (OSError, ValueError) as exc:
            self.note("host", f"/proc/stat could not be read: {exc}")
            return {}
        try:
            counters.update(read_kernel_threads())
        except OSError as exc:
            self.note("host kernel threads", f"/proc could not be listed: {exc}")
        counters[STAMP] = time.time()
        return {"host": counters}
