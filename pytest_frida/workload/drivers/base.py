"""The driver interface the agents program against."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping

#: called with (error or None) once the broker answers for one message
AckCallback = Callable[[Exception | None], None]


class Producer(ABC):
    """One logical producer: its own client instance and broker connections."""

    @abstractmethod
    def warm_up(self, topic: str) -> None:
        """Connect and fetch the topic's metadata so the first send does not block."""

    @abstractmethod
    def send(self, topic: str, key: bytes, value: bytes, on_ack: AckCallback) -> None:
        """Queue one message without waiting for the broker."""

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
    def producer(self, bootstrap: str, client_id: str, settings: Mapping[str, object]) -> Producer:
        ...

    @abstractmethod
    def consumer(self, bootstrap: str, topic: str, client_id: str) -> Consumer: ...
