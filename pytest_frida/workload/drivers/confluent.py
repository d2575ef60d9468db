"""confluent-kafka (librdkafka): hundreds of thousands msg/s from one process.

Delivery reports wait in librdkafka's queue until a thread calls poll()/flush(), and the
callbacks run on that thread: an ack is only seen when it is served. So the producer agent
never stops polling (see producer_serving) and reports its own worst gap between two
servings as the error bound of its ack timestamps. librdkafka's msg.latency() is no
better: it is "now minus enqueue time" read when the report is served, so it grows with
the poll cadence (1 producer at 10 msg/s, polled before each send, read 100 ms); it is
not used.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition
from confluent_kafka import Consumer as _CKConsumer
from confluent_kafka import Producer as _CKProducer

from pytest_frida.workload.drivers.base import (
    AckCallback,
    ClientDriver,
    Consumer,
    DriverConfigError,
    Producer,
    QueueFull,
    choose_partitions,
)

# linger.ms stays at librdkafka's (and the Java client's, since Kafka 4.0) 5 ms: with 0,
# a producer spacing sends evenly at a few thousand msg/s saw acks seconds late here
_DEFAULTS: dict[str, str] = {"acks": "all"}
# errors only: a refused connection must not flood agent logs; and no Nagle: the Java
# client disables it too, and with it on a lone message waits for the previous ACK
_COMMON = {"log_level": 3, "socket.nagle.disable": True}
#: a watermark query for consumer lag gives up after this long (the broker may be down)
_LAG_QUERY_TIMEOUT_S = 2.0


def _config(bootstrap: str, client_id: str, settings: Mapping[str, str]) -> dict[str, Any]:
    return {
        **_COMMON,
        **_DEFAULTS,
        **settings,
        "bootstrap.servers": bootstrap,
        "client.id": client_id,
    }


#: librdkafka's message.timeout.ms (alias delivery.timeout.ms) when not set
DELIVERY_TIMEOUT_MS = 300_000


def delivery_timeout_s(settings: Mapping[str, str]) -> float:
    """The delivery timeout these settings put in force (librdkafka validated them); 0
    means none: librdkafka then waits for ever."""
    for name in ("message.timeout.ms", "delivery.timeout.ms"):
        if name in settings:
            return float(settings[name]) / 1000.0
    return DELIVERY_TIMEOUT_MS / 1000.0


class _CKProducerAdapter(Producer):
    def __init__(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> None:
        self._p = _CKProducer(_config(bootstrap, client_id, settings))
        self._delivery_timeout_s = delivery_timeout_s(settings)

    def warm_up(self, topic: str) -> None:
        self._p.list_topics(topic, timeout=30)

    def send(
        self, topic: str, partition: int, key: bytes, value: bytes, on_ack: AckCallback
    ) -> None:
        def delivered(err: Any, _msg: Any) -> None:
            on_ack(None if err is None else KafkaException(err))

        try:
            self._p.produce(topic, value=value, key=key, partition=partition, on_delivery=delivered)
        except BufferError as exc:  # queue.buffering.max.messages/kbytes reached
            raise QueueFull(str(exc)) from exc

    def serve(self, timeout_s: float = 0.0) -> int:
        # poll() is thread-safe and releases the GIL while librdkafka looks at its queue
        return int(self._p.poll(timeout_s))

    @property
    def delivery_timeout_s(self) -> float:
        return self._delivery_timeout_s

    def flush(self, timeout_s: float) -> None:
        self._p.flush(timeout_s)

    def close(self) -> None:
        self._p.flush(0)


class _CKConsumerAdapter(Consumer):
    def __init__(
        self, bootstrap: str, topic: str, client_id: str, partitions: Sequence[int] | None = None
    ) -> None:
        self._c = _CKConsumer(
            {
                "bootstrap.servers": bootstrap,
                "client.id": client_id,
                "group.id": f"frida-{topic}",
                "enable.auto.commit": False,
                "fetch.wait.max.ms": 10,
                "fetch.min.bytes": 1,
                **_COMMON,
            }
        )
        self._topic = topic
        topics = self._c.list_topics(topic, timeout=30).topics
        self.partitions, self.topic_partitions = choose_partitions(
            topic, topics[topic].partitions if topic in topics else (), partitions
        )
        self.wait_s = 0.0
        self._c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in self.partitions])

    def poll(self, timeout_s: float) -> list[bytes]:
        # consume(n, timeout) waits for n messages or the whole timeout, which at low rates
        # adds the timeout to every latency: wait for one message, then take what is queued.
        # The wait for the first one is the consumer's idle time; when messages are queued
        # already it returns at once.
        started = time.perf_counter()
        first = self._c.poll(timeout_s)
        self.wait_s += time.perf_counter() - started
        if first is None:
            return []
        msgs = [first, *self._c.consume(num_messages=10_000, timeout=0)]
        return [m.value() or b"" for m in msgs if m.error() is None]

    def hold(self, held: bool) -> None:
        # librdkafka fetches in threads of its own: a paused partition is not fetched
        tps = [TopicPartition(self._topic, p) for p in self.partitions]
        (self._c.pause if held else self._c.resume)(tps)

    def _positions(self) -> dict[int, int]:
        """The next offset the application gets per partition (-1: nothing read yet)."""
        got = self._c.position([TopicPartition(self._topic, p) for p in self.partitions])
        return {tp.partition: tp.offset if tp.offset >= 0 else -1 for tp in got}

    def lag(self) -> dict[int, int] | None:
        # the high watermark asked of the leader (cached values only move with fetches,
        # which stop while the local queue is full: exactly when the consumer is behind)
        try:
            positions = self._positions()
            out = {}
            for partition, position in positions.items():
                low, high = self._c.get_watermark_offsets(
                    TopicPartition(self._topic, partition),
                    timeout=_LAG_QUERY_TIMEOUT_S,
                    cached=False,
                )
                out[partition] = max(0, high - (position if position >= 0 else low))
            return out
        except (KafkaException, RuntimeError):
            return None

    def received(self) -> dict[int, int]:
        # a step's topic is fresh (offsets from 0) and holds no transaction markers: the
        # position is the count of records read (no broker round trip: it may be gone)
        return {partition: max(0, position) for partition, position in self._positions().items()}

    def close(self) -> None:
        self._c.close()


class ConfluentDriver(ClientDriver):
    name = "confluent-kafka"

    def check_settings(self, settings: Mapping[str, str]) -> None:
        # librdkafka validates names and values when a client is built; building one
        # starts no connection before it is polled, and the address is loopback anyway
        try:
            probe = _CKProducer({**_config("127.0.0.1:1", "frida-check", settings), "log_level": 0})
        except KafkaException as exc:
            raise DriverConfigError(
                f"confluent-kafka rejects the producer settings: {exc.args[0].str()}"
            ) from None
        del probe

    def producer(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> Producer:
        return _CKProducerAdapter(bootstrap, client_id, settings)

    def consumer(
        self, bootstrap: str, topic: str, client_id: str, partitions: Sequence[int] | None = None
    ) -> Consumer:
        return _CKConsumerAdapter(bootstrap, topic, client_id, partitions)
