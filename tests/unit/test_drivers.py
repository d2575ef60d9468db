"""Client drivers: settings validation and mapping, without a broker."""

from __future__ import annotations

import time

import pytest

from pytest_frida.config import SettingsError, build_settings, parse_producer_config
from pytest_frida.workload.drivers import CLIENTS, load_driver
from pytest_frida.workload.drivers.base import DriverConfigError, QueueFull
from pytest_frida.workload.drivers.confluent import delivery_timeout_s
from pytest_frida.workload.drivers.kafka_python import _convert


def test_both_clients_load() -> None:
    assert {load_driver(name).name for name in CLIENTS} == {"confluent-kafka", "kafka-python"}


def test_unknown_client_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="unknown client 'rdkafka'; accepted: confluent-kafka"):
        load_driver("rdkafka")


def test_kafka_python_maps_kafka_property_names_and_types() -> None:
    config = _convert(
        {
            "acks": "1",
            "linger.ms": "5",
            "batch.size": "32768",
            "enable.idempotence": "true",
            "compression.type": "none",
        }
    )
    assert config["acks"] == 1
    assert config["linger_ms"] == 5
    assert config["batch_size"] == 32768
    assert config["enable_idempotence"] is True
    assert config["compression_type"] is None


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"lnger.ms": "5"}, "no producer setting 'lnger.ms'"),
        ({"linger.ms": "soon"}, "linger.ms='soon': expected a whole number"),
        ({"acks": "2"}, "acks='2': expected 0, 1, all or -1"),
    ],
)
def test_kafka_python_rejects_bad_settings(settings: dict[str, str], message: str) -> None:
    with pytest.raises(DriverConfigError, match=message.replace("(", r"\(")):
        load_driver("kafka-python").check_settings(settings)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"acks": "banana"}, "Invalid value for configuration property"),
        ({"lnger.ms": "5"}, 'No such configuration property: "lnger.ms"'),
    ],
)
def test_confluent_rejects_bad_settings(settings: dict[str, str], message: str) -> None:
    with pytest.raises(DriverConfigError, match=message):
        load_driver("confluent-kafka").check_settings(settings)


def test_confluent_accepts_kafka_property_names() -> None:
    load_driver("confluent-kafka").check_settings(
        {
            "acks": "all",
            "linger.ms": "5",
            "batch.size": "16384",
            "compression.type": "lz4",
            "enable.idempotence": "true",
        }
    )


def test_confluent_rejects_inconsistent_settings() -> None:
    # librdkafka checks combinations too, before any connection
    with pytest.raises(DriverConfigError, match="`acks` must be set to `all`"):
        load_driver("confluent-kafka").check_settings({"acks": "1", "enable.idempotence": "true"})


def test_producer_config_parsing() -> None:
    assert parse_producer_config("acks=1, linger.ms=5", "x") == {"acks": "1", "linger.ms": "5"}
    assert parse_producer_config({"enable.idempotence": True, "acks": 1}, "x") == {
        "enable.idempotence": "true",
        "acks": "1",
    }
    with pytest.raises(SettingsError, match="'acks' is not name=value"):
        parse_producer_config("acks", "x")


def test_producer_config_precedence_per_property() -> None:
    settings = build_settings(
        {"producer-config": "acks=1"}, {"producer-config": "linger.ms=3,acks=all"}
    )
    assert settings.plan_for({}).producer_config == {"linger.ms": "3", "acks": "1"}
    merged = settings.plan_for(
        {"producer_config": {"linger.ms": 7, "acks": "0", "compression.type": "lz4"}}
    )
    # command line beats marker beats ini, property by property
    assert merged.producer_config == {"linger.ms": "7", "acks": "1", "compression.type": "lz4"}


def test_marker_producer_config_is_checked_by_the_client() -> None:
    settings = build_settings({"client": "confluent-kafka"}, {})
    with pytest.raises(SettingsError, match="capacity marker argument producer_config"):
        settings.plan_for({"producer_config": {"acks": "banana"}})


def test_kafka_python_send_never_blocks_unless_asked() -> None:
    # send() would otherwise wait up to 60 s for room or metadata inside the scheduler
    assert _convert({})["max_block_ms"] == 0
    assert _convert({"max.block.ms": "2500"})["max_block_ms"] == 2500
    # the rest stays the client's own default, the delivery timeout included
    assert "delivery_timeout_ms" not in _convert({})
    assert _convert({"delivery.timeout.ms": "30000"})["delivery_timeout_ms"] == 30_000


@pytest.mark.parametrize(
    ("settings", "seconds"),
    [
        ({}, 300.0),  # librdkafka's default message.timeout.ms
        ({"message.timeout.ms": "3000"}, 3.0),
        ({"delivery.timeout.ms": "45000"}, 45.0),  # its alias
    ],
)
def test_confluent_delivery_timeout_in_force(settings: dict[str, str], seconds: float) -> None:
    assert delivery_timeout_s(settings) == seconds
    load_driver("confluent-kafka").check_settings(settings)


def test_confluent_producer_names_the_partition_and_acks_only_when_served() -> None:
    """Against librdkafka's in-process mock cluster: acks wait for serve(), on the
    caller's thread; a full queue is QueueFull at once; an unknown partition is refused."""
    producer = load_driver("confluent-kafka").producer(
        "127.0.0.1:1",
        "frida-test",
        {"test.mock.num.brokers": "1", "queue.buffering.max.messages": "3"},
    )
    try:
        assert not producer.callbacks_on_own_thread
        assert producer.delivery_timeout_s == 300.0
        producer.warm_up("t")
        acks: list[Exception | None] = []
        for partition in range(3):
            producer.send("t", partition, b"k", b"v", acks.append)
        with pytest.raises(QueueFull):
            producer.send("t", 0, b"k", b"v", acks.append)
        time.sleep(0.3)
        assert acks == []  # delivered, but nobody served the reports yet
        served, deadline = 0, time.monotonic() + 10
        while len(acks) < 3 and time.monotonic() < deadline:
            served += producer.serve(0.1)
        assert (served, acks) == (3, [None, None, None])
        with pytest.raises(Exception, match="Unknown partition"):
            producer.send("t", 99, b"k", b"v", acks.append)
    finally:
        producer.close()
