"""A consumer's drain, its accounting loop and its lag figures, without a broker."""

from __future__ import annotations

import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.measure.accounting import SequenceTracker, seq_mask
from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.workload.consumer_books import Books
from pytest_frida.workload.consumer_effort import Effort, Measured, Snapshot, run_delays
from pytest_frida.workload.consumer_lag import LagSampler, lag_figures
from pytest_frida.workload.drain import DrainCheck, lane_mask
from pytest_frida.workload.drivers.base import Consumer
from pytest_frida.workload.messages import lane_of, pack_header
from pytest_frida.workload.schedule import Window


def bits(mask: int) -> set[int]:
    return {n for n in range(mask.bit_length()) if mask >> n & 1}


@given(sent=st.integers(0, 300), partitions=st.integers(1, 9), data=st.data())
def test_lane_mask_matches_lane_of(sent: int, partitions: int, data: st.DataObject) -> None:
    residues = data.draw(st.sets(st.integers(0, partitions - 1)))
    assert bits(lane_mask(sent, residues, partitions)) == {
        n for n in range(sent) if n % partitions in residues
    }


@given(seqs=st.lists(st.integers(-5, 100)), limit=st.integers(0, 90))
def test_seq_mask(seqs: list[int], limit: int) -> None:
    assert bits(seq_mask(seqs, limit)) == {s for s in seqs if 0 <= s < limit}


@st.composite
def drains(
    draw: st.DrawFn,
) -> tuple[int, list[int], dict[str, dict[str, object]], dict[int, list[int]]]:
    total = draw(st.integers(1, 5))
    mine = sorted(draw(st.sets(st.integers(0, total - 1), min_size=1)))
    expected: dict[str, dict[str, object]] = {}
    seen: dict[int, list[int]] = {}
    for pid in range(draw(st.integers(0, 4))):
        sent = draw(st.integers(0, 120))
        not_acked = draw(st.lists(st.integers(0, max(sent - 1, 0)), max_size=8)) if sent else []
        expected[str(pid)] = {"sent": sent, "not_acked": not_acked}
        # what this consumer got: messages of its lanes (acked or not), some missing
        lanes = [n for n in range(sent + 3) if lane_of(pid, n, total) in mine]
        if draw(st.booleans()):
            seen[pid] = draw(st.lists(st.sampled_from(lanes), max_size=150)) if lanes else []
    return total, mine, expected, seen


def reference_complete(
    total: int, mine: list[int], expected: dict[str, dict[str, object]], seen: dict[int, list[int]]
) -> bool:
    for key, spec in expected.items():
        pid, sent = int(key), int(str(spec["sent"]))
        skip = set(spec["not_acked"])  # type: ignore[call-overload]
        for n in range(sent):
            if lane_of(pid, n, total) in mine and n not in skip and n not in seen.get(pid, []):
                return False
    return True


def trackers_of(total: int, seen: dict[int, list[int]]) -> dict[int, SequenceTracker]:
    out = {}
    for pid, seqs in seen.items():
        out[pid] = SequenceTracker(total)
        for seq in seqs:
            out[pid].see(seq)
    return out


@settings(max_examples=300)
@given(drains())
def test_drain_complete_matches_a_reference(case) -> None:
    total, mine, expected, seen = case
    trackers = trackers_of(total, seen)
    check = DrainCheck(expected, mine, total)
    want = reference_complete(total, mine, expected, seen)
    assert check.complete(trackers) is want
    assert check.complete(trackers) is want  # asking again changes nothing
    assert (check.missing(trackers) == 0) is want


@settings(max_examples=200)
@given(drains(), st.data())
def test_drain_completes_as_messages_arrive(case, data: st.DataObject) -> None:
    """Checked after every arrival, it turns complete exactly when the reference does."""
    total, mine, expected, _ = case
    wanted = [
        (int(k), n)
        for k, spec in expected.items()
        for n in range(int(spec["sent"]))
        if lane_of(int(k), n, total) in mine
    ]
    order = data.draw(st.permutations(wanted))
    check = DrainCheck(expected, mine, total)
    trackers: dict[int, SequenceTracker] = {}
    seen: dict[int, list[int]] = {}
    for pid, seq in order:
        trackers.setdefault(pid, SequenceTracker(total)).see(seq)
        seen.setdefault(pid, []).append(seq)
        assert check.complete(trackers) is reference_complete(total, mine, expected, seen)
    assert check.complete(trackers)


def test_received_unacked_message_never_stands_in_for_a_missing_acked_one() -> None:
    # 6 sent; 4 not acknowledged but it arrived; 2 acknowledged and lost
    check = DrainCheck({"0": {"sent": 6, "not_acked": [4]}}, [0], 1)
    tracker = SequenceTracker()
    for seq in (0, 1, 3, 4, 5):
        tracker.see(seq)
    assert tracker.unique == 5 == check.wanted  # the old count-based check said complete
    assert not check.complete({0: tracker})
    assert check.missing({0: tracker}) == 1
    tracker.see(2)
    assert check.complete({0: tracker})


def test_drain_only_waits_for_its_own_partitions() -> None:
    # producer 1 over 3 partitions: seq n goes to (1 + n) % 3; this consumer reads 2 only
    check = DrainCheck({"1": {"sent": 9, "not_acked": []}}, [2], 3)
    assert check.wanted == 3  # seqs 1, 4, 7
    tracker = SequenceTracker(3)
    for seq in (1, 4):
        tracker.see(seq)
    assert not check.complete({1: tracker})
    tracker.see(7)
    assert check.complete({1: tracker})


def test_drain_with_nothing_expected_is_complete() -> None:
    assert DrainCheck({}, [0, 1], 2).complete({})
    assert DrainCheck({"3": {"sent": 2, "not_acked": [0, 1]}}, [0, 1], 2).complete({})
    assert DrainCheck({"0": 0}, [0], 1).complete({})


def test_drain_accepts_a_bare_count() -> None:
    check = DrainCheck({"0": 3}, [0], 1)
    assert check.wanted == 3


def test_drain_of_a_million_messages_is_fast() -> None:
    n = 1_000_000
    started = time.perf_counter()
    check = DrainCheck(
        {"0": {"sent": n, "not_acked": list(range(0, n, 997))}, "1": {"sent": n, "not_acked": []}},
        [0, 1, 2],
        3,
    )
    trackers = {0: SequenceTracker(3), 1: SequenceTracker(3)}
    for pid in (0, 1):
        for seq in range(n):
            trackers[pid].see(seq)
    assert time.perf_counter() - started < 30  # the marking itself, at ~1 us per see
    started = time.perf_counter()
    for _ in range(1000):  # a poll's check while short: no bitmap work at all
        assert not check.complete({0: trackers[0]})
    assert time.perf_counter() - started < 0.5
    started = time.perf_counter()
    assert check.complete(trackers)
    assert time.perf_counter() - started < 0.5


def test_gap_is_rechecked_only_after_enough_fresh_messages() -> None:
    check = DrainCheck({"0": {"sent": 1000, "not_acked": []}}, [0], 1)
    tracker = SequenceTracker()
    for seq in range(1, 1000):
        tracker.see(seq)
    tracker.see(5000)  # a stray message: the count alone would say complete
    assert not check.complete({0: tracker})  # exact: seq 0 is missing
    tracker.see(5001)
    assert not check.complete({0: tracker})  # one more, not the missing one
    tracker.see(0)
    assert check.complete({0: tracker})


# --- the accounting loop ----------------------------------------------------------------


def window_at(t0_ns: int) -> Window:
    return Window.of(t0_ns, 1.0, 2.0)  # measured: [t0+1s, t0+3s)


def tick(pid: int, seq: int, intended_ns: int, sent_ns: int | None = None) -> bytes:
    return pack_header(pid, seq, intended_ns, sent_ns or intended_ns) + bytes(64)


def test_books_account_latency_and_window_by_receive_time() -> None:
    t0 = 10**18
    books = Books(3)
    books.start(window_at(t0), [[0, 2, 1_000_000]])  # producers 0-1: 1 ms clock skew
    # a warm-up message received inside the window counts as received in it
    fresh = books.take(
        [tick(0, 0, t0 + 500_000_000), tick(1, 0, t0 + 1_500_000_000)], now_ns=t0 + 1_600_000_000
    )
    assert fresh == 2
    assert books.received_in_window == 2
    # a duplicate is not fresh; a measured message received after the window is not in it
    fresh = books.take(
        [tick(1, 0, t0 + 1_500_000_000), tick(1, 1, t0 + 2_900_000_000)], now_ns=t0 + 3_100_000_000
    )
    assert fresh == 1
    assert books.received_in_window == 2
    assert books.received() == 3
    e2e = LatencyHistogram.decode(books.figures()["e2e"])
    # measured by intended send time: seq 0 of producer 1 (99 ms) and seq 1 (199 ms)
    assert e2e.count == 2
    assert e2e.summary_ms()["max"] == pytest.approx(199.0, rel=0.01)
    figures = books.figures()
    assert set(figures["trackers"]) == {"0", "1"}
    assert SequenceTracker.from_dict(figures["trackers"]["1"]).partitions == 3
    # per second of intended time since t0: [messages, worst latency us, latency sum us]
    assert figures["timeline"] == [
        [0, 1, 1_099_000, 1_099_000],
        [1, 1, 99_000, 99_000],
        [2, 1, 199_000, 199_000],
    ]


def test_books_before_the_start_only_count() -> None:
    books = Books(1)
    assert books.take([tick(0, 0, 5), tick(0, 0, 5)], now_ns=10) == 1
    assert books.received() == 1
    assert books.received_in_window == 0


def test_books_out_of_order_is_per_partition() -> None:
    t0 = 10**18
    books = Books(2)
    books.start(window_at(t0), [])
    # producer 0 over 2 partitions: even seqs on one, odd on the other; the partitions
    # interleave freely, but within one a lower seq after a higher is out of order
    books.take([tick(0, s, t0) for s in (1, 0, 3, 2, 4)], now_ns=t0)
    assert books.trackers[0].out_of_order == 0
    books.take([tick(0, s, t0) for s in (8, 6)], now_ns=t0)
    assert books.trackers[0].out_of_order == 1


# --- measuring the consumer -------------------------------------------------------------


def test_lag_figures() -> None:
    w = Window(t0_ns=0, measure_start_ns=100, end_ns=200)
    samples = [(50, 999), (100, 3), (150, 7), (199, 5), (230, 2), (260, 9)]
    assert lag_figures(samples, w) == (7, 2, 4)
    assert lag_figures([(120, 4)], w) == (4, 4, 1)  # nothing after the end
    assert lag_figures([(250, 6), (300, 1)], w) == (6, 6, 1)
    assert lag_figures([], w) == (0, 0, 0)


class FakeConsumer(Consumer):
    def __init__(self) -> None:
        self.partitions = [0]
        self.topic_partitions = 1

    def poll(self, timeout_s: float) -> list[bytes]:
        return []

    def lag(self) -> dict[int, int] | None:
        return None

    def received(self) -> dict[int, int]:
        return {}

    def close(self) -> None:
        pass


def test_effort_over_the_window() -> None:
    start = Snapshot(wall_s=100.0, cpu_s=5.0, wait_s=2.0, run_delay_ns={1: 10**9, 2: 0})
    # 10 s: 7.5 s waiting in poll, 4 s of CPU; threads waited 0.5 s and 1 s (a new one) for
    # a CPU: the most delayed thread counts, not the sum of a dozen client threads
    end = Snapshot(
        wall_s=110.0, cpu_s=9.0, wait_s=9.5, run_delay_ns={1: 15 * 10**8, 2: 0, 3: 10**9}
    )
    effort = Effort.between(start, end)
    assert effort.loop_busy == pytest.approx(0.25)
    assert effort.cpu_share == pytest.approx(0.4)
    assert effort.cpu_wait == pytest.approx(0.1)
    assert effort.busy == pytest.approx(0.25)


def test_a_starved_consumer_is_busy_though_its_loop_waits() -> None:
    # on a crowded host the fetch thread starves and the loop waits in poll: still busy
    start = Snapshot(0.0, 0.0, 0.0, {1: 0, 2: 0})
    end = Snapshot(10.0, 0.5, 9.5, {1: 9 * 10**9, 2: 3 * 10**9})
    effort = Effort.between(start, end)
    assert effort.loop_busy == pytest.approx(0.05)
    assert effort.cpu_wait == pytest.approx(0.9)
    assert effort.busy == pytest.approx(0.9)


def test_many_lightly_delayed_threads_are_not_a_saturated_consumer() -> None:
    # six client threads each kept 0.15 s from a CPU over one second: not saturation
    start = Snapshot(0.0, 0.0, 0.0, dict.fromkeys(range(6), 0))
    end = Snapshot(1.0, 0.1, 0.8, dict.fromkeys(range(6), 15 * 10**7))
    assert Effort.between(start, end).busy == pytest.approx(0.2)


def test_effort_edge_cases() -> None:
    measured = Measured()
    assert measured.effort(FakeConsumer()) == Effort(0.0, 0.0, 0.0)  # never started
    measured.start = Snapshot.take(FakeConsumer())
    assert 0.0 <= measured.effort(FakeConsumer()).busy <= 1.0  # up to now
    same = Snapshot(1.0, 1.0, 1.0, None)
    assert Effort.between(same, same) == Effort(0.0, 0.0, 0.0)
    # without schedstat: no CPU wait figure; clamped loop share
    assert Effort.between(Snapshot(0.0, 0.0, 5.0, None), Snapshot(2.0, 1.0, 0.0, None)) == Effort(
        1.0, 0.0, 0.5
    )


def test_run_delays_of_this_process() -> None:
    delays = run_delays()
    if delays is None:
        pytest.skip("no /proc here")
    assert delays and all(ns >= 0 for ns in delays.values())


class CountingLag(FakeConsumer):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def lag(self) -> dict[int, int] | None:
        self.calls += 1
        return None if self.calls == 2 else {0: self.calls, 1: 10}


def test_lag_sampler_samples_on_its_thread_and_when_asked() -> None:
    consumer = CountingLag()
    sampler = LagSampler(consumer, every_s=30.0)  # only the first sample comes by itself
    sampler.start()
    deadline = time.monotonic() + 5
    while consumer.calls < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.now()  # unanswered: leaves no sample
    while consumer.calls < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    sampler.now()
    while consumer.calls < 3 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert sampler.stop(5.0)
    assert [lag for _, lag in sampler.samples] == [11, 13]
    assert sampler.latest == 13
    assert sampler.failed == 1
    assert all(t > 0 for t, _ in sampler.samples)


class SlowLag(FakeConsumer):
    """A watermark query that takes `delay_s`, or never answers (None)."""

    def __init__(self, delay_s: float, answers: bool = True) -> None:
        super().__init__()
        self.delay_s, self.answers = delay_s, answers
        self.asked = threading.Event()

    def lag(self) -> dict[int, int] | None:
        self.asked.set()
        time.sleep(self.delay_s)
        return {0: 4} if self.answers else None


def test_the_lag_after_a_window_is_waited_for_not_left_to_timing() -> None:
    # the one-a-second cadence would take its next sample 30 s later; the end of the
    # window asks for one and waits while a slow query answers
    sampler = LagSampler(SlowLag(0.3), every_s=30.0)
    sampler.start()
    end_ns = time.time_ns()
    assert sampler.sample_after(end_ns, 20.0)
    assert sampler.samples[-1][0] >= end_ns
    assert sampler.stop(5.0)


def test_a_broker_that_never_answers_leaves_no_lag_figure_and_says_so() -> None:
    sampler = LagSampler(SlowLag(0.05, answers=False), every_s=0.05)
    sampler.start()
    started = time.monotonic()
    assert not sampler.sample_after(time.time_ns(), 0.5)
    assert time.monotonic() - started >= 0.5
    assert sampler.stop(5.0)
    assert sampler.samples == [] and sampler.failed >= 1
    assert lag_figures(sampler.samples, Window.of(0, 0.0, 1.0)) == (0, 0, 0)


def test_a_sample_answered_while_stopping_is_kept() -> None:
    consumer = SlowLag(0.3)
    sampler = LagSampler(consumer, every_s=30.0)
    sampler.start()
    assert consumer.asked.wait(20.0)  # the first query is under way
    assert sampler.stop(20.0)
    assert [lag for _, lag in sampler.samples] == [4]


def test_a_spent_cpu_quota_makes_the_consumer_busy():
    # 2% of a core: the loop mostly waits for data its starved threads have not fetched,
    # but the quota ran out in 95 of 100 periods
    start = Snapshot(0.0, 0.0, 0.0, {1: 0}, throttle=(1000, 10))
    end = Snapshot(10.0, 0.2, 9.0, {1: 10**9}, throttle=(1100, 105))
    effort = Effort.between(start, end)
    assert effort.loop_busy == pytest.approx(0.1)
    assert effort.throttled == pytest.approx(0.95)
    assert effort.busy == pytest.approx(0.95)
    unlimited = Effort.between(Snapshot(0.0, 0.0, 0.0, None), Snapshot(1.0, 0.0, 1.0, None))
    assert unlimited.throttled == 0.0
