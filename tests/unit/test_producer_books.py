"""The producer agent without a broker: its books, its error bound, its partitions, its
busy share, and whole runs against fake clients (acks served by polling, like librdkafka,
or called back from a thread of the client's own, like kafka-python)."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.workload import producer_agent, producer_books, protocol
from pytest_frida.workload.arrivals import Arrivals, MarketSpec
from pytest_frida.workload.drivers.base import (
    AckCallback,
    ClientDriver,
    Consumer,
    Producer,
    QueueFull,
)
from pytest_frida.workload.instruments import Instruments, market_key
from pytest_frida.workload.market import MarketSchedule
from pytest_frida.workload.messages import decode_tick, instrument_key, lane_of
from pytest_frida.workload.producer_books import HandoffRecorder, partition_counts
from pytest_frida.workload.producer_serving import ServingGaps
from pytest_frida.workload.protocol import MarketWire, ProducerConfig
from pytest_frida.workload.schedule import NS, Window

# -- pure pieces -------------------------------------------------------------------------


@settings(max_examples=200)
@given(
    sent=st.dictionaries(st.integers(0, 500), st.integers(0, 200), max_size=30),
    partitions=st.integers(1, 16),
)
def test_partition_counts_are_lane_of_of_every_sent_message(
    sent: dict[int, int], partitions: int
) -> None:
    brute: collections.Counter[int] = collections.Counter(
        lane_of(pid, seq, partitions) for pid, n in sent.items() for seq in range(n)
    )
    assert partition_counts(sent, partitions) == {p: brute[p] for p in range(partitions)}


def test_error_bound_is_the_worst_round_to_next_round_end() -> None:
    gaps = ServingGaps(from_ns=1_000)
    # rounds as (start, end) on a monotonic clock, with the wall time at their end
    gaps.served(0, 10, wall_end_ns=500)  # before the window: no gap counts yet
    gaps.served(100, 130, wall_end_ns=900)  # ends before the window: not counted
    assert (gaps.worst_ns, gaps.rounds) == (0, 0)
    gaps.served(600, 620, wall_end_ns=1_000)  # 620 - 100: an ack right after round 2
    assert gaps.worst_ns == 520  # began is seen by round 3's end at last
    gaps.served(700, 710, wall_end_ns=1_100)
    gaps.served(5_000, 5_900, wall_end_ns=7_000)  # a stall (a starved thread): 5_900 - 700
    gaps.served(6_000, 6_010, wall_end_ns=7_100)
    assert (gaps.worst_ns, gaps.rounds) == (5_200, 4)
    assert gaps.error_ms == 5_200 / 1e6


def test_error_bound_of_rounds_from_two_threads() -> None:
    # the scheduler's round overlaps the ack thread's where one hands over to the other:
    # an earlier-starting round that ends later never moves the reference start back
    gaps = ServingGaps(from_ns=0)
    gaps.served(1_000, 1_010, wall_end_ns=1)
    gaps.served(1_500, 1_600, wall_end_ns=2)  # ack thread
    gaps.served(1_400, 1_700, wall_end_ns=3)  # scheduler, started before, ended after
    gaps.served(2_000, 2_050, wall_end_ns=4)
    # 1_600 - 1_000, 1_700 - 1_500, 2_050 - 1_500
    assert gaps.worst_ns == 600
    gaps.served(2_100, 3_000, wall_end_ns=5)  # 3_000 - 2_000
    assert gaps.worst_ns == 1_000


def test_handoff_recorder_folds_on_another_thread() -> None:
    rec = HandoffRecorder(limit=100)
    for v in range(1, 251):
        rec.add(v)
    # two full arrays were handed over; the owner kept the last 50
    folder = threading.Thread(target=lambda: [rec.fold_one() for _ in range(3)])
    folder.start()
    folder.join()
    assert rec.hist.count == 200
    hist = rec.fold()
    assert hist.count == 250
    assert hist.max_ms() == 0.25


# -- fake clients ------------------------------------------------------------------------


class FakeProducer(Producer):
    """Takes messages instantly; answers each `ack_delay_s` later, through `serve()` or
    from a thread of its own. `plan(seq)` says what happens to a message: "ack", "error"
    (an error ack), "lost" (never answered) or "refuse" (send raises)."""

    def __init__(self, shared: FakeClient, own_thread: bool) -> None:
        self.shared = shared
        self.callbacks_on_own_thread = own_thread
        self._due: collections.deque[tuple[float, AckCallback, str]] = collections.deque()
        self._lock = threading.Lock()
        self._closed = threading.Event()
        if own_thread:
            threading.Thread(target=self._answer_loop, daemon=True).start()

    def warm_up(self, topic: str) -> None:
        pass

    def send(
        self, topic: str, partition: int, key: bytes, value: bytes, on_ack: AckCallback
    ) -> None:
        now = time.time_ns()
        if now < self.shared.full_until_ns:
            raise QueueFull("fake queue full")
        tick = decode_tick(value)
        outcome = self.shared.plan(tick.seq)
        if outcome == "refuse":
            raise RuntimeError("refused")
        self.shared.record(partition, key, tick.producer, tick.seq)
        with self._lock:
            self._due.append((time.monotonic() + self.shared.ack_delay_s, on_ack, outcome))

    def _answer(self) -> int:
        now, answered = time.monotonic(), 0
        while True:
            with self._lock:
                if not self._due or self._due[0][0] > now:
                    return answered
                _, on_ack, outcome = self._due.popleft()
            if outcome == "ack":
                on_ack(None)
            elif outcome == "error":
                on_ack(RuntimeError("broker said no"))
            answered += outcome != "lost"

    def _answer_loop(self) -> None:
        while not self._closed.is_set():
            self._answer()
            time.sleep(0.0002)

    def serve(self, timeout_s: float = 0.0) -> int:
        if self.callbacks_on_own_thread:
            return super().serve(timeout_s)
        return self._answer()

    @property
    def delivery_timeout_s(self) -> float:
        return 300.0

    def flush(self, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self._lock:
                if all(outcome == "lost" for _, _, outcome in self._due):
                    return
            if not self.callbacks_on_own_thread:
                self._answer()
            time.sleep(0.001)

    def close(self) -> None:
        self._closed.set()


class FakeClient(ClientDriver):
    name = "fake"

    def __init__(
        self,
        own_thread: bool = False,
        ack_delay_s: float = 0.005,
        outcomes: Mapping[int, str] | None = None,
    ) -> None:
        self.own_thread = own_thread
        self.ack_delay_s = ack_delay_s
        self.outcomes = dict(outcomes or {})
        self.full_until_ns = 0
        self.seen: list[tuple[int, bytes, int, int]] = []
        self._lock = threading.Lock()

    def plan(self, seq: int) -> str:
        for every, outcome in self.outcomes.items():
            if seq % every == every - 1:
                return outcome
        return "ack"

    def record(self, partition: int, key: bytes, pid: int, seq: int) -> None:
        with self._lock:
            self.seen.append((partition, key, pid, seq))

    def check_settings(self, settings: Mapping[str, str]) -> None:
        pass

    def producer(self, bootstrap: str, client_id: str, settings: Mapping[str, str]) -> Producer:
        return FakeProducer(self, self.own_thread)

    def consumer(
        self, bootstrap: str, topic: str, client_id: str, partitions: Any = None
    ) -> Consumer:
        raise NotImplementedError


def run_agent(
    monkeypatch: pytest.MonkeyPatch,
    client: FakeClient,
    *,
    producers: int = 2,
    rate: float = 200.0,
    warmup: float = 0.2,
    duration: float = 1.0,
    partitions: int = 3,
    flush_timeout: float = 0.3,
    before_start: Any = None,
    market: MarketWire | None = None,
) -> tuple[dict[str, Any], int, list[dict[str, Any]]]:
    """Run the agent in this process against `client`; its result event, t0 and all events."""
    events: list[dict[str, Any]] = []
    t0_ns = time.time_ns() + 200_000_000
    monkeypatch.setattr(producer_agent, "load_driver", lambda name: client)
    monkeypatch.setattr(protocol, "read_message", lambda: {"t0_ns": t0_ns})
    monkeypatch.setattr(
        protocol,
        "emit",
        lambda event: events.append(dict(event)),
    )
    if before_start is not None:
        before_start(t0_ns)
    config: ProducerConfig = {
        "role": "producer",
        "client": "fake",
        "bootstrap": "nowhere:9092",
        "topic": "t",
        "first_producer": 0,
        "producer_count": producers,
        "total_producers": producers,
        "rate": rate,
        "warmup": warmup,
        "duration": duration,
        "message_size": 64,
        "partitions": partitions,
        "producer_settings": {},
        "flush_timeout": flush_timeout,
    }
    if market is not None:
        config["market"] = market
    producer_agent.run(config)
    (result,) = [e for e in events if e["event"] == "result"]
    return result, t0_ns, events


# -- whole runs --------------------------------------------------------------------------


@pytest.mark.parametrize("own_thread", [False, True])
def test_every_message_is_acked_failed_or_unacked(
    monkeypatch: pytest.MonkeyPatch, own_thread: bool
) -> None:
    client = FakeClient(own_thread, outcomes={50: "refuse", 40: "error", 30: "lost"})
    res, _, _ = run_agent(monkeypatch, client)
    total = 0
    for rep in res["producers"].values():
        sent = rep["sent"]
        total += sent
        assert sent == 240  # 200 msg/s over 1.2 s
        failed, unacked = set(rep["failed"]), set(rep["unacked"])
        assert failed == {s for s in range(sent) if client.plan(s) in ("refuse", "error")}
        assert unacked == {s for s in range(sent) if client.plan(s) == "lost"}
        assert not failed & unacked
    assert res["errors"] == sum(len(r["failed"]) for r in res["producers"].values())
    # the agent stopped waiting after flush_timeout, long before the client's 300 s
    assert res["gave_up_early"] is True
    assert res["delivery_timeout_s"] == 300.0
    assert res["gave_up_ns"] > 0
    # partitions: what the client was asked for, per message, and what the agent reports
    assert all(
        part == lane_of(pid, seq, 3) and key == instrument_key(pid, part)
        for part, key, pid, seq in client.seen
    )
    refused = sum(1 for pid in range(2) for s in range(240) if client.plan(s) == "refuse")
    assert sum(res["partition_sent"].values()) == total == len(client.seen) + refused
    assert {int(p) for p in res["partition_sent"]} == {0, 1, 2}
    assert max(res["partition_sent"].values()) - min(res["partition_sent"].values()) <= 2


@pytest.mark.parametrize("own_thread", [False, True])
def test_publish_latency_is_taken_where_the_ack_arrives(
    monkeypatch: pytest.MonkeyPatch, own_thread: bool
) -> None:
    client = FakeClient(own_thread, ack_delay_s=0.005)
    res, _, _ = run_agent(monkeypatch, client, producers=1, rate=100.0)
    latency = LatencyHistogram.decode(res["publish_latency"])
    assert latency.count == res["sends_in_window"] == res["intended_in_window"] == 100
    error = res["publish_latency_error_ms"]
    if own_thread:
        assert error == 0.0
    else:
        assert 0.0 < error < 100.0
    p50 = latency.percentile_ms(50)
    assert p50 is not None
    # 5 ms in the client, plus at most the bound (and a little for the fake's own loop)
    assert 5.0 <= p50 <= 5.0 + max(error, 0.5) + 2.0
    # all acks answered: nothing pending, not given up early
    assert res["gave_up_early"] is False
    assert all(not r["unacked"] and not r["failed"] for r in res["producers"].values())


def test_acks_in_window_count_arrivals_inside_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # acks 300 ms late: the window's first 300 ms get warm-up acks, its last 300 ms of
    # sends are acked after it ended
    client = FakeClient(own_thread=True, ack_delay_s=0.3)
    res, _, _ = run_agent(
        monkeypatch, client, producers=1, rate=100.0, warmup=0.5, duration=1.0, flush_timeout=2.0
    )
    assert res["sends_in_window"] == 100
    assert 95 <= res["acks_in_window"] <= 102  # 30 warm-up acks in, 30 window acks out
    latency = LatencyHistogram.decode(res["publish_latency"])
    assert latency.count == 100  # latency is of the measured messages, whenever acked


def test_waits_on_a_full_queue_are_slack_not_work(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient(own_thread=True)

    def fill(t0_ns: int) -> None:  # full for the first 0.6 s of the measured window
        client.full_until_ns = t0_ns + round(0.8 * NS)

    res, _, _ = run_agent(monkeypatch, client, producers=2, rate=200.0, before_start=fill)
    assert res["queue_full"] > 100
    assert 0.5 <= res["queue_wait_s"] <= 0.8
    # the scheduler was behind for 0.6 s, but waiting: its busy share stays low
    assert res["scheduler_busy"] < 0.4
    assert res["final_publish_delay_ms"] < 50.0
    delay = LatencyHistogram.decode(res["publish_delay"])
    assert (delay.max_ms() or 0.0) > 500.0


def test_a_queue_full_past_the_give_up_time_leaves_the_rest_unsent(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = FakeClient(own_thread=True)
    client.full_until_ns = 2**62  # never takes anything
    res, _, _ = run_agent(monkeypatch, client, producers=1, rate=50.0, warmup=0.1, duration=0.3)
    # nothing sent; every message intended, in the window or not, counts as unsent
    assert res["producers"]["0"] == {"sent": 0, "failed": [], "unacked": []}
    assert res["unsent"] == 20
    assert res["intended_in_window"] == 15 and res["sends_in_window"] == 0
    assert LatencyHistogram.decode(res["unsent_delay"]).count == 15
    assert res["gave_up_early"] is False


def test_throughput_mode_spreads_and_measures(monkeypatch: pytest.MonkeyPatch) -> None:
    client = FakeClient(own_thread=False, ack_delay_s=0.001)
    res, _, events = run_agent(
        monkeypatch, client, producers=2, rate=0.0, warmup=0.1, duration=0.5, partitions=4
    )
    sent = sum(r["sent"] for r in res["producers"].values())
    # unpaced: as many as the CPU it gets allows (a thousand when alone, fewer on a
    # loaded CI machine, where this once read under a thousand), never a schedule's few
    assert sent > 100
    assert res["intended_in_window"] == res["sends_in_window"] > 0
    counts = list(res["partition_sent"].values())
    assert max(counts) - min(counts) <= 2
    assert res["scheduler_busy"] > 0.5  # nothing to wait for: it sends all the time
    assert events[0]["event"] == "ready"


def test_agent_refuses_a_config_without_partitions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(producer_agent, "load_driver", lambda name: FakeClient())
    with pytest.raises(ValueError, match="no 'partitions'"):
        producer_agent.run(
            {  # type: ignore[typeddict-item]  # incomplete on purpose
                "client": "fake",
                "first_producer": 0,
                "producer_count": 1,
                "topic": "t",
                "message_size": 64,
            }
        )


def test_books_and_folds_stay_off_the_scheduler_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    """Handling acks and folding histograms never run on the scheduler's thread while it
    sends (they stalled the schedule 70-140 ms at 50-100k acks/s)."""
    calls: list[tuple[str, int]] = []
    handle_acks = producer_books.Shard.handle_acks
    record_batch_us = LatencyHistogram.record_batch_us

    def spy_handle(self: Any, limit: int) -> int:
        calls.append((threading.current_thread().name, time.time_ns()))
        return handle_acks(self, limit)

    def spy_fold(self: LatencyHistogram, values: Any) -> None:
        calls.append((threading.current_thread().name, time.time_ns()))
        record_batch_us(self, values)

    monkeypatch.setattr(producer_books.Shard, "handle_acks", spy_handle)
    monkeypatch.setattr(LatencyHistogram, "record_batch_us", spy_fold)
    monkeypatch.setattr(producer_books, "FOLD_SLICE", 64)  # fold often
    client = FakeClient(own_thread=False, ack_delay_s=0.001)
    res, t0_ns, _ = run_agent(
        monkeypatch, client, producers=2, rate=500.0, warmup=0.1, duration=0.5
    )
    end_ns = t0_ns + round(0.6 * NS)
    assert res["sends_in_window"] == 500
    during = [name for name, at in calls if at < end_ns]
    assert during and set(during) == {"frida-acks"}


def test_a_round_begun_with_nothing_pending_ends_no_gap() -> None:
    # nothing was awaiting a report while the ack thread slept: that sleep kept no ack
    # waiting, so it is no part of the error bound
    gaps = ServingGaps(from_ns=0)
    gaps.served(0, 10, wall_end_ns=1)
    gaps.served(10_000_000, 10_000_050, wall_end_ns=2, counts=False)
    gaps.served(10_000_100, 10_000_200, wall_end_ns=3)
    assert gaps.error_ms == (10_000_200 - 10_000_000) / 1e6


def test_a_market_agent_sends_each_tick_to_its_instruments_partition(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    client = FakeClient(False)
    market = MarketSpec(12, 1.1, Arrivals("poisson"), 7)
    res, t0_ns, _ = run_agent(monkeypatch, client, producers=3, market=market.to_wire())
    book = Instruments(market, 3)
    assert client.seen
    assert all(
        part == book.instrument(pid, seq) % 3 and key == market_key(book.instrument(pid, seq))
        for part, key, pid, seq in client.seen
    )
    sent = {int(pid): r["sent"] for pid, r in res["producers"].items()}
    schedule = MarketSchedule(market, 200.0, 3, Window.of(t0_ns, 0.2, 1.0))
    assert sent == {p: schedule.messages_per_producer(p) for p in range(3)}
    assert res["partition_sent"] == {str(p): n for p, n in book.partition_counts(sent, 3).items()}
    assert sent[0] > sent[2]  # producer 0 holds the top instrument
