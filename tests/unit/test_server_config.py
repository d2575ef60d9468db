"""KRaft server.properties for combined broker+controller nodes."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from pytest_frida.kafka.server_config import (
    NodeAddress,
    log4j_config,
    new_cluster_id,
    quorum_voters,
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
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "share.coordinator.state.topic.replication.factor"):
        assert props[key] == "1"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["auto.create.topics.enable"] == "false"


@pytest.mark.parametrize(("n", "rf", "isr"), [(2, "2", "2"), (3, "3", "2"), (5, "3", "2")])
def test_multi_node(tmp_path, n, rf, isr):
    cluster = nodes(n)
    voters = ",".join(f"{i}@host{i}:{9093 + 10 * (i - 1)}" for i in range(1, n + 1))
    for node in cluster:
        props = server_properties(node, cluster, tmp_path)
        assert props["node.id"] == str(node.node_id)
        assert props["controller.quorum.voters"] == voters
        assert props["listeners"] == (f"PLAINTEXT://{node.host}:{node.broker_port},"
                                      f"CONTROLLER://{node.host}:{node.controller_port}")
        assert props["offsets.topic.replication.factor"] == rf
        assert props["transaction.state.log.replication.factor"] == rf
        assert props["share.coordinator.state.topic.replication.factor"] == rf
        assert props["transaction.state.log.min.isr"] == isr
    assert quorum_voters(cluster) == voters


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
