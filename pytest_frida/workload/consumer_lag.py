"""A consumer's lag: messages between its positions and the partitions' high watermarks,
sampled about once a second by a thread of its own (a watermark query is a broker round
trip, which must not stall the consumer's loop), and the step's figures from the samples.
"""

from __future__ import annotations

import threading
import time

from pytest_frida.workload.drivers.base import Consumer
from pytest_frida.workload.schedule import Window

#: seconds between lag samples
LAG_EVERY_S = 1.0
#: at most this long for the last lag sample after the drain, and again for the sampler to
#: stop (the controller's deadline leaves 30 s past the drain's cap)
LAG_WAIT_CAP_S = 8.0


class LagSampler:
    """Samples the consumer's lag on a thread of its own: about once a second, and at once
    when asked (`now()`). Samples are (wall time ns when taken, lag summed over the
    partitions); a query the broker did not answer leaves no sample and counts in
    `failed`."""

    def __init__(self, consumer: Consumer, every_s: float = LAG_EVERY_S) -> None:
        self._consumer = consumer
        self._every_s = every_s
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._taken = threading.Condition()
        self.samples: list[tuple[int, int]] = []
        self.failed = 0
        self._thread = threading.Thread(target=self._run, name="frida-lag", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def now(self) -> None:
        self._wake.set()

    @property
    def latest(self) -> int | None:
        return self.samples[-1][1] if self.samples else None

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # a `now()` during the query asks for the next one at once
            taken_ns = time.time_ns()
            lags = self._consumer.lag()
            with self._taken:
                if lags is None:
                    self.failed += 1
                else:  # kept even when stopping: the query answered, the figure is true
                    self.samples.append((taken_ns, sum(lags.values())))
                self._taken.notify_all()
            self._wake.wait(self._every_s)

    def sample_after(self, after_ns: int, timeout_s: float) -> bool:
        """Ask for a sample taken at or after `after_ns` and wait for it, `timeout_s` at
        most: the lag at a window's end is a figure of the step, not a matter of timing.
        False when none came (the broker did not answer in time)."""
        deadline = time.monotonic() + timeout_s
        with self._taken:
            while not (self.samples and self.samples[-1][0] >= after_ns):
                left = deadline - time.monotonic()
                if left <= 0 or not self._thread.is_alive():
                    return False
                self._wake.set()
                self._taken.wait(min(left, self._every_s))
        return True

    def stop(self, timeout_s: float) -> bool:
        """Stop sampling; False when a query is still running after `timeout_s`."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        return not self._thread.is_alive()


def lag_figures(samples: list[tuple[int, int]], window: Window) -> tuple[int, int, int]:
    """(lag_max, lag_end, samples used): the largest lag sampled inside the window or at its
    end, the first sample at or after its end (else the last one inside), and how many
    samples that was (0: no figure, both are 0)."""
    inside = [lag for t, lag in samples if window.measure_start_ns <= t < window.end_ns]
    after = [lag for t, lag in samples if t >= window.end_ns]
    end = after[0] if after else (inside[-1] if inside else None)
    used = inside + ([end] if after and end is not None else [])
    return max(used, default=0), end if end is not None else 0, len(used)
