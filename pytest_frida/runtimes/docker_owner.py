"""Which Docker objects belong to which pytest, so a killed run's leftovers can be removed.

Every container, network and service a run creates carries `frida.run`, `frida.owner-host`
and `frida.owner-pid` labels. A pytest killed outright (SIGKILL) cannot clean up; the next
run on the same host removes objects whose owner process is gone. Objects of live runs,
of other hosts, or without labels are never touched.
"""

from __future__ import annotations

import os
import socket

from pytest_frida.runtimes.docker_cli import DockerCli
from pytest_frida.runtimes.process import process_alive

RUN_LABEL = "frida.run"
HOST_LABEL = "frida.owner-host"
PID_LABEL = "frida.owner-pid"


def owner_labels(run_id: str) -> dict[str, str]:
    return {RUN_LABEL: run_id, HOST_LABEL: socket.gethostname(), PID_LABEL: str(os.getpid())}


def label_args(labels: dict[str, str], flag: str = "--label") -> list[str]:
    out: list[str] = []
    for key, value in labels.items():
        out += [flag, f"{key}={value}"]
    return out


def owned_by_dead_run(labels: dict[str, str]) -> bool:
    """Labels of an object made by a pytest on this host whose process is gone."""
    if labels.get(HOST_LABEL) != socket.gethostname():
        return False
    try:
        return not process_alive(int(labels.get(PID_LABEL, "")))
    except ValueError:
        return False


def sweep_orphans(docker: DockerCli) -> list[str]:
    """Remove services, containers and networks whose owning pytest on this host is dead."""
    removed: list[str] = []
    for kind, listing in (
        ("service", ("service", "ls", "-q")),
        ("container", ("ps", "-aq")),
        ("network", ("network", "ls", "-q")),
    ):
        if kind == "service" and not swarm_manager(docker):
            continue
        ids = docker.lines(*listing, "--filter", f"label={RUN_LABEL}")
        for item in docker.inspect(kind, ids):
            spec = item.get("Spec") or {}
            labels = (
                spec.get("Labels")
                if kind == "service"
                else (item.get("Config") or {}).get("Labels")
                if kind == "container"
                else item.get("Labels")
            ) or {}
            if owned_by_dead_run(labels):
                rm = {
                    "service": ("service", "rm"),
                    "container": ("rm", "-f"),
                    "network": ("network", "rm"),
                }[kind]
                if docker.run(*rm, str(item["Id"]), check=False).returncode == 0:
                    removed.append(f"{kind} {spec.get('Name') or item.get('Name') or item['Id']}")
    return removed


def remove_run_objects(docker: DockerCli, run_id: str) -> list[str]:
    """Remove every container and network labelled with this run (the safety net after an
    orderly stop: an interrupt can land between the daemon creating a container and the
    caller learning its id)."""
    removed = []
    flt = f"label={RUN_LABEL}={run_id}"
    for cid in docker.lines("ps", "-aq", "--filter", flt):
        if docker.run("rm", "-f", cid, check=False).returncode == 0:
            removed.append(f"container {cid}")
    for nid in docker.lines("network", "ls", "-q", "--filter", flt):
        if docker.run("network", "rm", nid, check=False).returncode == 0:
            removed.append(f"network {nid}")
    return removed


def swarm_manager(docker: DockerCli) -> bool:
    out = docker.run("info", "--format", "{{.Swarm.ControlAvailable}}", check=False).stdout
    return out.strip() == "true"
