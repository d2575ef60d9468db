"""kafka-python: pure Python, no native dependency; tens of thousands msg/s per core."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaTimeoutError

from pytest_frida.workload.drivers.base import (
    AckCallback,
    ClientDriver,
    Consumer,
    DriverConfigError,
    Producer,
    QueueFull,
)

_DEFAULTS: dict[str, str] = {"acks": "all", "retries": "5"}
_INT_KEYS = {"linger_ms", "batch_size", "retries", "buffer_memory",
             "max_in_flight_requests_per_connection", "request_timeout_ms",
             "delivery_timeout_ms", "max_block_ms", "max_request_size",
             "send_buffer_bytes", "receive_buffer_bytes", "retry_backoff_ms"}


def _convert(settings: Mapping[str, str]) -> dict[str, Any]:
    """Kafka property names -> kafka-python keyword arguments, with typed values."""
    config: dict[str, Any] = {}
    for key, raw in {**_DEFAULTS, **settings}.items():
        name = key.replace(".", "_")
        if name not in KafkaProducer.DEFAULT_CONFIG:
            raise DriverConfigError(f"kafka-python has no producer setting {key!r}")
        value: Any = raw
        if name == "acks":
            value = raw if raw == "all" else int(raw)
        elif name == "enable_idempotence":
            value = str(raw).lower() in ("1", "true", "yes")
        elif name == "compression_type":
            value = None if raw in ("none", "") else raw
        elif name in _INT_KEYS:
            try:
                value = int(raw)
            except ValueError:
                raise DriverConfigError(f"kafka-python setting {key}={raw!r}: expected a whole"
                                        " number") from None
        config[name] = value
    if config.get("acks") not in ("all", 0, 1, -1):
        raise DriverConfigError(f"kafka-python setting acks={settings.get('acks')!r}: expected"
                                " 0, 1, all or -1")
    return config


class _KPProducer(Producer):
    def __init__(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> None:
        self._p = KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id,
                                **_convert(settings))

    def warm_up(self, topic: str) -> None:
        self._p.partitions_for(topic)

    def send(self, topic: str, key: bytes, value: bytes, on_ack: AckCallback) -> None:
        try:
            future = self._p.send(topic, value=value, key=key)
        except KafkaTimeoutError as exc:
            raise QueueFull(str(exc)) from exc
        future.add_callback(lambda _meta: on_ack(None, None))
        future.add_errback(lambda exc: on_ack(exc, None))

    def flush(self, timeout_s: float) -> None:
        # a flush that times out is fine: the caller counts unacknowledged messages
        with contextlib.suppress(Exception):
            self._p.flush(timeout=timeout_s)

    def close(self) -> None:
        self._p.close(timeout=5)


class _KPConsumer(Consumer):
    def __init__(self, bootstrap: str, topic: str, client_id: str) -> None:
        self._c = KafkaConsumer(
            bootstrap_servers=bootstrap, client_id=client_id, group_id=None,
            enable_auto_commit=False, fetch_min_bytes=1, fetch_max_wait_ms=50,
            max_poll_records=10_000,
        )
        partitions = self._c.partitions_for_topic(topic) or set()
        if not partitions:
            raise RuntimeError(f"topic {topic!r} has no partitions visible to the consumer")
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        self._c.assign(tps)
        self._c.seek_to_beginning(*tps)

    def poll(self, timeout_s: float) -> list[bytes]:
        batches = self._c.poll(timeout_ms=int(timeout_s * 1000))
        return [rec.value for records in batches.values() for rec in records]

    def close(self) -> None:
        self._c.close()


class KafkaPythonDriver(ClientDriver):
    name = "kafka-python"

    def check_settings(self, settings: Mapping[str, str]) -> None:
        _convert(settings)

    def producer(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> Producer:
        return _KPProducer(bootstrap, client_id, settings)

    def consumer(self, bootstrap: str, topic: str, client_id: str) -> Consumer:
        return _KPConsumer(bootstrap, topic, client_id)
