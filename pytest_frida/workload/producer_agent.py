"""Producer agent: runs a shard of logical producers on an open-model schedule.

Each logical producer is its own client instance with its own connections (the broker's
cost per producer is what a capacity test measures). Two threads share the work:

* the scheduler (the main thread) walks the merged schedule of all producers in this
  process; per message it builds the tick, hands it to its client and notes it;
* the ack thread turns acks into counts and latencies, folds the histograms in bounded
  slices and reports progress, so none of that ever holds up a send.

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

Every message ends up in exactly one of acked, failed (an error ack or a send the client
refused) and unacked (no answer when the agent stopped waiting); the partition of message
`seq` of producer `pid` is `lane_of(pid, seq, partitions)`, named explicitly in the send.

With rate 0 the agent sends as fast as the client takes messages (a throughput probe):
then the intended send time is the actual one and publish delay is meaningless.
"""

from __future__ import annotations

import collections
import itertools
import resource
import sys
import threading
import time
from array import array
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pytest_frida.measure.histogram import BufferedRecorder, LatencyHistogram
from pytest_frida.workload import protocol
from pytest_frida.workload.drivers import load_driver
from pytest_frida.workload.drivers.base import Producer, QueueFull
from pytest_frida.workload.limits import check_thread_limit, raise_fd_limit
from pytest_frida.workload.messages import HEADER_SIZE, instrument_key, pack_header
from pytest_frida.workload.schedule import LATE_LIMIT_S, NS, Schedule, Window

# producer, seq, sent_ns, ack_ns, measured (intended in the window), error
_AckEvent = tuple[int, int, int, int, bool, Exception | None]

#: latencies are folded into histograms this many at a time (a millisecond or two of work)
FOLD_SLICE = 16_384
#: acks handled at a go (about 1.4 us each) before the ack thread lets the scheduler run
ACK_SLICE = 1_024
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
#: the ack thread does the books this often when it does not poll (a wake-up costs CPU)
BOOKS_IDLE_S = 0.01
#: the scheduler waits this long before retrying a message the client could not take
QUEUE_FULL_WAIT_S = 0.0005
#: how long the agent waits for outstanding acks once the schedule is done (config key
#: `flush_timeout`); the client's own delivery timeout may be longer
FLUSH_TIMEOUT_S = 30.0


def _cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def scheduler_busy(measured_wall_s: float, waited_s: float) -> float:
    """The share of the measured wall time the scheduler thread had no slack: it was neither
    sleeping until its next send nor waiting for the client to take a message (`waited_s`
    holds those waits). The rest it spent running, waiting for a CPU (a shared host) or
    waiting for the GIL (client threads in pure Python, the ack thread): a loop with no
    slack cannot keep a faster schedule, whatever holds it back."""
    if measured_wall_s <= 0:
        return 0.0
    return min(1.0, max(0.0, 1.0 - waited_s / measured_wall_s))


def partition_counts(sent: Mapping[int, int], partitions: int) -> dict[int, int]:
    """Messages per partition when producer `pid` sent its messages 0..sent[pid]-1, each to
    `lane_of(pid, seq, partitions)`: round robin from partition pid % partitions."""
    counts = dict.fromkeys(range(partitions), 0)
    for pid, n in sent.items():
        whole, extra = divmod(n, partitions)
        for lane in range(partitions):
            counts[lane] += whole
        for i in range(extra):
            counts[(pid + i) % partitions] += 1
    return counts


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


class HandoffRecorder:
    """Latencies (us) appended by one thread, folded into a histogram by another.

    The owner appends to its own array; a full one is handed over whole through a deque
    (the only object both threads touch) and the other thread folds it, so the owner
    never stops for a fold."""

    def __init__(self, limit: int | None = None) -> None:
        self.hist = LatencyHistogram()
        self._buf = array("q")
        self._full: collections.deque[array[int]] = collections.deque()
        self._limit = FOLD_SLICE if limit is None else limit

    def add(self, value_us: int) -> None:
        """On the owning thread."""
        buf = self._buf
        buf.append(value_us)
        if len(buf) >= self._limit:
            self._full.append(buf)
            self._buf = array("q")

    def fold_one(self) -> bool:
        """On the folding thread: fold one handed-over array, if any."""
        try:
            buf = self._full.popleft()
        except IndexError:
            return False
        self.hist.record_batch_us(buf)
        return True

    def fold(self) -> LatencyHistogram:
        """Once the owner is done: fold everything and return the histogram."""
        while self.fold_one():
            pass
        if self._buf:
            self.hist.record_batch_us(self._buf)
            self._buf = array("q")
        return self.hist


def _max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


class _Serving:
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


class _Shard:
    """The producers of this agent and what happened to their messages.

    Written by the scheduler: `sent`, `pending` (added to), `queue_*`, `publish_delay`,
    `sends_in_window`. Written by the ack thread: everything an ack changes. An ack comes
    to the ack thread through the `acks` deque, whichever thread the client called back on.
    """

    def __init__(
        self, producers: dict[int, Producer], window: Window, size: int, partitions: int
    ) -> None:
        self.producers = producers
        self.serving = _Serving(producers.values(), window.measure_start_ns)
        self.partitions = partitions
        #: per producer, its instrument key on each partition (lane)
        self.keys = {
            pid: [instrument_key(pid, lane) for lane in range(partitions)] for pid in producers
        }
        self.padding = bytes(size - HEADER_SIZE)
        self.window = window
        self.acks: collections.deque[_AckEvent] = collections.deque()
        self.pending: dict[int, set[int]] = {pid: set() for pid in producers}
        self.failed: dict[int, list[int]] = {pid: [] for pid in producers}
        self.sent = dict.fromkeys(producers, 0)
        self.publish_delay = HandoffRecorder()
        self.publish_latency = BufferedRecorder(limit=FOLD_SLICE)
        self.acked_total = self.acks_in_window = self.sends_in_window = 0
        self.queue_full = 0
        #: seconds spent waiting for a full client queue (back-pressure, not generator work)
        self.queue_wait_s = 0.0
        #: called with the wall time after each such wait (measuring may start during one)
        self.waited: Callable[[int], None] = lambda now_ns: None

    def a_pending_producer(self) -> Producer | None:
        """A producer with a message awaiting its report (None: nothing is pending)."""
        for pid, seqs in self.pending.items():
            if seqs:
                return self.producers[pid]
        return None

    def handle_acks(self, limit: int) -> int:
        """Account for at most `limit` acks (on the ack thread); returns how many."""
        acks, pending, failed = self.acks, self.pending, self.failed
        latency = self.publish_latency
        start, end = self.window.measure_start_ns, self.window.end_ns
        handled = acked = in_window = 0
        while handled < limit:
            try:
                pid, seq, sent_ns, ack_ns, measured, error = acks.popleft()
            except IndexError:
                break
            handled += 1
            pending[pid].discard(seq)
            if error is not None:
                failed[pid].append(seq)
                continue
            acked += 1
            if start <= ack_ns < end:
                in_window += 1
            if measured:
                latency.add((ack_ns - sent_ns) // 1000)
        self.acked_total += acked
        self.acks_in_window += in_window
        return handled

    def send(
        self, topic: str, pid: int, seq: int, intended_ns: int, measured: bool, give_up_ns: int
    ) -> int | None:
        """Queue message `seq` of producer `pid`; returns the actual send time (ns), or None
        when the client still could not take it at `give_up_ns` (then it was not sent)."""
        producer, acks, pending = self.producers[pid], self.acks, self.pending[pid]
        lane = (pid + seq) % self.partitions  # lane_of(pid, seq, partitions), inlined
        key = self.keys[pid][lane]
        pending.add(seq)  # before the send: its ack may be handled before send() returns
        while True:
            sent_ns = time.time_ns()
            value = pack_header(pid, seq, intended_ns or sent_ns, sent_ns) + self.padding

            def on_ack(
                error: Exception | None,
                pid: int = pid,
                seq: int = seq,
                sent_ns: int = sent_ns,
                measured: bool = measured,
            ) -> None:
                acks.append((pid, seq, sent_ns, time.time_ns(), measured, error))

            try:
                producer.send(topic, lane, key, value, on_ack)
                break
            except QueueFull:
                # the client holds as much as it may: let it deliver (its queue only
                # shrinks as reports are served), wait a little, try again
                self.queue_full += 1
                if sent_ns > give_up_ns:
                    pending.discard(seq)
                    return None
                waited = time.monotonic()
                if self.serving.needed:
                    self.serving.round()
                time.sleep(QUEUE_FULL_WAIT_S)
                self.queue_wait_s += time.monotonic() - waited
                self.waited(time.time_ns())
            except Exception as exc:  # a refused send is a failed message
                on_ack(exc)
                break
        self.sent[pid] += 1
        return sent_ns


class _AckThread:
    """Does the books, folds the histograms in slices and reports progress, off the
    scheduler's thread; polls the producers when the scheduler hands that over."""

    def __init__(self, shard: _Shard) -> None:
        self.shard = shard
        self.serving = shard.serving
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="frida-acks", daemon=True)
        self.failure: BaseException | None = None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Poll once more, handle every ack queued so far, then stop."""
        self._stop.set()
        self.serving.handed_over.set()
        self._thread.join()
        if self.failure is not None:
            raise RuntimeError(f"the ack thread failed: {self.failure!r}") from self.failure

    def _run(self) -> None:
        try:
            self._loop()
        except BaseException as exc:  # reported by stop(), on the main thread
            self.failure = exc

    def _loop(self) -> None:
        shard, serving = self.shard, self.serving
        next_progress = time.monotonic() + 1.0
        while True:
            stopping = self._stop.is_set()  # one last full round after the stop
            polling = serving.needed and serving.handed_over.is_set()
            waiter = shard.a_pending_producer() if polling else None
            if polling:
                serving.round(
                    waiter, serving.every_ns(SERVE_BLOCK_S) / 1e9, counts=waiter is not None
                )
            handled = shard.handle_acks(ACK_SLICE)
            if handled < ACK_SLICE:
                shard.publish_delay.fold_one()
            if stopping and not shard.acks:
                return
            now = time.monotonic()
            if now >= next_progress:
                protocol.emit("progress", sent=sum(shard.sent.values()), acked=shard.acked_total)
                next_progress = now + 1.0
            if stopping:
                continue
            if handled == ACK_SLICE:
                time.sleep(0)  # more acks wait: let the scheduler have the GIL first
            elif polling and waiter is None:  # nothing can be acked before the next send,
                # which the scheduler polls for itself
                time.sleep(BOOKS_IDLE_S)
            else:  # woken at once when the scheduler hands polling over
                serving.handed_over.wait(BOOKS_IDLE_S)


class _Effort:
    """When measuring started (CPU, wall clock, queue waits at that moment) and the slack
    since: schedule sleeps and queue waits, which are not work."""

    def __init__(self, window: Window, shard: _Shard) -> None:
        self.window = window
        self.shard = shard
        self.cpu_at_measure: float | None = None
        self.wall_at_measure = 0.0
        self.queue_wait_at_measure = 0.0
        self.slack_s = 0.0

    def tick(self, intended_ns: int) -> None:
        """Measuring starts with the window's wall time, or with its first message when the
        schedule is ahead: a generator too far behind to reach the window is measured too."""
        if (
            self.cpu_at_measure is None
            and max(intended_ns, time.time_ns()) >= self.window.measure_start_ns
        ):
            self.cpu_at_measure, self.wall_at_measure = _cpu_seconds(), time.monotonic()
            self.queue_wait_at_measure = self.shard.queue_wait_s


class _Unsent:
    """Intended messages never sent, with their lateness when the agent gave up."""

    def __init__(self, window: Window) -> None:
        self.window = window
        self.count = self.in_window = 0
        self.delay = BufferedRecorder()

    def leave(self, intended: Iterable[int], now_ns: int) -> None:
        """Still this far behind when the step is over: the rest is never sent (the step
        would take as many times its length as the schedule is too fast). Each counts with
        the delay it has reached, a lower bound, so no percentile improves by what was left
        out."""
        for late_ns in intended:
            self.count += 1
            if self.window.measured(late_ns):
                self.in_window += 1
                self.delay.add((now_ns - late_ns) // 1000)


def _partitions(config: dict[str, Any]) -> int:
    if "partitions" not in config:
        raise ValueError(
            "the producer agent's config names no 'partitions' (the topic's partition count)"
        )
    partitions = int(config["partitions"])
    if partitions < 1:
        raise ValueError(f"partitions={partitions}: a topic has at least one partition")
    return partitions


def _open_producers(config: dict[str, Any], ids: range) -> dict[int, Producer]:
    """One client per producer id, each warmed up on the topic, opened in parallel."""
    driver = load_driver(config["client"])
    settings = config.get("producer_settings", {})
    raise_fd_limit(len(ids))
    check_thread_limit(len(ids))

    def make(pid: int) -> Producer:
        producer = driver.producer(config["bootstrap"], f"frida-p{pid}", settings)
        producer.warm_up(config["topic"])
        return producer

    with ThreadPoolExecutor(max_workers=min(16, len(ids))) as pool:
        return dict(zip(ids, pool.map(make, ids), strict=True))


def _send_schedule(
    config: dict[str, Any], ids: range, shard: _Shard, effort: _Effort, unsent: _Unsent
) -> int:
    """Send each message at its intended time (open model); the last send's delay (us)."""
    window, topic, serving = shard.window, config["topic"], shard.serving
    poll = serving.needed
    next_serve_ns = 0  # monotonic: when the scheduler polls the producers next
    last_delay_us = 0
    schedule = Schedule(float(config["rate"]), int(config["total_producers"]), window)
    give_up_ns = window.end_ns + round(LATE_LIMIT_S * NS)
    pending_sends = schedule.merged(ids)
    for intended_ns, pid, seq in pending_sends:
        now_ns = time.time_ns()
        if now_ns <= give_up_ns:
            delay = (intended_ns - now_ns) / 1e9
            if delay > 0.0002:
                slept = time.monotonic()
                if poll and delay > HANDOVER_S:  # the ack thread polls meanwhile
                    serving.handed_over.set()
                    time.sleep(delay)
                    serving.handed_over.clear()
                    next_serve_ns = 0
                else:
                    time.sleep(delay)
                if effort.cpu_at_measure is not None:
                    effort.slack_s += time.monotonic() - slept
            if poll and time.monotonic_ns() >= next_serve_ns:
                next_serve_ns = serving.round() + serving.every_ns()
            effort.tick(intended_ns)
            measured = window.measured(intended_ns)
            sent_ns = shard.send(topic, pid, seq, intended_ns, measured, give_up_ns)
            if sent_ns is not None:
                if measured:
                    shard.sends_in_window += 1
                    last_delay_us = (sent_ns - intended_ns) // 1000
                    shard.publish_delay.add(last_delay_us)
                continue
            now_ns = time.time_ns()  # the client never took it: unsent, like the rest
        unsent.leave(itertools.chain([intended_ns], (t for t, _, _ in pending_sends)), now_ns)
        return (now_ns - intended_ns) // 1000
    return last_delay_us


def _send_flat_out(config: dict[str, Any], ids: range, shard: _Shard, effort: _Effort) -> None:
    """rate 0, a throughput probe: send as fast as the clients take, until a queue is full
    or the window ends."""
    window, topic, serving = shard.window, config["topic"], shard.serving
    poll = serving.needed
    next_serve_ns = 0
    while time.time_ns() < window.t0_ns:
        time.sleep(0.001)
    seqs = dict.fromkeys(ids, 0)
    full = False
    per_batch = max(1, 64 // len(ids))
    while not full and (now_ns := time.time_ns()) < window.end_ns:
        effort.tick(now_ns)
        if poll and time.monotonic_ns() >= next_serve_ns:
            next_serve_ns = serving.round() + serving.every_ns()
        measured = window.measured(now_ns)
        for _ in range(per_batch):  # the clock, the books and polling every ~64 sends
            for pid in ids:
                if shard.send(topic, pid, seqs[pid], 0, measured, window.end_ns) is None:
                    full = True
                    break
                seqs[pid] += 1
                if measured:
                    shard.sends_in_window += 1
            if full:
                break


def run(config: dict[str, Any]) -> None:
    first, count = int(config["first_producer"]), int(config["producer_count"])
    ids = range(first, first + count)
    size = int(config["message_size"])  # a bad config fails before "ready", not mid-load
    partitions = _partitions(config)
    producers = _open_producers(config, ids)
    protocol.emit("ready", producers=count, rss_mib=_max_rss_mib())

    start = protocol.read_message()
    window = Window.of(int(start["t0_ns"]), float(config["warmup"]), float(config["duration"]))
    shard = _Shard(producers, window, size, partitions)
    acker = _AckThread(shard)
    acker.start()
    effort = _Effort(window, shard)
    shard.waited = effort.tick
    unsent = _Unsent(window)
    last_delay_us = 0
    if float(config["rate"]) > 0:
        last_delay_us = _send_schedule(config, ids, shard, effort, unsent)
    else:
        _send_flat_out(config, ids, shard, effort)
    _finish(config, ids, producers, shard, acker, effort, unsent, last_delay_us, partitions)


def _finish(
    config: dict[str, Any],
    ids: range,
    producers: dict[int, Producer],
    shard: _Shard,
    acker: _AckThread,
    effort: _Effort,
    unsent: _Unsent,
    last_delay_us: int,
    partitions: int,
) -> None:
    """Wait for the outstanding acks (bounded), report, close the clients."""
    serving = shard.serving
    end_cpu, end_wall = _cpu_seconds(), time.monotonic()
    sending_ended_ns = time.time_ns()
    queue_wait_s = (
        shard.queue_wait_s - effort.queue_wait_at_measure
        if effort.cpu_at_measure is not None
        else 0.0
    )
    slack_s = effort.slack_s + queue_wait_s
    serving.handed_over.set()  # the ack thread polls from now on
    # wait for the outstanding acks: at most flush_timeout, however long the client's own
    # delivery timeout (the ack thread keeps polling and counting meanwhile)
    flush_deadline = time.monotonic() + float(config.get("flush_timeout", FLUSH_TIMEOUT_S))
    for producer in producers.values():
        producer.flush(max(0.0, flush_deadline - time.monotonic()))
    while any(shard.pending.values()) and time.monotonic() < flush_deadline:
        time.sleep(0.005)  # flushed, but acks may still be on their way to the books
    acker.stop()  # after one last round of serving
    gave_up_ns = time.time_ns()
    delivery_timeout_s = next(iter(producers.values())).delivery_timeout_s
    still_pending = any(shard.pending.values())
    measured_wall = end_wall - effort.wall_at_measure
    measured = effort.cpu_at_measure is not None and measured_wall > 0
    cpu_share = (end_cpu - (effort.cpu_at_measure or 0.0)) / measured_wall if measured else 0.0
    busy = scheduler_busy(measured_wall, slack_s) if measured else 0.0
    protocol.emit(
        "result",
        producers={
            str(pid): {
                "sent": shard.sent[pid],
                "failed": sorted(shard.failed[pid]),
                "unacked": sorted(shard.pending[pid]),
            }
            for pid in ids
        },
        gave_up_ns=gave_up_ns,
        delivery_timeout_s=delivery_timeout_s,
        # (librdkafka reads a delivery timeout of 0 as none at all)
        gave_up_early=still_pending
        and (delivery_timeout_s <= 0 or (gave_up_ns - sending_ended_ns) / 1e9 < delivery_timeout_s),
        intended_in_window=shard.sends_in_window + unsent.in_window,
        sends_in_window=shard.sends_in_window,
        acks_in_window=shard.acks_in_window,
        publish_delay=shard.publish_delay.fold().encode(),
        unsent=unsent.count,
        unsent_delay=unsent.delay.fold().encode(),
        publish_latency=shard.publish_latency.fold().encode(),
        publish_latency_error_ms=serving.error_ms,
        final_publish_delay_ms=last_delay_us / 1000.0,
        cpu_share=cpu_share,
        scheduler_busy=busy,
        queue_wait_s=queue_wait_s,
        queue_full=shard.queue_full,
        rss_mib=_max_rss_mib(),
        errors=sum(len(f) for f in shard.failed.values()),
        partition_sent={str(p): n for p, n in partition_counts(shard.sent, partitions).items()},
    )
    with ThreadPoolExecutor(max_workers=min(16, len(ids))) as pool:
        list(pool.map(lambda p: p.close(), producers.values()))
    sys.stdout.flush()
