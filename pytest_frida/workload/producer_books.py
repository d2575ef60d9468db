"""A producer agent's books: every message sent, and what became of it.

Every message ends up in exactly one of acked, failed (an error ack or a send the client
refused) and unacked (no answer when the agent stopped waiting); the partition of message
`seq` of producer `pid` is `lane_of(pid, seq, partitions)`, or its instrument's in a market
workload with instruments (`instruments.Instruments`), named explicitly in the send.
The scheduler sends (`Shard.send`); the ack thread (`AckThread`) turns acks into counts and
latencies, folds the histograms in bounded slices and reports progress, so none of that
ever holds up a send.
"""

from __future__ import annotations

import collections
import threading
import time
from array import array
from collections.abc import Callable, Mapping

from pytest_frida.measure.histogram import BufferedRecorder, LatencyHistogram
from pytest_frida.workload import protocol
from pytest_frida.workload.drivers.base import Producer, QueueFull
from pytest_frida.workload.instruments import Instruments
from pytest_frida.workload.messages import HEADER_SIZE, instrument_key, pack_header
from pytest_frida.workload.producer_serving import SERVE_BLOCK_S, Serving
from pytest_frida.workload.schedule import Window

# producer, seq, sent_ns, ack_ns, measured (intended in the window), error
AckEvent = tuple[int, int, int, int, bool, Exception | None]

#: latencies are folded into histograms this many at a time (a millisecond or two of work)
FOLD_SLICE = 16_384
#: acks handled at a go (about 1.4 us each) before the ack thread lets the scheduler run
ACK_SLICE = 1_024
#: the ack thread does the books this often when it does not poll (a wake-up costs CPU)
BOOKS_IDLE_S = 0.01
#: the scheduler waits this long before retrying a message the client could not take
QUEUE_FULL_WAIT_S = 0.0005


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


class Shard:
    """The producers of this agent and what happened to their messages.

    Written by the scheduler: `sent`, `pending` (added to), `queue_*`, `publish_delay`,
    `sends_in_window`. Written by the ack thread: everything an ack changes. An ack comes
    to the ack thread through the `acks` deque, whichever thread the client called back on.
    """

    def __init__(
        self,
        producers: dict[int, Producer],
        window: Window,
        size: int,
        partitions: int,
        instruments: Instruments | None = None,
    ) -> None:
        self.producers = producers
        #: a market workload's instruments decide each message's partition and key
        self.instruments = instruments if instruments and instruments.spec.instruments else None
        self._instrument_keys: dict[int, bytes] = {}
        self.serving = Serving(producers.values(), window.measure_start_ns)
        self.partitions = partitions
        #: per producer, its instrument key on each partition (lane)
        self.keys = {
            pid: [instrument_key(pid, lane) for lane in range(partitions)] for pid in producers
        }
        self.padding = bytes(size - HEADER_SIZE)
        self.window = window
        self.acks: collections.deque[AckEvent] = collections.deque()
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

    def _route(self, pid: int, seq: int) -> tuple[int, bytes]:
        """The partition and key of a market message: its instrument's."""
        assert self.instruments is not None
        instrument = self.instruments.instrument(pid, seq)
        key = self._instrument_keys.get(instrument)
        if key is None:
            key = self._instrument_keys[instrument] = self.instruments.key(pid, instrument)
        return instrument % self.partitions, key

    def partition_sent(self) -> dict[int, int]:
        """Messages sent per partition."""
        if self.instruments is None:
            return partition_counts(self.sent, self.partitions)
        return self.instruments.partition_counts(self.sent, self.partitions)

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
        if self.instruments is None:
            lane = (pid + seq) % self.partitions  # lane_of(pid, seq, partitions), inlined
            key = self.keys[pid][lane]
        else:
            lane, key = self._route(pid, seq)
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


class AckThread:
    """Does the books, folds the histograms in slices and reports progress, off the
    scheduler's thread; polls the producers when the scheduler hands that over."""

    def __init__(self, shard: Shard) -> None:
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
                protocol.emit(
                    {
                        "event": "progress",
                        "sent": sum(shard.sent.values()),
                        "acked": shard.acked_total,
                    }
                )
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
