"""A consumer's lag: messages between its positions and the partitions' high watermarks,
sampled about once a second by a thread of its own (a watermark query is a broker round
trip, which must not stall the consumer's loop), and the step's figures from the samples.

The lag in time is taken with each sample (`time_lag_ns`): over the partitions still
holding messages the consumer has not read, the largest of the sample's instant minus the
intended send time of the newest message it had read from that partition (the step's start
when none yet); 0 when it has read everything written. It is how long ago, in the
schedule's time, the position it reads at was due (measure.slo documents the clause).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

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

    def __init__(
        self,
        consumer: Consumer,
        every_s: float = LAG_EVERY_S,
        time_lag: Callable[[int, dict[int, int]], int | None] | None = None,
    ) -> None:
        """`time_lag(now_ns, lags)`: the lag in time (ns) of per-partition lags `lags`
        at `now_ns`, None where it cannot be known yet; its samples go to `time_samples`."""
        self._consumer = consumer
        self._every_s = every_s
        self._time_lag = time_lag
        #: (wall time ns, lag in time ns) beside each sample that has one
        self.time_samples: list[tuple[int, int]] = []
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
                    # the positions as they stand once the query answered, at that instant
                    behind = self._time_lag(time.time_ns(), lags) if self._time_lag else None
                    if behind is not None:
                        self.time_samples.append((taken_ns, behind))
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


def time_lag_ns(
    now_ns: int, lags: Mapping[int, int], positions: Mapping[int, int], origin_ns: int
) -> int:
    """The lag in time at `now_ns`: over the partitions with messages unread (`lags`), the
    largest of `now_ns` minus the intended time of the newest message read from it
    (`positions`; `origin_ns`, the step's start, for one not read yet); 0 when none is
    behind. Never negative: a message read before its intended time (clocks) is not ahead."""
    behind = [now_ns - positions.get(p, origin_ns) for p, lag in lags.items() if lag > 0]
    return max(0, max(behind, default=0))


def time_lag_figures(samples: list[tuple[int, int]], window: Window) -> float | None:
    """The largest lag in time (ms) sampled over the window and at its end, as
    `lag_figures` takes them; None without a sample."""
    most, _, used = lag_figures(samples, window)
    return round(most / 1e6, 3) if used else None


def lag_series(
    samples: list[tuple[int, int]], time_samples: list[tuple[int, int]], t0_ns: int
) -> list[list[float | None]]:
    """The lag over the step: [seconds since `t0_ns`, messages, time lag ms or None] per
    sample taken from `t0_ns` on."""
    in_time = dict(time_samples)
    return [
        [
            round((t - t0_ns) / 1e9, 3),
            lag,
            round(in_time[t] / 1e6, 3) if t in in_time else None,
        ]
        for t, lag in samples
        if t >= t0_ns
    ]
