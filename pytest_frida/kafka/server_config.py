"""KRaft server.properties for brokers that are also their own controllers.

A node gets Kafka's defaults except for what KRaft cannot start without (node id, roles,
listeners, quorum, data directory) and the replication of Kafka's internal topics, which a
cluster of fewer than three brokers cannot meet. Topic auto-creation, partition counts,
retention and group settings stay Kafka's own, so `frida_bootstrap` is a stock broker for
users' own clients. Every site (local, ssh, docker, the swarm stacks, the image's bundled
config) sets the same keys; README "Broker settings" lists them with their reasons, and
`--frida-broker-config` overrides any of them.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class NodeAddress:
    """Where one combined broker+controller node listens."""

    node_id: int
    host: str
    broker_port: int
    controller_port: int


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 chars).

    Like Kafka's own Uuid, never one that starts with '-': the storage tool's argument
    parser would take it for an option.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")
        if not cid.startswith("-"):
            return cid


def quorum_voters(nodes: Sequence[NodeAddress]) -> str:
    return ",".join(f"{n.node_id}@{n.host}:{n.controller_port}" for n in nodes)


def topic_replication(brokers: int) -> int:
    """The replication factor of the steps' topics: Kafka's usual three copies where the
    cluster has three brokers, one per broker on a smaller one."""
    return min(3, brokers)


def replication_settings(brokers: int) -> dict[str, str]:
    """Internal-topic replication a cluster of `brokers` can meet.

    Kafka's defaults (replication factor 3, min ISR 2) are kept from three brokers on; with
    fewer, the consumer-offsets, transaction-state and share-group-state topics would never
    be created (groups, transactions and share groups would wait forever) or never accept a
    write, so they shrink to the cluster. The values equal Kafka's defaults at 3+ brokers.
    """
    rf, isr = str(topic_replication(brokers)), str(min(2, brokers))
    return {
        "offsets.topic.replication.factor": rf,
        "transaction.state.log.replication.factor": rf,
        "transaction.state.log.min.isr": isr,
        "share.coordinator.state.topic.replication.factor": rf,
        "share.coordinator.state.topic.min.isr": isr,
    }


#: keys every KRaft node of ours sets (besides `replication_settings`), on every site
KRAFT_KEYS = (
    "process.roles",
    "node.id",
    "controller.quorum.voters",
    "listeners",
    "advertised.listeners",
    "controller.listener.names",
    "listener.security.protocol.map",
    "log.dirs",
)


def server_properties(
    node: NodeAddress,
    nodes: Sequence[NodeAddress],
    log_dir: Path,
    overrides: Mapping[str, str] | None = None,
) -> dict[str, str]:
    """Properties for `node` in a combined-mode cluster of `nodes`: the KRaft essentials,
    `replication_settings`, then `overrides` (`--frida-broker-config`) over both."""
    props = {
        "process.roles": "broker,controller",
        "node.id": str(node.node_id),
        "controller.quorum.voters": quorum_voters(nodes),
        "listeners": f"PLAINTEXT://{node.host}:{node.broker_port},"
        f"CONTROLLER://{node.host}:{node.controller_port}",
        "advertised.listeners": f"PLAINTEXT://{node.host}:{node.broker_port}",
        "controller.listener.names": "CONTROLLER",
        # CONTROLLER is no built-in listener name: say it is plaintext, as Kafka's own
        # config/server.properties does (the brokers talk to each other on PLAINTEXT,
        # Kafka's default inter-broker listener)
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "log.dirs": str(log_dir),
        **replication_settings(len(nodes)),
    }
    props.update(overrides or {})
    return props


def write_properties(path: Path, props: Mapping[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))


def log4j_config(log_file: Path, log4j2: bool) -> str:
    """A logging config that writes the broker's log to `log_file` (Log4j2 for Kafka 4+)."""
    if log4j2:
        return (
            "status = warn\n"
            "appender.file.type = File\n"
            "appender.file.name = FILE\n"
            f"appender.file.fileName = {log_file}\n"
            "appender.file.layout.type = PatternLayout\n"
            "appender.file.layout.pattern = [%d] %p %m (%c)%n\n"
            "rootLogger.level = INFO\n"
            "rootLogger.appenderRef.file.ref = FILE\n"
            "logger.kafka.name = kafka\nlogger.kafka.level = INFO\n"
            "logger.org.name = org.apache.kafka\nlogger.org.level = INFO\n"
        )
    return (
        "log4j.rootLogger=INFO, file\n"
        "log4j.appender.file=org.apache.log4j.FileAppender\n"
        f"log4j.appender.file.File={log_file}\n"
        "log4j.appender.file.layout=org.apache.log4j.PatternLayout\n"
        "log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n\n"
    )
