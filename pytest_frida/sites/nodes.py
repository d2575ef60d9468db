"""What the multi-node sites (hosts:FILE, Grid'5000) share: roles of the nodes, how nodes
are reached, and the interface of a deployment on them.

A site finds nodes (a hosts file, an OAR reservation); a deployment runs things on them
(sites/node_runtimes.py chooses which).
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

from pytest_frida.runtimes.ssh import RemoteError, SshSettings
from pytest_frida.sites.base import Cluster


@dataclass(frozen=True)
class Roles:
    """Brokers first, one per node; the consumer on the first broker node, or on the next
    node when it has one of its own; the remaining nodes run producers."""

    brokers: list[str]
    producers: list[str]
    consumer: str

    @classmethod
    def assign(cls, hosts: list[str], brokers: int, consumer_node: bool = False) -> Roles:
        needed = brokers + int(consumer_node) + 1
        if len(hosts) < needed:
            raise RemoteError(
                f"{len(hosts)} host(s) for {brokers} broker(s)"
                f"{' and a consumer node' if consumer_node else ''}: at least {needed} are"
                f" needed (brokers, {'the consumer, ' if consumer_node else ''}then producer"
                " hosts)"
            )
        if consumer_node:
            return cls(hosts[:brokers], hosts[brokers + 1 :], hosts[brokers])
        return cls(hosts[:brokers], hosts[brokers:], hosts[0])

    def everyone(self) -> list[str]:
        return list(dict.fromkeys([*self.brokers, self.consumer, *self.producers]))

    def shared_nodes(self) -> frozenset[str]:
        """Broker nodes that run agents of the harness too (by their names)."""
        brokers = {host_name(h) for h in self.brokers}
        return frozenset(brokers & {host_name(h) for h in [self.consumer, *self.producers]})

    def as_dict(self) -> dict[str, object]:
        return {"brokers": self.brokers, "producers": self.producers, "consumer": self.consumer}


def node_order(name: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key that reads a name's numbers as numbers: uvb-9 before uvb-10, as OAR and
    Grid'5000's pages list nodes (a plain sort puts uvb-10 first, and roles go by order)."""
    parts = tuple(
        (0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part
    )
    return (*parts, (1, name))  # uvb-09 and uvb-9 apart, always in the same order


def host_name(host: str) -> str:
    """The machine's name in `user@host` (what clients and the report call it)."""
    return host.rsplit("@", 1)[-1]


@dataclass(frozen=True)
class NodeAccess:
    """How a site's nodes are reached and prepared."""

    ssh: SshSettings
    #: command that installs and starts Docker on a node without it (None: it must be there)
    docker_setup: str | None = None
    #: prefix of commands that need root on a node (`sudo-g5k` on Grid'5000; None: `sudo -n`
    #: unless the session is root)
    sudo: str | None = None


#: a site's way to add producer nodes while the run goes on: count -> the new hosts
GrowNodes = Callable[[int], list[str]]


class NodeDeployment(ABC):
    """Kafka and agents on a site's nodes, started and stopped with the run."""

    @abstractmethod
    def start(self, started: float) -> Cluster:
        """Deploy on the nodes; `started` is when the site began (for ready_seconds)."""

    @abstractmethod
    def stop(self) -> None:
        """Remove everything `start` made; safe after a failed start."""
