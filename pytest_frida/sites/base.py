"""What every site provides: a running Kafka cluster and agent launching on its hosts."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field

from pytest_frida.runtimes.agents import AgentLauncher
from pytest_frida.runtimes.monitor import BrokerMonitor


@dataclass(frozen=True)
class BrokerInfo:
    node_id: int
    host: str
    port: int


class BrokerFaults(ABC):
    """What a site can do to its brokers on purpose. `down` holds the nodes taken down
    deliberately, so a health check does not count them as failures."""

    def __init__(self) -> None:
        self.down: set[int] = set()

    def apply(self, action: str, broker: int, value: str | None = None) -> None:
        if action in ("delay", "loss"):
            self.netem(broker, f"{action} {value}")
        elif action == "heal":
            self.heal(broker)
        else:
            getattr(self, action)(broker)

    def netem(self, broker: int, spec: str) -> None:
        """Shape the broker's traffic with netem (`delay 100ms`, `loss 5%`)."""
        raise NotImplementedError(
            f"this site cannot shape a broker's network ({spec}): on"
            " local every broker shares loopback; use --frida-site=docker"
        )

    def heal(self, broker: int) -> None:
        raise NotImplementedError("this site cannot shape a broker's network")

    @abstractmethod
    def kill(self, broker: int) -> None: ...

    @abstractmethod
    def stop(self, broker: int) -> None: ...

    @abstractmethod
    def restart(self, broker: int) -> None: ...

    @abstractmethod
    def pause(self, broker: int) -> None: ...

    @abstractmethod
    def resume(self, broker: int) -> None: ...


@dataclass
class Cluster:
    """A running Kafka cluster as the workload and the report see it."""

    site: str
    bootstrap: str
    brokers: list[BrokerInfo]
    kafka_version: str
    #: where producer and consumer agents start
    launcher: AgentLauncher
    #: hosts that take part, for the report
    hosts: list[str] = field(default_factory=list)
    #: seconds from site start to metadata answering
    ready_seconds: float = 0.0
    details: dict[str, object] = field(default_factory=dict)
    #: None while every broker answers, else what is wrong (checked after each step)
    health: Callable[[], str | None] = lambda: None
    #: fault injection, where the site supports it
    faults: BrokerFaults | None = None
    #: reads the brokers' resources and Kafka metrics during steps, where the site can
    monitor: BrokerMonitor | None = None
    #: why there is no monitor, for the report
    monitor_note: str = "this site does not read its brokers' resources yet"
    #: --frida-broker-cores: the brokers run on this many cores of their own (None: they
    #: share the host's with the harness)
    broker_cores: int | None = None
    #: hosts and Grid'5000: broker nodes where agents of the harness run too
    shared_nodes: frozenset[str] = frozenset()


def _silent(line: str) -> None:
    pass


class Site(ABC):
    """Provision a cluster for the session and release everything afterwards."""

    name: str
    #: where to say what long work is doing (set by the session; silent by default)
    notify: Callable[[str], None] = staticmethod(_silent)

    @abstractmethod
    def start(self) -> Cluster:
        """Start (or find) the cluster; raise with a clear message when it cannot."""

    @abstractmethod
    def stop(self) -> None:
        """Stop everything `start` created; safe to call twice and after a failed start."""

    def plan_lines(self) -> list[str]:
        """What `start` would reserve and start, said without doing it (--frida-plan)."""
        return [
            f"site {self.name}: nothing to reserve; the brokers start with the first"
            " test that needs them"
        ]
