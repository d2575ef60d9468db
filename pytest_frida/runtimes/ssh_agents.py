"""Agents on other hosts: `ssh host python -m pytest_frida.workload.agent`.

Producers are split over the producer hosts (`workers` agents per host), the consumer runs
on its own host, and a clock agent can be started on any host so the step can measure that
host's clock against the controller's. The nodes run the same Python and the same package
as the controller (a shared home, as on Grid'5000, or the same installation everywhere).
"""

from __future__ import annotations

import sys
from pathlib import Path

from pytest_frida.runtimes.agents import AgentHandle, AgentLauncher, shards
from pytest_frida.runtimes.ssh import SshSettings, remote_process, shell
from pytest_frida.workload.protocol import AgentConfig


class SshAgentLauncher(AgentLauncher):
    remote_clocks = True

    def __init__(
        self,
        ssh: SshSettings,
        producer_hosts: list[str],
        consumer_host: str,
        log_dir: Path,
        python: str = sys.executable,
    ) -> None:
        if not producer_hosts:
            raise ValueError("no producer hosts")
        self.ssh = ssh
        self.producer_hosts = producer_hosts
        self.consumer_host = consumer_host
        self.log_dir = log_dir
        self.python = python
        self._slots: list[str] = list(producer_hosts)

    def plan_producers(self, producers: int, workers: int) -> list[tuple[int, int]]:
        """`workers` agents per producer host, hosts taking turns so a small step still
        spreads over every host."""
        split = shards(producers, workers * len(self.producer_hosts))
        self._slots = [self.producer_hosts[i % len(self.producer_hosts)] for i in range(len(split))]
        self.placement_note = (
            f"producers on {len(set(self._slots))} host(s): {', '.join(sorted(set(self._slots)))}"
        )
        return split

    def host_of(self, role: str, slot: int = 0) -> str:
        if role == "producer":
            return self._slots[slot]
        return self.consumer_host

    def launch(self, name: str, config: AgentConfig, slot: int = 0) -> AgentHandle:
        host = config["host"] if config["role"] == "clock" else self.host_of(config["role"], slot)
        # no `cd` to the controller's directory: a frontend's /tmp or a local checkout is
        # not on the nodes, and the package is found as the node check found it
        command = shell([self.python, "-m", "pytest_frida.workload.agent"])
        proc = remote_process(
            name, self.ssh, host, command, log_path=self.log_dir / f"{name}.log", agent=True
        )
        handle = AgentHandle(name, proc, host=host)
        handle.send(config)
        return handle

    def hosts(self) -> list[str]:
        return sorted({*self.producer_hosts, self.consumer_host})
