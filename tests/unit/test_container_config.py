"""What the docker and swarm sites hand to Docker: env names, stack files, targets, image
archives, and `docker` on a node over ssh."""

from __future__ import annotations

import io
import json
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.images import AGENT_IMAGE
from pytest_frida.images.checks import no_exporter
from pytest_frida.images.transfer import (
    ArchiveSource,
    archive_image_id,
    archive_name,
    docker_target,
)
from pytest_frida.kafka import exporter
from pytest_frida.kafka.server_config import (
    KRAFT_KEYS,
    NodeAddress,
    replication_settings,
    server_properties,
)
from pytest_frida.runtimes.docker_cli import DockerCli, DockerError
from pytest_frida.runtimes.kafka_container import container_properties, property_env
from pytest_frida.runtimes.kafka_stack import (
    BrokerPlacement,
    internal_bootstrap,
    override_file,
    stack_files,
    stack_variables,
)
from pytest_frida.runtimes.ssh import RemoteError, SshSettings
from pytest_frida.stacks import stacks_dir
from pytest_frida.workload.service import ServiceConfigError, agent_config

needs_docker_cli = pytest.mark.skipif(
    shutil.which("docker") is None, reason="the docker command is not installed"
)


def _env_to_property(name: str) -> str:
    """apache/kafka's own rule, as its start script applies it (the inverse we must meet)."""
    return (
        name.removeprefix("KAFKA_")
        .lower()
        .replace("___", "-")
        .replace("__", "\x01")
        .replace("_", ".")
        .replace("\x01", "_")
    )


@pytest.mark.parametrize(
    ("prop", "env"),
    [
        ("node.id", "KAFKA_NODE_ID"),
        ("listener.security.protocol.map", "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"),
        ("log.flush.interval.messages", "KAFKA_LOG_FLUSH_INTERVAL_MESSAGES"),
        ("confluent.some_prop", "KAFKA_CONFLUENT_SOME__PROP"),
        ("a-b.c", "KAFKA_A___B_C"),
    ],
)
def test_property_env_examples(prop: str, env: str) -> None:
    assert property_env(prop) == env


@given(
    st.lists(st.text(alphabet="abcdefghij", min_size=1, max_size=6), min_size=1, max_size=4).map(
        ".".join
    )
)
def test_property_env_round_trips_through_the_image_rule(prop: str) -> None:
    assert _env_to_property(property_env(prop)) == prop


def test_kafka_image_run_script_applies_the_same_rule(tmp_path: Path) -> None:
    """The start script of our Kafka image turns KAFKA_* into the properties we meant."""
    script = (stacks_dir() / "images" / "kafka" / "run").read_text()
    head = script.split("CP='/opt/kafka/libs/*'")[0].replace(
        "/tmp/server.properties", str(tmp_path / "p")
    )
    env = {
        property_env("log.flush.interval.messages"): "1",
        property_env("advertised.listeners"): "INTERNAL://k:9092,EXTERNAL://h:1=2",
        "KAFKA_HEAP_OPTS": "-Xmx1G",
        "PATH": "/usr/bin:/bin",
    }
    subprocess.run(["sh", "-c", head], env=env, check=True)
    lines = sorted((tmp_path / "p").read_text().splitlines())
    assert lines == [
        "advertised.listeners=INTERNAL://k:9092,EXTERNAL://h:1=2",
        "log.dirs=/var/lib/kafka/data",
        "log.flush.interval.messages=1",
    ]


#: what every node on every site sets: the local site's keys, plus the inter-broker
#: listener the containers name (INTERNAL is no built-in listener name)
CONTAINER_KEYS = {*KRAFT_KEYS, *replication_settings(1), "inter.broker.listener.name"}
#: variables apache/kafka's start script reads itself, never server properties
NOT_PROPERTIES = {"KAFKA_HEAP_OPTS"}


def _interpolate(value: object, env: dict[str, str]) -> str:
    """Compose's ${NAME} and ${NAME:-default}, as `docker stack deploy` fills them."""
    return re.sub(r"\$\{(\w+)(?::-([^}]*))?\}", lambda m: env.get(m[1]) or (m[2] or ""), str(value))


def _stack_broker_properties(brokers: int, env: dict[str, str]) -> dict[str, dict[str, str]]:
    """Server properties of each broker service of the stack files for `brokers`, read
    without Docker: KAFKA_* variables turned into properties by the image's rule."""
    import yaml

    out: dict[str, dict[str, str]] = {}
    for path in stack_files(brokers):
        doc = yaml.safe_load(path.read_text())
        for name, service in doc["services"].items():
            if name.startswith("kafka-"):
                out[name] = {
                    _env_to_property(k): _interpolate(v, env)
                    for k, v in service["environment"].items()
                    if k.startswith("KAFKA_") and k not in NOT_PROPERTIES
                }
    return out


@pytest.mark.parametrize("brokers", [1, 3])
def test_container_sets_the_local_keys_and_no_others(brokers: int) -> None:
    voters = [(i, f"k{i}") for i in range(brokers)]
    local = [NodeAddress(i, "127.0.0.1", 9092 + i, 9192 + i) for i in range(brokers)]
    for (node_id, alias), node in zip(voters, local, strict=True):
        props = container_properties(node_id, alias, voters, 40000 + node_id)
        assert set(props) == CONTAINER_KEYS
        assert set(props) == {
            *server_properties(node, local, Path("/d")),
            "inter.broker.listener.name",
        }
        assert {k: props[k] for k in replication_settings(brokers)} == replication_settings(brokers)
        assert props["node.id"] == str(node_id)
        assert "auto.create.topics.enable" not in props


def test_container_broker_config_wins() -> None:
    props = container_properties(
        0,
        "k0",
        [(0, "k0")],
        40000,
        {
            "auto.create.topics.enable": "false",
            "num.io.threads": "2",
            "offsets.topic.replication.factor": "1",
        },
    )
    assert props["auto.create.topics.enable"] == "false"
    assert props["num.io.threads"] == "2"


@pytest.mark.parametrize("brokers", [1, 3])
@pytest.mark.parametrize("filled", [True, False], ids=["by-frida", "by-hand"])
def test_stack_brokers_set_what_the_other_sites_set(brokers: int, filled: bool) -> None:
    """kafka.yml (+ kafka-3.yml) give each broker the containers' keys, no others, with the
    replication the cluster size allows, whether pytest-frida fills the variables or a
    person deploys the files with the variables kafka-3.yml's header asks for."""
    by_hand = (
        {}
        if brokers == 1
        else {
            "FRIDA_KAFKA_VOTERS": "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093",
            "FRIDA_KAFKA_RF": "3",
            "FRIDA_KAFKA_MIN_ISR": "2",
        }
    )
    placements = [BrokerPlacement("127.0.0.1", 40000 + i) for i in range(brokers)]
    env = stack_variables("frida/kafka:4.4.0", AGENT_IMAGE, placements) if filled else by_hand
    assert not any("AUTO_CREATE" in name for name in env)
    services = _stack_broker_properties(brokers, env)
    assert sorted(services) == [f"kafka-{i}" for i in range(1, brokers + 1)]
    for name, props in services.items():
        assert set(props) == CONTAINER_KEYS, name
        assert {k: props[k] for k in replication_settings(brokers)} == replication_settings(
            brokers
        ), name
        assert props["node.id"] == name.removeprefix("kafka-")
        assert props["controller.quorum.voters"] == ",".join(
            f"{i}@kafka-{i}:9093" for i in range(1, brokers + 1)
        )


def test_image_bundled_config_is_the_one_node_set() -> None:
    """The Kafka image's own server.properties (used when no KAFKA_* is given)."""
    text = (stacks_dir() / "images" / "kafka" / "server.properties").read_text()
    props = dict(
        line.split("=", 1) for line in text.splitlines() if line and not line.startswith("#")
    )
    assert set(props) == {*KRAFT_KEYS, *replication_settings(1)}
    assert {k: props[k] for k in replication_settings(1)} == replication_settings(1)


def test_docker_targets() -> None:
    # your ssh configuration's user: standard Grid'5000 nodes refuse root
    assert docker_target("uvb-1.sophia.grid5000.fr") == "ssh://uvb-1.sophia.grid5000.fr"
    assert docker_target("alice@node") == "ssh://alice@node"
    assert docker_target("unix:///tmp/d.sock") == "unix:///tmp/d.sock"
    with pytest.raises(ValueError, match="not a host name"):
        docker_target("two words")


def test_service_config_from_environment() -> None:
    config = agent_config(
        {"FRIDA_ROLE": "producer", "FRIDA_PRODUCERS": "3", "FRIDA_SLOT": "2", "FRIDA_RATE": "20"}
    )
    assert config["role"] == "producer"
    assert (config["first_producer"], config["producer_count"]) == (3, 3)
    assert config["rate"] == 20.0 and config["client"] == "confluent-kafka"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({}, "FRIDA_ROLE is not set"),
        ({"FRIDA_ROLE": "broker"}, "FRIDA_ROLE='broker': expected producer or consumer"),
        ({"FRIDA_ROLE": "producer", "FRIDA_RATE": "fast"}, "FRIDA_RATE='fast' is not a float"),
        ({"FRIDA_ROLE": "producer", "FRIDA_SLOT": "0"}, "must be at least 1"),
        (
            {"FRIDA_ROLE": "consumer", "FRIDA_CLIENT": "confluent"},
            "FRIDA_CLIENT='confluent': expected one of confluent-kafka, kafka-python",
        ),
        ({"FRIDA_ROLE": "consumer", "FRIDA_DURATION": "-1"}, "must not be negative"),
    ],
)
def test_service_config_errors_name_the_variable(env: dict[str, str], message: str) -> None:
    with pytest.raises(ServiceConfigError, match=message.replace("(", r"\(")):
        agent_config(env)


def _stack_config(*files: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    import os

    done = subprocess.run(
        ["docker", "stack", "config", *[a for f in files for a in ("-c", str(f))]],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, **(env or {})},
    )
    import yaml

    return dict(yaml.safe_load(done.stdout))


@needs_docker_cli
def test_the_override_publishes_each_brokers_exporter_where_the_run_reads_it(
    tmp_path: Path,
) -> None:
    override = override_file(
        tmp_path / "o.yml", 3, {"frida.run": "r1"}, {}, metrics_ports=[41001, 41002, 41003]
    )
    doc = _stack_config(*stack_files(3), override)
    services = cast(dict[str, dict[str, Any]], doc["services"])
    for i, port in enumerate([41001, 41002, 41003], 1):
        ports = {p["target"]: p["published"] for p in services[f"kafka-{i}"]["ports"]}
        assert ports[exporter.CONTAINER_PORT] == port and 19092 in ports


@needs_docker_cli
def test_stack_files_merge_with_the_run_override(tmp_path: Path) -> None:
    root = stacks_dir()
    override = override_file(
        tmp_path / "o.yml", 3, {"frida.run": "r1"}, {"KAFKA_NUM_IO_THREADS": "2"}
    )
    doc = _stack_config(
        root / "kafka.yml",
        root / "kafka-3.yml",
        root / "load.yml",
        override,
        env={"FRIDA_KAFKA_PORT_2": "40000"},
    )
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
def test_stacks_across_nodes_pin_brokers_consumer_and_producers(tmp_path: Path) -> None:
    """What the swarm runtime on reserved nodes deploys: broker i on the node labelled
    frida.broker=i, advertised under that node's name; producers on producer nodes, at most
    N replicas each; the consumer on its node."""
    override = override_file(
        tmp_path / "o.yml", 3, {"frida.run": "r1"}, {}, producer_replicas_per_node=4
    )
    env = stack_variables(
        "frida/kafka:4.4.0",
        AGENT_IMAGE,
        [
            BrokerPlacement(f"uvb-{i}.sophia.grid5000.fr", 9092, f"node.labels.frida.broker=={i}")
            for i in (1, 2, 3)
        ],
        producer_constraint="node.labels.frida.producer==true",
        consumer_constraint="node.labels.frida.consumer==true",
    )
    assert env["FRIDA_KAFKA_VOTERS"] == "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"
    doc = _stack_config(*stack_files(3), override, env=env)
    services = doc["services"]
    for i in (1, 2, 3):
        broker = services[f"kafka-{i}"]
        assert broker["deploy"]["placement"]["constraints"] == [f"node.labels.frida.broker=={i}"]
        assert (
            f"EXTERNAL://uvb-{i}.sophia.grid5000.fr:9092"
            in broker["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        )
    producer = services["producer"]["deploy"]["placement"]
    assert producer["constraints"] == ["node.labels.frida.producer==true"]
    assert producer["max_replicas_per_node"] == 4
    assert services["consumer"]["deploy"]["placement"]["constraints"] == [
        "node.labels.frida.consumer==true"
    ]
    assert internal_bootstrap(3) == "kafka-1:9092,kafka-2:9092,kafka-3:9092"


def _save_archive(path: Path, manifest: list[dict[str, object]]) -> Path:
    with tarfile.open(path, "w") as tar:
        data = json.dumps(manifest).encode()
        info = tarfile.TarInfo("manifest.json")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return path


@pytest.mark.parametrize("config", [f"{'ab' * 32}.json", f"blobs/sha256/{'ab' * 32}"])
def test_archive_image_id_reads_both_save_layouts(tmp_path: Path, config: str) -> None:
    archive = _save_archive(tmp_path / "a.tar", [{"Config": config, "RepoTags": ["x:1"]}])
    assert archive_image_id(archive) == f"sha256:{'ab' * 32}"


def test_archive_source_says_what_to_run(tmp_path: Path) -> None:
    assert archive_name("frida/agent:0.1.0") == "frida_agent_0.1.0.tar"
    with pytest.raises(
        DockerError,
        match=r"frida_kafka_4.4.0.tar is missing: run `frida"
        r" images save .*` where Docker has frida/kafka",
    ):
        ArchiveSource(tmp_path).image_id("frida/kafka:4.4.0")
    bad = _save_archive(tmp_path / "frida_x_1.tar", [{"Config": "not-a-digest"}])
    with pytest.raises(DockerError, match="unexpected image config name"):
        archive_image_id(bad)


def test_docker_on_a_node_runs_over_ssh_with_every_argument_intact(tmp_path: Path) -> None:
    """`docker` on a node is one remote shell command: arguments with spaces and Go
    templates, and variables for a stack, must arrive as they were given."""
    config = tmp_path / "ssh_config"
    config.write_text("Host *\n  User root\n")
    ssh = SshSettings(config)
    docker = DockerCli.on_node(ssh, "uvb-1.sophia.grid5000.fr")
    argv = docker.argv(
        "info", "--format", "{{.Swarm.NodeID}} {{.Name}}", env={"FRIDA_KAFKA_HEAP": "-Xms1G -Xmx1G"}
    )
    assert argv[:2] == ["ssh", "-o"] and "-F" in argv and argv[-2] == "uvb-1.sophia.grid5000.fr"
    assert shlex.split(argv[-1]) == [
        "env",
        "FRIDA_KAFKA_HEAP=-Xms1G -Xmx1G",
        "docker",
        "info",
        "--format",
        "{{.Swarm.NodeID}} {{.Name}}",
    ]
    assert docker.where == "uvb-1.sophia.grid5000.fr"


def test_ssh_resolves_a_node_through_its_config_alias(tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    config.write_text("Host uvb-9.sophia.grid5000.fr\n  HostName 127.0.0.9\n")
    assert SshSettings(config).address("uvb-9.sophia.grid5000.fr") == "127.0.0.9"
    with pytest.raises(RemoteError, match=r"cannot resolve 'nowhere\.invalid'"):
        SshSettings(config).address("nowhere.invalid")


def test_shared_ssh_connections_live_below_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    tempfile.tempdir = None  # re-read TMPDIR
    try:
        ssh = SshSettings.multiplexed(None, "20261201-000000-abcd")
    finally:
        tempfile.tempdir = None
    assert ssh.multiplex_dir == tmp_path / "frida-ssh-20261201-000000-abcd"
    assert ssh.multiplex_dir.is_dir()
    options = " ".join(ssh.options())
    assert f"ControlPath={ssh.multiplex_dir}/%C" in options and "ControlMaster=auto" in options
    ssh.close([])  # no connection was opened: only the directory goes
    assert not ssh.multiplex_dir.exists()


@needs_docker_cli
def test_monitoring_stack_parses_and_scrapes_what_the_kafka_stack_serves() -> None:
    import yaml

    doc = _stack_config(stacks_dir() / "monitoring.yml")
    services = cast(dict[str, dict[str, Any]], doc["services"])
    assert sorted(services) == ["influxdb", "node-exporter", "prometheus"]
    assert {s["image"] for s in services.values()} == {"frida/monitoring:bookworm"}
    networks = cast(dict[str, dict[str, Any]], doc["networks"])
    assert networks["kafka"] == {"external": True, "name": "frida_frida"}
    # Prometheus scrapes the exporter port and the broker names the kafka stacks define
    kafka = _stack_config(stacks_dir() / "kafka.yml", stacks_dir() / "kafka-3.yml")
    brokers = cast(dict[str, dict[str, Any]], kafka["services"])
    scrape = yaml.safe_load((stacks_dir() / "monitoring/prometheus.yml").read_text())
    jobs = {
        job["job_name"]: job["dns_sd_configs"][0]
        for job in scrape["scrape_configs"]
        if "dns_sd_configs" in job
    }
    assert sorted(jobs["kafka"]["names"]) == sorted(brokers)
    assert jobs["kafka"]["port"] == exporter.CONTAINER_PORT
    for broker in brokers.values():
        assert broker["environment"]["FRIDA_METRICS_PORT"] == str(exporter.CONTAINER_PORT)
        # Prometheus reaches it over the network: no host port unless a run asks for one
        assert exporter.CONTAINER_PORT not in [p["target"] for p in broker["ports"]]
    assert jobs["node"]["names"] == ["node-exporter"]
    grafana = _stack_config(
        stacks_dir() / "monitoring.yml", stacks_dir() / "monitoring-grafana.yml"
    )
    assert {"grafana", "cadvisor"} <= set(cast(dict[str, Any], grafana["services"]))
    dashboard = json.loads((stacks_dir() / "monitoring/grafana/frida-dashboard.json").read_text())
    assert dashboard["panels"]


@pytest.mark.parametrize(
    ("label", "carries"),
    [
        (None, False),  # no such image
        ("", False),  # an image without the label: apache/kafka, an older frida/kafka
        ("none", False),  # built without the agent
        ("1.0.1", True),
    ],
)
def test_an_image_carries_the_exporter_only_when_its_label_names_a_version(
    label: str | None, carries: bool
) -> None:
    class Labels:
        def image_label(self, image: str, name: str) -> str | None:
            assert name == "frida.jmx_exporter"
            return label

    why = no_exporter(cast(DockerCli, Labels()), "apache/kafka:4.4.0")
    assert (why is None) is carries
    assert carries or why == (
        "apache/kafka:4.4.0 carries no JMX exporter (`frida images"
        " build` makes a frida/kafka that does)"
    )
