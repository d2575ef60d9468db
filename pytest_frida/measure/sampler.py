"""A background thread that reads a cluster's resource counters once a second.

It never blocks a step: a read that fails is noted and the next one is tried a second
later; a read that hangs delays only this thread. The step takes what was read when it
stops the sampler.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from pytest_frida.measure.resources import Reading

#: seconds between readings
INTERVAL_S = 1.0

#: the key under which a source may give the time its counters were read
STAMP = "_at"

ReadFn = Callable[[], Mapping[str, Mapping[str, float]]]


class ResourceSampler:
    """Calls `read` every `interval` seconds from `start` to `stop`; `read` returns the
    counters of each source it could read, by source name."""

    def __init__(self, read: ReadFn, interval: float = INTERVAL_S) -> None:
        self._read = read
        self._interval = interval
        self._readings: dict[str, list[Reading]] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        #: the last read that raised, in words, and how many did
        self.error: str | None = None
        self.failures = 0

    def start(self) -> None:
        self._take()  # a reading at the start, so the first interval is a whole one
        self._thread = threading.Thread(target=self._loop, name="frida-resources", daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        next_at = time.monotonic() + self._interval
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            self._take()
            next_at += self._interval
            if next_at < time.monotonic():  # a slow read: skip, never catch up in a burst
                next_at = time.monotonic() + self._interval

    def _take(self) -> None:
        at = time.time()
        try:
            sources = self._read()
        except Exception as exc:  # a reading lost is a gap in the series, not a failure
            self.failures += 1
            self.error = f"{type(exc).__name__}: {exc}"
            return
        for source, counters in sources.items():
            values = dict(counters)
            # a source read later in the round says when: sources are read one by one
            stamp = values.pop(STAMP, at)
            self._readings.setdefault(source, []).append((stamp, values))

    def stop(self) -> dict[str, list[Reading]]:
        """Stop (after one last reading) and return every source's readings."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10.0)
        if self._thread is None or not self._thread.is_alive():
            self._take()
        return {source: list(readings) for source, readings in list(self._readings.items())}
