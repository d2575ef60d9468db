"""Polling a producer agent's clients for delivery reports, and the error bound that leaves
on its ack timestamps.

Publish latency is ack arrival minus actual send, with the arrival timestamped inside the
delivery callback, where the client hands the ack over. With kafka-python that is the
client's own sender thread as it reads the broker's answer: exact, error bound 0. With
confluent-kafka a report waits in librdkafka's queue until someone polls, so polling never
stops: while the scheduler is sending it polls every producer itself, at least every
millisecond (more rarely when polling them all costs more: at most about a ninth of its
time); before any sleep of over a millisecond it hands polling to the ack thread, which
polls every millisecond or so (again more rarely with many producers) until the scheduler
wakes. (That costs about 4% of a core per agent on our VM, where every wake-up from a
sleep costs some 40 us of CPU; the agent used to sleep until its next send.)
Polling stays with one thread at a time because a thread that polls while another runs
Python fights it for the GIL at every delivery callback: tried, a separate polling thread
cut the throughput of one producer to a third. The error bound (`publish_latency_error_ms`)
is the worst time between the start of one polling round and the end of the next, by
either thread, from the start of the measured window until the agent stops waiting for
acks: a report that arrives during or after a round is served, and timestamped, by the end
of the next one. A thread the host does not run for a while widens that gap, and the
bound with it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable

from pytest_frida.workload.drivers.base import Producer

#: a thread polling every producer does so at least this often ...
SERVE_EVERY_MIN_S = 0.001
#: ... but no more often than every SERVE_FACTOR times what a round with nothing to serve
#: costs, so polling itself (not the callbacks, which are work every ack needs) takes at
#: most about 1/(1 + SERVE_FACTOR) of a thread's time however many producers there are
SERVE_FACTOR = 8.0
#: ... and at least every this long
SERVE_EVERY_MAX_S = 0.02
#: the ack thread, polling for a sleeping scheduler, waits in a producer's poll for its
#: next delivery report at most this long before polling the others (a blocking poll
#: wakes when the report arrives: no wake-ups while none is due, which on a shared host
#: cost more CPU than the polling itself)
SERVE_BLOCK_S = 0.002
#: the scheduler hands polling to the ack thread for sleeps longer than this
HANDOVER_S = 0.001


class ServingGaps:
    """The error bound of ack timestamps taken where delivery reports are served in rounds.

    A report that reaches the client's queue during or after polling round k (which began
    at `start_k`) is served, and timestamped, by the end of round k+1 at the latest; so
    no timestamp is later than the ack's arrival by more than the worst
    `end_{k+1} - start_k`. Only the rounds ending at or after `from_ns` (the measured
    window's start: no measured message is acked before) count. Rounds may come from two
    threads (one at a time, but they may overlap where one hands over to the other): a
    round is measured from the latest start seen before it ended, which never shortens a
    gap."""

    def __init__(self, from_ns: int) -> None:
        self.from_ns = from_ns
        self.worst_ns = 0
        self.rounds = 0
        self._prev_start_ns: int | None = None

    def served(self, start_ns: int, end_ns: int, wall_end_ns: int, counts: bool = True) -> None:
        """One round polled every producer from `start_ns` to `end_ns` (a monotonic clock);
        it ended at wall time `wall_end_ns`. A round begun with no message pending
        (`counts` False) ends no gap a report could have waited through."""
        if counts and self._prev_start_ns is not None and wall_end_ns >= self.from_ns:
            self.worst_ns = max(self.worst_ns, end_ns - self._prev_start_ns)
            self.rounds += 1
        if self._prev_start_ns is None or start_ns > self._prev_start_ns:
            self._prev_start_ns = start_ns

    @property
    def error_ms(self) -> float:
        return self.worst_ns / 1e6


class Serving:
    """Polling the producers for delivery reports, by one thread at a time: the scheduler
    while it sends, the ack thread while the scheduler sleeps (`handed_over`) and once the
    schedule is done. `needed` is False when the client calls back on threads of its own.
    """

    def __init__(self, producers: Iterable[Producer], measure_start_ns: int) -> None:
        self.producers = list(producers)
        self.needed = not all(p.callbacks_on_own_thread for p in self.producers)
        self.gaps = ServingGaps(measure_start_ns)
        self.handed_over = threading.Event()
        self._lock = threading.Lock()
        #: what polling every producer costs when there is nothing to serve (ns), measured
        #: before the first send
        self.empty_round_ns = 0
        if self.needed:
            self.empty_round_ns = min(self._time_round() for _ in range(3))

    def _time_round(self) -> int:
        started = time.monotonic_ns()
        for producer in self.producers:
            producer.serve(0.0)
        return time.monotonic_ns() - started

    def round(
        self, wait_on: Producer | None = None, wait_s: float = 0.0, counts: bool = True
    ) -> int:
        """Poll every producer once, first waiting up to `wait_s` in `wait_on`'s poll for
        its next report; returns when the round ended (monotonic ns). A round begun with
        nothing pending (`counts` False) cannot have kept a report waiting."""
        started = time.monotonic_ns()
        if wait_on is not None:
            wait_on.serve(wait_s)
        for producer in self.producers:
            producer.serve(0.0)
        ended = time.monotonic_ns()
        with self._lock:
            self.gaps.served(started, ended, time.time_ns(), counts)
        return ended

    def every_ns(self, floor_s: float = SERVE_EVERY_MIN_S) -> int:
        """How long to leave between the end of a round and the next one."""
        return round(
            min(SERVE_EVERY_MAX_S * 1e9, max(floor_s * 1e9, SERVE_FACTOR * self.empty_round_ns))
        )

    @property
    def error_ms(self) -> float:
        return self.gaps.error_ms if self.needed else 0.0
