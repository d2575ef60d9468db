"""Client drivers: settings validation and mapping, without a broker."""

from __future__ import annotations

import pytest

from pytest_frida.config import SettingsError, build_settings, parse_producer_config
from pytest_frida.workload.drivers import CLIENTS, load_driver
from pytest_frida.workload.drivers.base import DriverConfigError
from pytest_frida.workload.drivers.kafka_python import _convert


def test_both_clients_load() -> None:
    assert {load_driver(name).name for name in CLIENTS} == {"confluent-kafka", "kafka-python"}


def test_unknown_client_names_the_accepted_ones() -> None:
    with pytest.raises(ValueError, match="unknown client 'rdkafka'; accepted: confluent-kafka"):
        load_driver("rdkafka")


def test_kafka_python_maps_kafka_property_names_and_types() -> None:
    config = _convert({"acks": "1", "linger.ms": "5", "batch.size": "32768",
                       "enable.idempotence": "true", "compression.type": "none"})
    assert config["acks"] == 1
    assert config["linger_ms"] == 5
    assert config["batch_size"] == 32768
    assert config["enable_idempotence"] is True
    assert config["compression_type"] is None


@pytest.mark.parametrize(("settings", "message"), [
    ({"lnger.ms": "5"}, "no producer setting 'lnger.ms'"),
    ({"linger.ms": "soon"}, "linger.ms='soon': expected a whole number"),
    ({"acks": "2"}, "acks='2': expected 0, 1, all or -1"),
])
def test_kafka_python_rejects_bad_settings(settings: dict[str, str], message: str) -> None:
    with pytest.raises(DriverConfigError, match=message.replace("(", r"\(")):
        load_driver("kafka-python").check_settings(settings)


@pytest.mark.parametrize(("settings", "message"), [
    ({"acks": "banana"}, "Invalid value for configuration property"),
    ({"lnger.ms": "5"}, 'No such configuration property: "lnger.ms"'),
])
def test_confluent_rejects_bad_settings(settings: dict[str, str], message: str) -> None:
    with pytest.raises(DriverConfigError, match=message):
        load_driver("confluent-kafka").check_settings(settings)


def test_confluent_accepts_kafka_property_names() -> None:
    load_driver("confluent-kafka").check_settings(
        {"acks": "all", "linger.ms": "5", "batch.size": "16384", "compression.type": "lz4",
         "enable.idempotence": "true"})


def test_confluent_rejects_inconsistent_settings() -> None:
    # librdkafka checks combinations too, before any connection
    with pytest.raises(DriverConfigError, match="`acks` must be set to `all`"):
        load_driver("confluent-kafka").check_settings({"acks": "1", "enable.idempotence": "true"})


def test_producer_config_parsing() -> None:
    assert parse_producer_config("acks=1, linger.ms=5", "x") == {"acks": "1", "linger.ms": "5"}
    assert parse_producer_config({"enable.idempotence": True, "acks": 1}, "x") == {
        "enable.idempotence": "true", "acks": "1"}
    with pytest.raises(SettingsError, match="'acks' is not name=value"):
        parse_producer_config("acks", "x")


def test_producer_config_precedence_per_property() -> None:
    settings = build_settings({"producer-config": "acks=1"},
                              {"producer-config": "linger.ms=3,acks=all"})
    assert settings.plan_for({}).producer_config == {"linger.ms": "3", "acks": "1"}
    merged = settings.plan_for({"producer_config": {"linger.ms": 7, "acks": "0",
                                                    "compression.type": "lz4"}})
    # command line beats marker beats ini, property by property
    assert merged.producer_config == {"linger.ms": "7", "acks": "1", "compression.type": "lz4"}


def test_marker_producer_config_is_checked_by_the_client() -> None:
    settings = build_settings({"client": "confluent-kafka"}, {})
    with pytest.raises(SettingsError, match="capacity marker argument producer_config"):
        settings.plan_for({"producer_config": {"acks": "banana"}})
