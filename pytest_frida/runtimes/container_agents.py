"""Agents inside the replicas of a swarm stack's producer and consumer services.

Replicas of the agent image idle in standby; an agent is `docker exec -i <container> python
-m pytest_frida.workload.agent` in one of them, so the controller keeps the same JSON-lines
pipes as with local agents. Producers are split over replicas `producers_per_replica` at a
time, and the producer service is scaled to that many replicas before each step. When the
replicas run on other machines than the controller (a swarm formed on reserved nodes), each
node's clock is measured by a clock agent in a replica on that node, the way its producers
see it.
"""

from __future__ import annotations

import math
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from pytest_frida.runtimes.agents import AgentHandle, AgentLauncher, shards
from pytest_frida.runtimes.docker_cli import DockerCli
from pytest_frida.runtimes.process import ManagedProcess
from pytest_frida.runtimes.swarm_stack import StackDeployment, Task
from pytest_frida.workload.protocol import AgentConfig

AGENT_COMMAND = ("python", "-m", "pytest_frida.workload.agent")


class SwarmAgentLauncher(AgentLauncher):
    """Producer agents in `producer` replicas, the consumer agent in the `consumer` replica."""

    def __init__(
        self,
        stack: StackDeployment,
        docker_for_node: Callable[[str], DockerCli],
        node_name: Callable[[str], str],
        producers_per_replica: int,
        internal_bootstrap: str,
        log_dir: Path,
        progress: Callable[[str], None] | None = None,
        remote_clocks: bool = False,
        make_room: Callable[[int], str | None] | None = None,
    ) -> None:
        """`make_room(replicas)` is called before scaling, so a site can add nodes first; it
        returns a note for the step (or None when nothing was needed)."""
        self.stack = stack
        self.docker_for_node = docker_for_node
        self.node_name = node_name
        self.producers_per_replica = producers_per_replica
        self.internal_bootstrap = internal_bootstrap
        self.log_dir = log_dir
        self.progress = progress
        self.remote_clocks = remote_clocks
        self.make_room = make_room
        self._producer_tasks: list[Task] = []

    def plan_producers(self, producers: int, workers: int) -> list[tuple[int, int]]:
        replicas = math.ceil(producers / self.producers_per_replica)
        notes = []
        if self.make_room is not None:
            grown = self.make_room(replicas)
            if grown:
                notes.append(grown)
        started = time.monotonic()
        self._producer_tasks = self.stack.scale("producer", replicas, progress=self.progress)
        placed = sorted({self.node_name(t.node_id) for t in self._producer_tasks})
        notes.append(
            f"producer service scaled to {replicas} replica(s) of at most"
            f" {self.producers_per_replica} producers in"
            f" {time.monotonic() - started:.1f}s, on {', '.join(placed)}"
        )
        self.placement_note = "; ".join(notes)
        return shards(producers, replicas)

    def host_of(self, role: str, slot: int = 0) -> str:
        return self.node_name(self._task(role, slot).node_id)

    def _task(self, role: str, slot: int) -> Task:
        if role == "producer":
            if not 0 <= slot < len(self._producer_tasks):
                raise ValueError(
                    f"no producer replica for agent slot {slot}"
                    f" ({len(self._producer_tasks)} running)"
                )
            return self._producer_tasks[slot]
        consumers = self.stack.tasks("consumer")
        if not consumers:
            raise RuntimeError(f"service {self.stack.service('consumer')} has no running replica")
        return consumers[0]

    def _task_on(self, host: str) -> Task:
        """A replica on `host` to run a clock agent in: a producer there, or the consumer."""
        for task in [*self._producer_tasks, *self.stack.tasks("consumer")]:
            if self.node_name(task.node_id) == host:
                return task
        raise RuntimeError(f"no replica of stack {self.stack.name} runs on {host}")

    def launch(self, name: str, config: AgentConfig, slot: int = 0) -> AgentHandle:
        if config["role"] == "clock":
            task = self._task_on(config["host"])
        else:
            task = self._task(config["role"], slot)
            config = config.copy()  # the replicas reach the brokers by their names inside
            config["bootstrap"] = self.internal_bootstrap
        docker = self.docker_for_node(task.node_id)
        proc = ManagedProcess(
            name,
            docker.argv("exec", "-i", task.container_id, *AGENT_COMMAND, long_lived=True),
            log_path=self.log_dir / f"{name}.log",
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        handle = AgentHandle(name, proc, host=self.node_name(task.node_id))
        handle.send(config)
        return handle

    def hosts(self) -> list[str]:
        return sorted({self.node_name(t.node_id) for t in self._producer_tasks})
