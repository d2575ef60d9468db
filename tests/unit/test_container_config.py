"""What the docker and swarm sites hand to Docker: env names, stack files, targets."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.images.transfer import docker_target
from pytest_frida.runtimes.kafka_container import property_env
from pytest_frida.sites.swarm import override_file
from pytest_frida.stacks import stacks_dir
from pytest_frida.workload.service import ServiceConfigError, agent_config

needs_docker_cli = pytest.mark.skipif(shutil.which("docker") is None,
                                      reason="the docker command is not installed")


def _env_to_property(name: str) -> str:
    """apache/kafka's own rule, as its start script applies it (the inverse we must meet)."""
    return (name.removeprefix("KAFKA_").lower().replace("___", "-").replace("__", "\x01")
            .replace("_", ".").replace("\x01", "_"))


@pytest.mark.parametrize(("prop", "env"), [
    ("node.id", "KAFKA_NODE_ID"),
    ("listener.security.protocol.map", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"),
    ("log.flush.interval.messages", "KAFKA_LOG_FLUSH_INTERVAL_MESSAGES"),
    ("confluent.some_prop", "KAFKA_CONFLUENT_SOME__PROP"),
    ("a-b.c", "KAFKA_A___B_C"),
])
def test_property_env_examples(prop: str, env: str) -> None:
    assert property_env(prop) == env


@given(st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=6), min_size=1,
                max_size=4).map(".".join))
def test_property_env_round_trips_through_the_image_rule(prop: str) -> None:
    assert _env_to_property(property_env(prop)) == prop


def test_kafka_image_run_script_applies_the_same_rule(tmp_path: Path) -> None:
    """The start script of our Kafka image turns KAFKA_* into the properties we meant."""
    script = (stacks_dir() / "images" / "kafka" / "run").read_text()
    head = script.split("CP='/opt/kafka/libs/*'")[0].replace("/tmp/server.properties",
                                                             str(tmp_path / "p"))
    env = {property_env("log.flush.interval.messages"): "1",
           property_env("advertised.listeners"): "INTERNAL://k:9092,EXTERNAL://h:1=2",
           "KAFKA_HEAP_OPTS": "-Xmx1G", "PATH": "/usr/bin:/bin"}
    subprocess.run(["sh", "-c", head], env=env, check=True)
    lines = sorted((tmp_path / "p").read_text().splitlines())
    assert lines == ["advertised.listeners=INTERNAL://k:9092,EXTERNAL://h:1=2",
                     "log.dirs=/var/lib/kafka/data", "log.flush.interval.messages=1"]


def test_docker_targets() -> None:
    assert docker_target("uvb-1.sophia.grid5000.fr") == "ssh://root@uvb-1.sophia.grid5000.fr"
    assert docker_target("alice@node") == "ssh://alice@node"
    assert docker_target("unix:///tmp/d.sock") == "unix:///tmp/d.sock"
    with pytest.raises(ValueError, match="not a host name"):
        docker_target("two words")


def test_service_config_from_environment() -> None:
    config = agent_config({"FRIDA_ROLE": "producer", "FRIDA_PRODUCERS": "3",
                           "FRIDA_SLOT": "2", "FRIDA_RATE": "20"})
    assert (config["first_producer"], config["producer_count"]) == (3, 3)
    assert config["rate"] == 20.0 and config["client"] == "confluent-kafka"


@pytest.mark.parametrize(("env", "message"), [
    ({}, "FRIDA_ROLE is not set"),
    ({"FRIDA_ROLE": "broker"}, "FRIDA_ROLE='broker': expected producer or consumer"),
    ({"FRIDA_ROLE": "producer", "FRIDA_RATE": "fast"}, "FRIDA_RATE='fast' is not a float"),
    ({"FRIDA_ROLE": "producer", "FRIDA_SLOT": "0"}, "must be at least 1"),
    ({"FRIDA_ROLE": "consumer", "FRIDA_CLIENT": "confluent"},
     "FRIDA_CLIENT='confluent': expected one of confluent-kafka, kafka-python"),
    ({"FRIDA_ROLE": "consumer", "FRIDA_DURATION": "-1"}, "must not be negative"),
])
def test_service_config_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ServiceConfigError, match=message.replace("(", r"\(")):
        agent_config(env)


def _stack_config(*files: Path, env: dict[str, str] | None = None) -> dict[str, object]:
    import os

    done = subprocess.run(["docker", "stack", "config", *[a for f in files
                                                          for a in ("-c", str(f))]],
                          capture_output=True, text=True, check=True,
                          env={**os.environ, **(env or {})})
    import yaml

    return dict(yaml.safe_load(done.stdout))


@needs_docker_cli
def test_stack_files_merge_with_the_run_override(tmp_path: Path) -> None:
    root = stacks_dir()
    override = override_file(tmp_path / "o.yml", 3, {"frida.run": "r1"},
                             {"KAFKA_NUM_IO_THREADS": "2"})
    doc = _stack_config(root / "kafka.yml", root / "kafka-3.yml", root / "load.yml", override,
                        env={"FRIDA_KAFKA_PORT_2": "40000"})
    services = doc["services"]
    assert isinstance(services, dict)
    assert sorted(services) == ["consumer", "kafka-1", "kafka-2", "kafka-3", "producer"]
    for name, svc in services.items():
        assert svc["deploy"]["labels"]["frida.run"] == "r1", name
    kafka2 = services["kafka-2"]
    assert kafka2["environment"]["KAFKA_NUM_IO_THREADS"] == "2"
    assert kafka2["environment"]["KAFKA_NODE_ID"] == "2"
    assert "EXTERNAL://127.0.0.1:40000" in kafka2["environment"]["KAFKA_ADVERTISED_LISTENERS"]
    assert kafka2["deploy"]["endpoint_mode"] == "dnsrr"
    assert services["producer"]["environment"]["FRIDA_SLOT"] == "{{.Task.Slot}}"


@needs_docker_cli
def test_monitoring_stack_parses() -> None:
    doc = _stack_config(stacks_dir() / "monitoring.yml")
    assert sorted(doc["services"]) == ["cadvisor", "grafana", "influxdb"]
    dashboard = json.loads((stacks_dir() / "monitoring/grafana/frida-dashboard.json")
                           .read_text())
    assert dashboard["panels"]
