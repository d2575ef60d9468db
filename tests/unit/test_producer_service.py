"""The agent image's run mode (FRIDA_MODE=run): the configs its replicas give their agents."""

from __future__ import annotations

import pytest

from pytest_frida.workload.service import ServiceConfigError, agent_config


def test_producer_replica_names_the_topics_partitions() -> None:
    config = agent_config({"FRIDA_ROLE": "producer", "FRIDA_PARTITIONS": "6"})
    assert config["partitions"] == 6
    assert agent_config({"FRIDA_ROLE": "producer"})["partitions"] == 3


def test_consumer_replica_reads_every_partition() -> None:
    config = agent_config({"FRIDA_ROLE": "consumer", "FRIDA_PARTITIONS": "4"})
    assert config["partitions"] == [0, 1, 2, 3]
    assert (config["total_partitions"], config["consumer_index"], config["consumers"]) == (4, 0, 1)


def test_partitions_must_be_positive() -> None:
    with pytest.raises(ServiceConfigError, match="FRIDA_PARTITIONS must be at least 1"):
        agent_config({"FRIDA_ROLE": "producer", "FRIDA_PARTITIONS": "0"})


def test_a_replicas_agent_child_speaks_the_agent_protocol() -> None:
    """The run-mode replica's own pipe to its agent (the agent side imports nothing of the
    controller's handles): events come back in order, an agent's error is raised with its
    message, and a stopped child is gone."""
    from pytest_frida.workload.service import AgentChild

    clock = AgentChild({"role": "clock", "host": "here"})
    try:
        clock.wait_for("ready", 30)
        clock.send({"id": 7})
        assert clock.wait_for("pong", 30)["id"] == 7
    finally:
        clock.stop()
    assert clock.popen.poll() is not None
    broken = AgentChild({"role": "nonsense"})  # type: ignore[arg-type]  # a role on purpose unknown
    try:
        with pytest.raises(RuntimeError, match="the agent failed: ValueError: unknown agent role"):
            broken.wait_for("ready", 30)
    finally:
        broken.stop()
