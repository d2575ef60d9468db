"""The driver interface the agents program against: one narrow seam per client library.

Producer settings use Kafka's own property names (`acks`, `linger.ms`, `batch.size`,
`compression.type`, `enable.idempotence`, ...); each driver maps them to its library.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

#: called once the broker answered for one message: (error or None, ack latency in seconds
#: as measured by the client library, or None when the library does not measure it)
AckCallback = Callable[[Exception | None, float | None], None]


class DriverConfigError(ValueError):
    """Producer settings the client library rejects; the message names the setting."""


class QueueFull(Exception):
    """The client's local send queue is full; serve callbacks and retry."""


class Producer(ABC):
    """One logical producer: its own client instance and broker connections."""

    @abstractmethod
    def warm_up(self, topic: str) -> None:
        """Connect and fetch the topic's metadata so the first send does not block."""

    @abstractmethod
    def send(self, topic: str, key: bytes, value: bytes, on_ack: AckCallback) -> None:
        """Queue one message without waiting for the broker; QueueFull when it cannot."""

    def serve(self, timeout_s: float = 0.0) -> None:
        """Run pending delivery callbacks, waiting up to `timeout_s` for some (libraries
        that deliver them on the caller's thread need this called regularly)."""
        if timeout_s > 0:
            time.sleep(timeout_s)

    @abstractmethod
    def flush(self, timeout_s: float) -> None:
        """Wait for outstanding messages (at most `timeout_s`)."""

    @abstractmethod
    def close(self) -> None: ...


class Consumer(ABC):
    """Reads every partition of one topic from the beginning."""

    @abstractmethod
    def poll(self, timeout_s: float) -> list[bytes]:
        """Message values received since the last call (possibly none)."""

    @abstractmethod
    def close(self) -> None: ...


class ClientDriver(ABC):
    name: str

    @abstractmethod
    def check_settings(self, settings: Mapping[str, str]) -> None:
        """Raise DriverConfigError for settings this library rejects (no broker needed)."""

    @abstractmethod
    def producer(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> Producer:
        ...

    @abstractmethod
    def consumer(self, bootstrap: str, topic: str, client_id: str) -> Consumer: ...
