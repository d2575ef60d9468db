"""confluent-kafka (librdkafka): hundreds of thousands msg/s from one process.

Delivery callbacks run on the thread that calls poll()/flush(), so the agent calls
`serve()` regularly; the ack latency comes from librdkafka itself (msg.latency()), which
makes it independent of how often we poll.
"""

from __future__ import annotations

from collections.abc import Mapping
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
)

# linger.ms stays at librdkafka's (and the Java client's, since Kafka 4.0) 5 ms: with 0,
# a producer spacing sends evenly at a few thousand msg/s saw acks seconds late here
_DEFAULTS: dict[str, str] = {"acks": "all"}
# errors only: a refused connection must not flood agent logs; and no Nagle: the Java
# client disables it too, and with it on a lone message waits for the previous ACK
_COMMON = {"log_level": 3, "socket.nagle.disable": True}


def _config(bootstrap: str, client_id: str, settings: Mapping[str, str]) -> dict[str, Any]:
    return {**_COMMON, **_DEFAULTS, **settings, "bootstrap.servers": bootstrap,
            "client.id": client_id}


class _CKProducerAdapter(Producer):
    def __init__(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> None:
        self._p = _CKProducer(_config(bootstrap, client_id, settings))

    def warm_up(self, topic: str) -> None:
        self._p.list_topics(topic, timeout=30)

    def send(self, topic: str, key: bytes, value: bytes, on_ack: AckCallback) -> None:
        def delivered(err: Any, msg: Any) -> None:
            latency = msg.latency() if msg is not None else None
            on_ack(None if err is None else KafkaException(err), latency)

        try:
            self._p.produce(topic, value=value, key=key, on_delivery=delivered)
        except BufferError as exc:
            raise QueueFull(str(exc)) from exc

    def serve(self, timeout_s: float = 0.0) -> None:
        self._p.poll(timeout_s)

    def flush(self, timeout_s: float) -> None:
        self._p.flush(timeout_s)

    def close(self) -> None:
        self._p.flush(0)


class _CKConsumerAdapter(Consumer):
    def __init__(self, bootstrap: str, topic: str, client_id: str) -> None:
        self._c = _CKConsumer({
            "bootstrap.servers": bootstrap, "client.id": client_id,
            "group.id": f"frida-{topic}", "enable.auto.commit": False,
            "fetch.wait.max.ms": 10, "fetch.min.bytes": 1, **_COMMON,
        })
        meta = self._c.list_topics(topic, timeout=30)
        partitions = sorted(meta.topics[topic].partitions) if topic in meta.topics else []
        if not partitions:
            raise RuntimeError(f"topic {topic!r} has no partitions visible to the consumer")
        self._c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in partitions])

    def poll(self, timeout_s: float) -> list[bytes]:
        # consume(n, timeout) waits for n messages or the whole timeout, which at low rates
        # adds the timeout to every latency: wait for one message, then take what is queued
        first = self._c.poll(timeout_s)
        if first is None:
            return []
        msgs = [first, *self._c.consume(num_messages=10_000, timeout=0)]
        return [m.value() or b"" for m in msgs if m.error() is None]

    def close(self) -> None:
        self._c.close()


class ConfluentDriver(ClientDriver):
    name = "confluent-kafka"

    def check_settings(self, settings: Mapping[str, str]) -> None:
        # librdkafka validates names and values when a client is built; building one
        # starts no connection before it is polled, and the address is loopback anyway
        try:
            probe = _CKProducer({**_config("127.0.0.1:1", "frida-check", settings),
                                 "log_level": 0})
        except KafkaException as exc:
            raise DriverConfigError(f"confluent-kafka rejects the producer settings:"
                                    f" {exc.args[0].str()}") from None
        del probe

    def producer(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> Producer:
        return _CKProducerAdapter(bootstrap, client_id, settings)

    def consumer(self, bootstrap: str, topic: str, client_id: str) -> Consumer:
        return _CKConsumerAdapter(bootstrap, topic, client_id)
