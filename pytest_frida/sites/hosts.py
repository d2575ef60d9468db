"""The `hosts:FILE` site: machines you already have, reached over SSH.

The file lists one host per line (blank lines and `#` comments ignored); the first
`--frida-brokers` hosts run the brokers and the consumer, the others run producers:

    # brokers first
    kafka-1.example.org
    load-1.example.org
    load-2.example.org
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from pytest_frida.config import ClusterSettings
from pytest_frida.runtimes.ssh import RemoteError, SshSettings
from pytest_frida.sites.base import Cluster, Site
from pytest_frida.sites.node_runtimes import deployment_for
from pytest_frida.sites.nodes import NodeAccess, NodeDeployment, Roles

_HOST = re.compile(r"^(?:[A-Za-z0-9_.-]+@)?[A-Za-z0-9][A-Za-z0-9.-]*$")


def read_hosts_file(path: Path) -> list[str]:
    """The hosts of a hosts file; RemoteError naming the line that is not a host."""
    hosts = []
    for number, raw in enumerate(path.read_text().splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not _HOST.match(line):
            raise RemoteError(
                f"{path}:{number}: {line!r} is not a host name (one host per"
                " line, optionally user@host)"
            )
        if line in hosts:
            raise RemoteError(f"{path}:{number}: host {line!r} is listed twice")
        hosts.append(line)
    if not hosts:
        raise RemoteError(f"{path}: no hosts listed")
    return hosts


class HostsSite(Site):
    name = "hosts"

    def __init__(self, settings: ClusterSettings, run_dir: Path, run_id: str) -> None:
        assert settings.hosts_file is not None
        self.settings = settings
        self.run_dir = run_dir
        self.run_id = run_id
        self.deployment: NodeDeployment | None = None

    def start(self) -> Cluster:
        started = time.monotonic()
        assert self.settings.hosts_file is not None
        hosts = read_hosts_file(self.settings.hosts_file)
        roles = Roles.assign(hosts, self.settings.brokers)
        # machines of one's own: Docker must be there already, and nothing is reserved
        access = NodeAccess(SshSettings.multiplexed(self.settings.ssh_config, self.run_id))
        self.deployment = deployment_for(
            self.settings, self.run_dir, self.run_id, access, roles, self.notify
        )
        return self.deployment.start(started)

    def stop(self) -> None:
        if self.deployment is not None:
            self.deployment.stop()
            self.deployment = None

    def plan_lines(self) -> list[str]:
        assert self.settings.hosts_file is not None
        try:
            hosts = read_hosts_file(self.settings.hosts_file)
            roles = Roles.assign(hosts, self.settings.brokers)
        except RemoteError as exc:
            return [f"would stop: {exc}"]
        return [
            f"site hosts:{self.settings.hosts_file}: nothing to reserve",
            f"brokers {', '.join(roles.brokers)}; consumer on {roles.consumer};"
            f" producers {', '.join(roles.producers)}",
            f"runtime {self.settings.runtime}",
        ]
