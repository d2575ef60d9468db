"""kafka-python: pure Python, no native dependency; ~tens of thousands msg/s per core."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from pytest_frida.workload.drivers.base import AckCallback, ClientDriver, Consumer, Producer

_PRODUCER_DEFAULTS: dict[str, Any] = {"acks": "all", "linger_ms": 0, "retries": 5}


class _KPProducer(Producer):
    def __init__(self, bootstrap: str, client_id: str, settings: Mapping[str, object]) -> None:
        config = {**_PRODUCER_DEFAULTS, **settings}
        self._p = KafkaProducer(bootstrap_servers=bootstrap, client_id=client_id, **config)

    def warm_up(self, topic: str) -> None:
        self._p.partitions_for(topic)

    def send(self, topic: str, key: bytes, value: bytes, on_ack: AckCallback) -> None:
        future = self._p.send(topic, value=value, key=key)
        future.add_callback(lambda _meta: on_ack(None))
        future.add_errback(on_ack)

    def flush(self, timeout_s: float) -> None:
        # a flush that times out is fine: the caller counts unacknowledged messages
        with contextlib.suppress(Exception):
            self._p.flush(timeout=timeout_s)

    def close(self) -> None:
        self._p.close(timeout=5)


class _KPConsumer(Consumer):
    def __init__(self, bootstrap: str, topic: str, client_id: str) -> None:
        self._c = KafkaConsumer(
            bootstrap_servers=bootstrap,
            client_id=client_id,
            group_id=None,
            enable_auto_commit=False,
            fetch_min_bytes=1,
            fetch_max_wait_ms=50,
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

    def producer(self, bootstrap: str, client_id: str, settings: Mapping[str, object]) -> Producer:
        return _KPProducer(bootstrap, client_id, settings)

    def consumer(self, bootstrap: str, topic: str, client_id: str) -> Consumer:
        return _KPConsumer(bootstrap, topic, client_id)
