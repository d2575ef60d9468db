"""`frida_bootstrap` is a stock Kafka for users' own clients: on a real local broker, a topic
nobody created yet is created on first use, for kafka-python and for Kafka's own
ProducerPerformance (which waited 60 s for it when the brokers ran with
auto.create.topics.enable=false)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pytest_frida.bench import kafka_tools
from pytest_frida.config import build_settings
from pytest_frida.kafka import distribution
from pytest_frida.kafka.java import java_runtime
from pytest_frida.sites.base import Cluster
from pytest_frida.sites.local import LocalSite

#: how long a client may block for a topic's metadata: well below the 60 s default that
#: a missing topic used to cost, well above what creating one takes on a busy 2-core host
BLOCK_MS = 20_000


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LocalSite, Cluster]]:
    local = LocalSite(build_settings({}, {}).cluster, tmp_path_factory.mktemp("stock"))
    try:
        yield local, local.start()
    finally:
        local.stop()


def test_a_producer_creates_its_topic_by_sending(site: tuple[LocalSite, Cluster]) -> None:
    from kafka import KafkaConsumer, KafkaProducer

    _, cluster = site
    producer = KafkaProducer(
        bootstrap_servers=cluster.bootstrap, max_block_ms=BLOCK_MS, request_timeout_ms=BLOCK_MS
    )
    started = time.monotonic()
    try:
        meta = producer.send("users-own-topic", b"hello").get(timeout=BLOCK_MS / 1000)
    finally:
        producer.close()
    elapsed = time.monotonic() - started
    assert (meta.topic, meta.offset) == ("users-own-topic", 0)
    assert elapsed < BLOCK_MS / 1000
    consumer = KafkaConsumer(bootstrap_servers=cluster.bootstrap, group_id=None)
    try:
        # Kafka's own num.partitions (1): the broker made the topic, not one of our steps
        assert consumer.partitions_for_topic("users-own-topic") == {0}
    finally:
        consumer.close()


def test_kafka_producer_performance_completes(site: tuple[LocalSite, Cluster]) -> None:
    local, cluster = site
    dist = distribution.resolve(local.settings.kafka_version, local.settings.kafka_home)
    java = java_runtime(dist.version).executable
    perf = kafka_tools.producer_performance(
        java, dist, cluster.bootstrap, "perf-own-topic", 2_000, 100, {"max.block.ms": str(BLOCK_MS)}
    )
    assert perf.records == 2_000
    assert perf.records_per_s > 0


def test_broker_config_still_turns_it_off(
    tmp_path_factory: pytest.TempPathFactory, leak_check: None
) -> None:
    """`--frida-broker-config` wins over Kafka's defaults: the old behaviour on request."""
    from kafka import KafkaProducer
    from kafka.errors import KafkaTimeoutError

    settings = build_settings({"broker-config": "auto.create.topics.enable=false"}, {})
    local = LocalSite(settings.cluster, tmp_path_factory.mktemp("no-auto-create"))
    try:
        cluster = local.start()
        producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, max_block_ms=3_000)
        try:
            with pytest.raises(KafkaTimeoutError):
                producer.send("never-created", b"x").get(timeout=10)
        finally:
            producer.close()
    finally:
        local.stop()
