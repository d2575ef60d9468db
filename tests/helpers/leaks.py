"""Finding what a run may leave behind: broker JVMs, agents, broker data dirs."""

from __future__ import annotations

import os
from pathlib import Path


def _pids_running(*needles: bytes) -> set[int]:
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            status = (entry / "status").read_text()
        except OSError:
            continue
        if "State:\tZ" in status:
            continue
        if any(needle in cmdline for needle in needles):
            pids.add(int(entry.name))
    return pids


def kafka_pids() -> set[int]:
    """PIDs of running Kafka server JVMs and workload agents on this machine."""
    return _pids_running(b"kafka.Kafka", b"pytest_frida.workload.agent")


def agent_pids() -> set[int]:
    """PIDs of running workload agents (local ones, and `docker exec` into replicas)."""
    return _pids_running(b"pytest_frida.workload.agent")


def frida_temp_dirs() -> set[str]:
    """Broker data dirs, stack files copied to a swarm manager node, shared ssh
    connections."""
    tmp = Path(os.environ.get("TMPDIR", "/tmp"))
    return {
        p.name
        for pattern in ("frida-kafka-*", "frida-stack-*", "frida-ssh-*")
        for p in tmp.glob(pattern)
    }
