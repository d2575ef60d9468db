"""The driver interface the agents program against: one narrow seam per client library.

Producer settings use Kafka's own property names (`acks`, `linger.ms`, `batch.size`,
`compression.type`, `enable.idempotence`, ...); each driver maps them to its library.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence

#: called once the broker answered for one message, with the error or None. It runs where
#: the library hands the answer over (see `Producer.callbacks_on_own_thread`): whoever
#: wants the ack's time takes it inside the callback. Nothing from the library's own
#: latency bookkeeping is passed on (librdkafka's msg.latency() is "now minus enqueue
#: time" at the moment the report is served, so it measures how often we poll).
AckCallback = Callable[[Exception | None], None]


class DriverConfigError(ValueError):
    """Producer settings the client library rejects; the message names the setting."""


class QueueFull(Exception):
    """The client cannot take the message now (its local queue or buffer is full): the
    caller waits a little and retries. `send` raises it at once and never blocks."""


class Producer(ABC):
    """One logical producer: its own client instance and broker connections."""

    #: True when the library runs delivery callbacks on threads of its own as it reads the
    #: broker's answers (a timestamp taken in the callback is the ack's arrival); False
    #: when they run only inside `serve()`, on the thread that calls it
    callbacks_on_own_thread: bool = False

    @abstractmethod
    def warm_up(self, topic: str) -> None:
        """Connect and fetch the topic's metadata so the first send does not block."""

    @abstractmethod
    def send(
        self, topic: str, partition: int, key: bytes, value: bytes, on_ack: AckCallback
    ) -> None:
        """Queue one message for `partition` (named explicitly, never hashed from the key)
        without waiting for the broker; QueueFull, at once, when the client cannot take it
        now; any other exception is a refused message."""

    def serve(self, timeout_s: float = 0.0) -> int:
        """Run pending delivery callbacks, waiting up to `timeout_s` for some; returns how
        many ran (libraries that deliver them on the caller's thread need this called
        regularly; it may be called from another thread than `send`)."""
        if timeout_s > 0:
            time.sleep(timeout_s)
        return 0

    @property
    @abstractmethod
    def delivery_timeout_s(self) -> float:
        """The client's own delivery timeout in force: how long after a send it reports a
        message it could not deliver as failed (0: never, librdkafka's meaning of 0)."""

    @abstractmethod
    def flush(self, timeout_s: float) -> None:
        """Wait for outstanding messages (at most `timeout_s`)."""

    @abstractmethod
    def close(self) -> None: ...


class Consumer(ABC):
    """Reads some partitions of one topic (all of them when none are named) from the
    beginning.

    `poll` is the hot loop's only call; the rest is for measuring the consumer itself."""

    #: the partitions this consumer reads, ascending
    partitions: list[int]
    #: how many partitions the topic has
    topic_partitions: int
    #: seconds `poll` spent waiting for data to arrive, as opposed to handing over (and
    #: decoding) what had already arrived: the consumer's idle time
    wait_s: float = 0.0

    @abstractmethod
    def poll(self, timeout_s: float) -> list[bytes]:
        """Message values received since the last call (possibly none), waiting up to
        `timeout_s` for the first one."""

    @abstractmethod
    def lag(self) -> dict[int, int] | None:
        """Per partition read, the messages between this consumer's position and the
        partition's high watermark (None when the broker did not answer). Safe to call
        from another thread while `poll` runs; it may wait for a broker round trip."""

    @abstractmethod
    def received(self) -> dict[int, int]:
        """Records read so far per partition (offsets consumed); on the polling thread."""

    def hold(self, held: bool) -> None:
        """Stop fetching (True) or fetch again (False), on the polling thread: a drain
        step's consumer reads nothing before its drain, not even into the client's own
        buffers, so the drain measures reading from the cluster."""
        raise NotImplementedError(f"{type(self).__name__} cannot hold its fetches")

    @abstractmethod
    def close(self) -> None: ...


def choose_partitions(
    topic: str, available: Iterable[int], wanted: Sequence[int] | None
) -> tuple[list[int], int]:
    """(the partitions a consumer reads, the topic's partition count): `wanted` (None:
    all), checked against the partitions the metadata lists."""
    have = sorted(available)
    if not have:
        raise RuntimeError(f"topic {topic!r} has no partitions visible to the consumer")
    chosen = have if wanted is None else sorted(set(wanted))
    if not chosen or not set(chosen) <= set(have):
        raise RuntimeError(
            f"topic {topic!r} has partitions {have[0]}..{have[-1]}; asked to"
            f" read {list(wanted or [])}"
        )
    return chosen, len(have)


class ClientDriver(ABC):
    name: str

    @abstractmethod
    def check_settings(self, settings: Mapping[str, str]) -> None:
        """Raise DriverConfigError for settings this library rejects (no broker needed)."""

    @abstractmethod
    def producer(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> Producer: ...

    @abstractmethod
    def consumer(
        self, bootstrap: str, topic: str, client_id: str, partitions: Sequence[int] | None = None
    ) -> Consumer:
        """A consumer of `partitions` of `topic` (None: all), each read from its start."""
