"""What a run report holds besides its steps: where, what, when."""

from __future__ import annotations

import os
import platform
import socket
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_frida.version import __version__

SCHEMA_VERSION = 1


def machine_info() -> dict[str, Any]:
    try:
        with open("/proc/meminfo") as fh:
            mem_kib = int(next(line.split()[1] for line in fh if line.startswith("MemTotal")))
    except (OSError, StopIteration, ValueError):
        mem_kib = 0
    return {
        "hostname": socket.gethostname(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_mib": mem_kib // 1024,
        # what a machine class has: two VMs of one size differ by a few MiB
        "memory_gib": round(mem_kib / 1024 / 1024),
        "python": platform.python_version(),
    }


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


@dataclass
class RunInfo:
    run_id: str
    started_at: str
    site: str
    client: str
    kafka_version: str
    settings: dict[str, Any]
    finished_at: str | None = None
    status: str = "running"  # running | finished | interrupted
    machine: dict[str, Any] = field(default_factory=machine_info)
    cluster: dict[str, Any] = field(default_factory=dict)
    #: the clusters cluster shapes started, in the order started: the shape that first
    #: needed it (`shape`) and the same facts as `cluster`
    shape_clusters: list[dict[str, Any]] = field(default_factory=list)
    #: this host's speed probed before the cluster started and after it stopped, and the
    #: run's busy and stolen CPU shares (measure.host_speed); empty before a cluster
    host: dict[str, Any] = field(default_factory=dict)
    #: --frida-search runs: test, spec, how the search ended, counts tried in order
    searches: list[dict[str, Any]] = field(default_factory=list)
    #: the capacity limit per test, computed from the steps
    limits: list[dict[str, Any]] = field(default_factory=list)
    #: --frida-target: the target beside each shape's limit (report.sizing); empty without
    sizing: dict[str, Any] = field(default_factory=dict)
    #: git commit of the code under test, when run inside a git checkout
    commit: str | None = None
    plugin_version: str = __version__
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_info_from_dict(data: dict[str, Any]) -> RunInfo:
    from dataclasses import fields

    names = {f.name for f in fields(RunInfo)}
    return RunInfo(**{k: v for k, v in data.items() if k in names})
