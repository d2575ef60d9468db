"""KRaft server.properties for combined broker+controller nodes."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from pytest_frida.kafka.server_config import (
    KRAFT_KEYS,
    NodeAddress,
    log4j_config,
    new_cluster_id,
    quorum_voters,
    replication_settings,
    server_properties,
    write_properties,
)


def nodes(n: int) -> list[NodeAddress]:
    return [NodeAddress(i + 1, f"host{i + 1}", 9092 + 10 * i, 9093 + 10 * i) for i in range(n)]


def test_single_node(tmp_path):
    (node,) = nodes(1)
    props = server_properties(node, [node], tmp_path / "data")
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["controller.quorum.voters"] == "1@host1:9093"
    assert props["listeners"] == "PLAINTEXT://host1:9092,CONTROLLER://host1:9093"
    assert props["advertised.listeners"] == "PLAINTEXT://host1:9092"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "data")
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "share.coordinator.state.topic.replication.factor",
    ):
        assert props[key] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["share.coordinator.state.topic.min.isr"] == "1"


@pytest.mark.parametrize(("n", "rf", "isr"), [(2, "2", "2"), (3, "3", "2"), (5, "3", "2")])
def test_multi_node(tmp_path, n, rf, isr):
    cluster = nodes(n)
    voters = ",".join(f"{i}@host{i}:{9093 + 10 * (i - 1)}" for i in range(1, n + 1))
    for node in cluster:
        props = server_properties(node, cluster, tmp_path)
        assert props["node.id"] == str(node.node_id)
        assert props["controller.quorum.voters"] == voters
        assert props["listeners"] == (
            f"PLAINTEXT://{node.host}:{node.broker_port},"
            f"CONTROLLER://{node.host}:{node.controller_port}"
        )
        assert props["offsets.topic.replication.factor"] == rf
        assert props["transaction.state.log.replication.factor"] == rf
        assert props["share.coordinator.state.topic.replication.factor"] == rf
        assert props["transaction.state.log.min.isr"] == isr
    assert quorum_voters(cluster) == voters


#: Kafka's defaults for the internal-topic settings we shrink on small clusters
KAFKA_DEFAULTS = {
    "offsets.topic.replication.factor": "3",
    "transaction.state.log.replication.factor": "3",
    "transaction.state.log.min.isr": "2",
    "share.coordinator.state.topic.replication.factor": "3",
    "share.coordinator.state.topic.min.isr": "2",
}


@pytest.mark.parametrize("n", [1, 2, 3, 5])
def test_only_kraft_essentials_and_internal_replication_are_set(tmp_path, n):
    """Kafka's defaults for everything else: no auto.create.topics.enable=false, no
    partition count, no group delay; users' own clients get a stock broker."""
    cluster = nodes(n)
    for node in cluster:
        props = server_properties(node, cluster, tmp_path)
        assert set(props) == {*KRAFT_KEYS, *replication_settings(n)}
        for key in KRAFT_KEYS:
            assert props[key], key
        assert "auto.create.topics.enable" not in props
        assert "num.partitions" not in props
        assert "group.initial.rebalance.delay.ms" not in props


def test_replication_settings_are_kafkas_defaults_from_three_brokers():
    assert replication_settings(3) == replication_settings(7) == KAFKA_DEFAULTS
    assert set(replication_settings(1)) == set(KAFKA_DEFAULTS)
    assert set(replication_settings(1).values()) == {"1"}
    assert replication_settings(2) == {k: "2" for k in KAFKA_DEFAULTS}


def test_broker_config_overrides_ours_and_kafkas(tmp_path):
    (node,) = nodes(1)
    props = server_properties(
        node,
        [node],
        tmp_path,
        {
            "auto.create.topics.enable": "false",
            "offsets.topic.replication.factor": "1",
            "log.dirs": "/elsewhere",
        },
    )
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.dirs"] == "/elsewhere"


def test_overrides_win(tmp_path):
    (node,) = nodes(1)
    props = server_properties(node, [node], tmp_path, {"num.partitions": "8", "extra.key": "x"})
    assert props["num.partitions"] == "8"
    assert props["extra.key"] == "x"


def test_new_cluster_id():
    ids = {new_cluster_id() for _ in range(50)}
    assert len(ids) == 50
    for cid in ids:
        assert len(cid) == 22
        assert re.fullmatch(r"[A-Za-z0-9_-]{22}", cid)
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_write_properties(tmp_path):
    path = tmp_path / "nested" / "dir" / "server.properties"
    (node,) = nodes(1)
    props = server_properties(node, [node], tmp_path / "data")
    write_properties(path, props)
    text = path.read_text()
    assert text.endswith("\n")
    lines = text.splitlines()
    assert len(lines) == len(props)
    parsed = dict(line.split("=", 1) for line in lines)
    assert parsed == props
    assert lines[0] == "process.roles=broker,controller"


@pytest.mark.parametrize("log4j2", [True, False])
def test_log4j_config_names_the_log_file(log4j2):
    text = log4j_config(Path("/var/log/kafka/server.log"), log4j2)
    assert "/var/log/kafka/server.log" in text
    assert ("appender.file.fileName" in text) is log4j2
    assert ("log4j.rootLogger" in text) is not log4j2
