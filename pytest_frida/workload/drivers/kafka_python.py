"""kafka-python: pure Python, no native dependency; tens of thousands msg/s per core.

Delivery callbacks run on each producer's own sender thread, as it parses the broker's
produce response: a timestamp taken in the callback is when the client learnt of the ack,
with no poll cadence in between, so the agent reports an error bound of 0 for it (what
passes between the response reaching the socket and that thread parsing it, GIL waits
included, is the client's own latency, as it is inside librdkafka's broker threads).

`send()` must never block the agent's scheduler: kafka-python waits up to `max_block_ms`
(60 s by default) inside send() for metadata, and in releases that bound their buffer
(`buffer_memory`) for room in it. We default it to 0 (unless set): send() then raises
KafkaTimeoutError at once, the driver turns that into QueueFull and the agent counts its
wait and retry as back-pressure, never as generator work. (kafka-python 3's accumulator
is unbounded: there, a broker slower than the schedule grows memory and expires batches
after `delivery_timeout_ms` instead of filling a queue.)
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Mapping, Sequence
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
    choose_partitions,
)

_DEFAULTS: dict[str, str] = {"acks": "all", "retries": "5", "max.block.ms": "0"}
#: how long warm_up waits for the topic's metadata (send() itself never waits)
_WARM_UP_MAX_BLOCK_MS = 30_000
#: a lag query (end offsets) gives up after this long (the broker may be down)
_LAG_QUERY_TIMEOUT_MS = 2000
_INT_KEYS = {
    "linger_ms",
    "batch_size",
    "retries",
    "buffer_memory",
    "max_in_flight_requests_per_connection",
    "request_timeout_ms",
    "delivery_timeout_ms",
    "max_block_ms",
    "max_request_size",
    "send_buffer_bytes",
    "receive_buffer_bytes",
    "retry_backoff_ms",
}


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
                raise DriverConfigError(
                    f"kafka-python setting {key}={raw!r}: expected a whole number"
                ) from None
        config[name] = value
    if config.get("acks") not in ("all", 0, 1, -1):
        raise DriverConfigError(
            f"kafka-python setting acks={settings.get('acks')!r}: expected 0, 1, all or -1"
        )
    return config


class _KPProducer(Producer):
    callbacks_on_own_thread = True

    def __init__(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> None:
        self._p = KafkaProducer(
            bootstrap_servers=bootstrap, client_id=client_id, **_convert(settings)
        )

    def warm_up(self, topic: str) -> None:
        # partitions_for() waits up to max_block_ms, which send() needs at 0: the metadata
        # may take a while here, before the schedule starts
        config = self._p.config
        max_block_ms = config["max_block_ms"]
        config["max_block_ms"] = max(max_block_ms, _WARM_UP_MAX_BLOCK_MS)
        try:
            self._p.partitions_for(topic)
        finally:
            config["max_block_ms"] = max_block_ms

    def send(
        self, topic: str, partition: int, key: bytes, value: bytes, on_ack: AckCallback
    ) -> None:
        try:
            future = self._p.send(topic, value=value, key=key, partition=partition)
        except KafkaTimeoutError as exc:  # no room or no metadata, with max_block_ms=0
            raise QueueFull(str(exc)) from exc
        future.add_callback(lambda _meta: on_ack(None))
        future.add_errback(on_ack)

    @property
    def delivery_timeout_s(self) -> float:
        return float(self._p.config["delivery_timeout_ms"]) / 1000.0

    def flush(self, timeout_s: float) -> None:
        # a flush that times out is fine: the caller counts unacknowledged messages
        with contextlib.suppress(Exception):
            self._p.flush(timeout=timeout_s)

    def close(self) -> None:
        self._p.close(timeout=5)


class _KPConsumer(Consumer):
    def __init__(
        self, bootstrap: str, topic: str, client_id: str, partitions: Sequence[int] | None = None
    ) -> None:
        self._config: dict[str, Any] = {
            "bootstrap_servers": bootstrap,
            "group_id": None,
            "enable_auto_commit": False,
        }
        self._c = KafkaConsumer(
            client_id=client_id,
            fetch_min_bytes=1,
            fetch_max_wait_ms=50,
            max_poll_records=10_000,
            **self._config,
        )
        self._client_id = client_id
        self.partitions, self.topic_partitions = choose_partitions(
            topic, self._c.partitions_for_topic(topic) or (), partitions
        )
        self._tps = [TopicPartition(topic, p) for p in self.partitions]
        self._c.assign(self._tps)
        self._c.seek_to_beginning(*self._tps)
        self.wait_s = 0.0
        #: per partition, the next offset to read (-1: nothing read yet) and records read;
        #: the keys never change, so the lag thread may copy the first at any time
        self._positions = dict.fromkeys(self.partitions, -1)
        self._counts = dict.fromkeys(self.partitions, 0)
        #: a client of its own for lag queries: KafkaConsumer is not thread-safe
        self._probe: KafkaConsumer | None = None
        self._probe_lock = threading.Lock()
        self._closed = False

    def hold(self, held: bool) -> None:
        (self._c.pause if held else self._c.resume)(*self._tps)

    def poll(self, timeout_s: float) -> list[bytes]:
        # wait for one record (the idle time), then take what has arrived: a poll that
        # waits decodes what it got inside the wait, so it asks for one record only
        started = time.perf_counter()
        first = self._c.poll(timeout_ms=int(timeout_s * 1000), max_records=1)
        self.wait_s += time.perf_counter() - started
        if not first:
            return []
        values: list[bytes] = []
        positions, counts = self._positions, self._counts
        for batches in (first, self._c.poll(timeout_ms=0)):
            for tp, records in batches.items():
                values.extend(rec.value for rec in records)
                positions[tp.partition] = records[-1].offset + 1
                counts[tp.partition] += len(records)
        return values

    def lag(self) -> dict[int, int] | None:
        with self._probe_lock:
            if self._closed:
                return None
            try:
                if self._probe is None:
                    self._probe = KafkaConsumer(client_id=f"{self._client_id}-lag", **self._config)
                positions = dict(self._positions)
                ends = self._probe.end_offsets(self._tps, timeout_ms=_LAG_QUERY_TIMEOUT_MS)
                starts: dict[TopicPartition, int] = {}
                if any(p < 0 for p in positions.values()):
                    starts = self._probe.beginning_offsets(
                        self._tps, timeout_ms=_LAG_QUERY_TIMEOUT_MS
                    )
            except Exception:  # the broker did not answer in time: no sample
                return None
        out = {}
        for tp in self._tps:
            position = positions[tp.partition]
            out[tp.partition] = max(
                0, int(ends[tp]) - (position if position >= 0 else int(starts[tp]))
            )
        return out

    def received(self) -> dict[int, int]:
        return dict(self._counts)

    def close(self) -> None:
        with self._probe_lock:
            self._closed = True
            if self._probe is not None:
                with contextlib.suppress(Exception):
                    self._probe.close()
        self._c.close()


class KafkaPythonDriver(ClientDriver):
    name = "kafka-python"

    def check_settings(self, settings: Mapping[str, str]) -> None:
        _convert(settings)

    def producer(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> Producer:
        return _KPProducer(bootstrap, client_id, settings)

    def consumer(
        self, bootstrap: str, topic: str, client_id: str, partitions: Sequence[int] | None = None
    ) -> Consumer:
        return _KPConsumer(bootstrap, topic, client_id, partitions)
