"""Sequence accounting: unique / duplicate / out-of-order counts, merging, loss."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.measure.accounting import (
    DeliveryCounts,
    ProducerReport,
    SequenceTracker,
    account,
)

# mostly small numbers so repeats are common, sometimes large ones to grow the bitmap a lot
seq_st = st.one_of(st.integers(0, 64), st.integers(0, 5000))
seqs_st = st.lists(seq_st, max_size=300)


def tracker_of(seqs: list[int]) -> SequenceTracker:
    tracker = SequenceTracker()
    for seq in seqs:
        tracker.see(seq)
    return tracker


def reference_out_of_order(seqs: list[int]) -> int:
    seen: set[int] = set()
    running_max = -1
    count = 0
    for seq in seqs:
        if seq in seen:
            continue
        seen.add(seq)
        if seq < running_max:
            count += 1
        running_max = max(running_max, seq)
    return count


@settings(max_examples=200)
@given(seqs_st)
def test_counts_match_a_reference(seqs):
    tracker = SequenceTracker()
    first_seen = [tracker.see(seq) for seq in seqs]
    assert tracker.unique == len(set(seqs))
    assert tracker.duplicates == len(seqs) - len(set(seqs))
    assert tracker.out_of_order == reference_out_of_order(seqs)
    assert tracker.highest == max(seqs, default=-1)
    # see() says False exactly for repeats
    assert first_seen == [seq not in seqs[:i] for i, seq in enumerate(seqs)]
    universe = set(seqs) | set(range(max(seqs, default=0) + 20))
    for seq in universe:
        assert tracker.has(seq) is (seq in set(seqs))


def test_in_order_stream_has_no_anomalies():
    tracker = tracker_of(list(range(1000)))
    assert (tracker.unique, tracker.duplicates, tracker.out_of_order) == (1000, 0, 0)
    assert tracker.missing(1000) == 0
    assert tracker.missing(1010) == 10


def test_negative_sequence_is_rejected():
    with pytest.raises(ValueError, match="-1"):
        SequenceTracker().see(-1)


def test_has_far_beyond_bitmap_is_false():
    tracker = tracker_of([3])
    assert not tracker.has(10**9)
    assert tracker.has(3)


@settings(max_examples=100)
@given(seqs_st)
def test_to_dict_from_dict_round_trip(seqs):
    tracker = tracker_of(seqs)
    data = json.loads(json.dumps(tracker.to_dict()))  # must survive JSON
    again = SequenceTracker.from_dict(data)
    for attr in ("unique", "duplicates", "out_of_order", "highest"):
        assert getattr(again, attr) == getattr(tracker, attr)
    for seq in range(max(seqs, default=0) + 20):
        assert again.has(seq) is tracker.has(seq)
    # and it keeps counting like the original
    again.see(seqs[0] if seqs else 0)
    tracker.see(seqs[0] if seqs else 0)
    assert (again.unique, again.duplicates) == (tracker.unique, tracker.duplicates)


@settings(max_examples=200)
@given(seqs_st, seqs_st)
def test_merge_equals_one_tracker_that_saw_both(a, b):
    merged = tracker_of(a)
    other = tracker_of(b)
    merged.merge(other)
    both = tracker_of(a + b)
    assert merged.unique == both.unique == len(set(a) | set(b))
    # duplicates: within each list, plus every seq both consumers saw
    assert merged.duplicates == both.duplicates == len(a) + len(b) - len(set(a) | set(b))
    assert merged.highest == both.highest
    # out-of-order is a per-consumer notion: the merge sums what each consumer saw
    assert merged.out_of_order == reference_out_of_order(a) + reference_out_of_order(b)
    for seq in range(max(a + b, default=0) + 20):
        assert merged.has(seq) is both.has(seq)


def test_merge_into_empty_and_from_empty():
    a = tracker_of([5, 1, 1, 9])
    empty = SequenceTracker()
    empty.merge(a)
    assert (empty.unique, empty.duplicates, empty.out_of_order, empty.highest) == (3, 1, 1, 9)
    a.merge(SequenceTracker())
    assert (a.unique, a.duplicates, a.out_of_order, a.highest) == (3, 1, 1, 9)


@settings(max_examples=150)
@given(seen=seqs_st, sent=st.integers(0, 400), not_acked=st.lists(st.integers(0, 399)))
def test_missing_counts_acked_unseen(seen, sent, not_acked):
    tracker = tracker_of(seen)
    expected = len(set(range(sent)) - set(seen) - set(not_acked))
    assert tracker.missing(sent, not_acked) == expected


@st.composite
def scenario(draw: st.DrawFn):
    producers = draw(st.integers(1, 5))
    reports: dict[int, ProducerReport] = {}
    seen: dict[int, list[int]] = {}
    for pid in range(producers):
        sent = draw(st.integers(0, 200))

        def seqs(sent: int = sent) -> list[int]:
            return draw(st.lists(st.integers(0, max(sent - 1, 0)), max_size=10)) if sent else []

        reports[pid] = ProducerReport(sent, failed=seqs(), unacked=seqs())
        if draw(st.booleans()):  # the consumer saw this producer at all
            seen[pid] = draw(st.lists(st.integers(0, sent + 5), max_size=250))
    if draw(st.booleans()):  # a producer that never reported (e.g. a crashed agent)
        seen[producers] = draw(st.lists(st.integers(0, 50), max_size=50))
    return reports, seen


@settings(max_examples=150)
@given(scenario())
def test_account_against_a_reference(data):
    reports, seen = data
    trackers = {pid: tracker_of(seqs) for pid, seqs in seen.items()}
    counts = account(trackers, reports)
    lost = 0
    for pid, rep in reports.items():
        acked_seqs = set(range(rep.sent)) - set(rep.not_acked)
        lost += len(acked_seqs - set(seen.get(pid, [])))
    assert counts.sent == sum(r.sent for r in reports.values())
    assert counts.acked == sum(r.sent - len(r.not_acked) for r in reports.values())
    assert counts.lost == lost
    assert counts.received == sum(len(set(s)) for s in seen.values())
    assert counts.duplicated == sum(len(s) - len(set(s)) for s in seen.values())
    assert counts.out_of_order == sum(reference_out_of_order(s) for s in seen.values())
    arrived = sum(
        len(set(range(rep.sent)) & set(seen.get(pid, []))) for pid, rep in reports.items()
    )
    if counts.sent:
        assert counts.delivered_ratio == pytest.approx(arrived / counts.sent)
    else:
        assert counts.delivered_ratio == 1.0
    assert 0.0 <= counts.delivered_ratio <= 1.0
    # every sent message is acked, failed or unacked, exactly once
    assert counts.acked + counts.failed + counts.unacked == counts.sent


def test_account_worked_example():
    trackers = {0: tracker_of([0, 1, 2, 2, 4, 3]), 7: tracker_of([0])}
    reports = {0: ProducerReport(sent=6, unacked=[5]), 1: ProducerReport(sent=3)}
    counts = account(trackers, reports)
    # producer 0: acked 0..4, all seen; producer 1: acked 0..2, nothing seen -> 3 lost
    assert counts == DeliveryCounts(
        sent=9, acked=8, received=6, lost=3, duplicated=1, out_of_order=1, unacked=1, delivered=5
    )
    assert counts.delivered_ratio == pytest.approx(5 / 9)


def test_failed_and_unacked_messages_are_counted():
    # 1,000 sent, 100 refused by the broker, 50 never answered (20 of which arrived anyway)
    seen = [s for s in range(1000) if not 100 <= s < 200 and not 900 <= s < 930]
    report = ProducerReport(sent=1000, failed=list(range(100, 200)), unacked=list(range(900, 950)))
    counts = account({0: tracker_of(seen)}, {0: report})
    assert (counts.failed, counts.unacked, counts.lost) == (100, 50, 0)
    assert counts.acked == 850 and counts.delivered == 870
    assert counts.delivered_ratio == pytest.approx(0.87)


def test_delivered_ratio_is_received_over_sent():
    assert DeliveryCounts(0, 0, 0, 0, 0, 0).delivered_ratio == 1.0
    # nothing acknowledged and nothing arrived: nothing was delivered
    assert DeliveryCounts(3, 0, 0, 0, 0, 0, unacked=3, delivered=0).delivered_ratio == 0.0
    assert DeliveryCounts(4, 4, 0, 4, 0, 0).delivered_ratio == 0.0


# --- lanes: a producer walks the partitions round robin (messages.lane_of) -------------


def reference_out_of_order_lanes(seqs: list[int], partitions: int) -> int:
    """Out of order within each lane (seq % partitions), as Kafka keeps order per
    partition only."""
    return sum(
        reference_out_of_order([s for s in seqs if s % partitions == lane])
        for lane in range(partitions)
    )


def lane_tracker(seqs: list[int], partitions: int) -> SequenceTracker:
    tracker = SequenceTracker(partitions)
    for seq in seqs:
        tracker.see(seq)
    return tracker


def state(tracker: SequenceTracker) -> tuple[object, ...]:
    return (
        tracker.unique,
        tracker.duplicates,
        tracker.out_of_order,
        tracker.highest,
        tracker.partitions,
        tracker.lane_highest(),
        tracker.bitmap(),
    )


@settings(max_examples=200)
@given(seqs_st, st.integers(1, 7))
def test_out_of_order_is_judged_per_lane(seqs, partitions):
    tracker = lane_tracker(seqs, partitions)
    assert tracker.out_of_order == reference_out_of_order_lanes(seqs, partitions)
    assert tracker.unique == len(set(seqs))
    assert tracker.duplicates == len(seqs) - len(set(seqs))
    assert tracker.highest == max(seqs, default=-1)
    assert tracker.lane_highest() == [
        max((s for s in seqs if s % partitions == lane), default=-1) for lane in range(partitions)
    ]


def test_lanes_interleave_freely():
    # producer over 3 partitions: lanes 0,3,6 / 1,4,7 / 2,5,8, each in order, mixed
    tracker = lane_tracker([2, 0, 1, 5, 3, 8, 4, 6, 7], 3)
    assert tracker.out_of_order == 0
    for seq in (12, 9):  # lane 0: 12 then 9 is out of order
        tracker.see(seq)
    assert tracker.out_of_order == 1
    for seq in (13, 10, 11):  # 13 (lane 1), then 10 (lane 1, behind 13), 11 (lane 2)
        tracker.see(seq)
    assert tracker.out_of_order == 2
    tracker.see(12)  # a duplicate is not out of order
    assert (tracker.duplicates, tracker.out_of_order) == (1, 2)
    assert tracker.lane_highest() == [12, 13, 11]


@st.composite
def sharded_streams(draw: st.DrawFn):
    """One producer's stream as several consumers read it, each a set of lanes."""
    partitions = draw(st.integers(1, 6))
    seqs = draw(seqs_st)
    consumers = draw(st.integers(1, partitions))
    owner = [draw(st.integers(0, consumers - 1)) for _ in range(partitions)]
    return partitions, seqs, consumers, owner


@settings(max_examples=300)
@given(sharded_streams())
def test_merge_of_partition_shards_equals_one_tracker(case):
    """Consumers sharded by partition: merging their trackers of one producer, in any
    order, gives exactly the tracker of one consumer that read every partition."""
    partitions, seqs, consumers, owner = case
    whole = lane_tracker(seqs, partitions)
    parts = [
        lane_tracker([s for s in seqs if owner[s % partitions] == c], partitions)
        for c in range(consumers)
    ]
    for start in range(consumers):  # each consumer first once
        merged = SequenceTracker.from_dict(parts[start].to_dict())
        for c in range(consumers):
            if c != start:
                merged.merge(SequenceTracker.from_dict(parts[c].to_dict()))
        assert state(merged) == state(whole)
    # and merging into a fresh tracker (as a controller does) adopts the lanes
    fresh = SequenceTracker()
    for part in parts:
        fresh.merge(part)
    assert state(fresh) == state(whole)


def test_merge_refuses_different_lane_counts():
    a, b = lane_tracker([0, 1], 3), lane_tracker([0], 2)
    with pytest.raises(ValueError, match="3 and 2 partitions"):
        a.merge(b)
    a.merge(SequenceTracker(5))  # an empty one changes nothing
    assert state(a) == state(lane_tracker([0, 1], 3))


@settings(max_examples=100)
@given(seqs_st, st.integers(1, 7))
def test_round_trip_keeps_lanes(seqs, partitions):
    tracker = lane_tracker(seqs, partitions)
    again = SequenceTracker.from_dict(json.loads(json.dumps(tracker.to_dict())))
    assert state(again) == state(tracker)
    for seq in (0, 1, 2, 3, 5000, 5001):  # and it keeps judging order per lane
        tracker.see(seq)
        again.see(seq)
    assert state(again) == state(tracker)


def test_from_dict_without_lanes_is_one_lane():
    old = {
        k: v
        for k, v in tracker_of([0, 2, 1]).to_dict().items()
        if k not in ("partitions", "lane_highest")
    }
    tracker = SequenceTracker.from_dict(old)
    assert (tracker.partitions, tracker.lane_highest(), tracker.out_of_order) == (1, [2], 1)
    with pytest.raises(ValueError, match="without its lane_highest"):
        SequenceTracker.from_dict({**old, "partitions": 3})


def test_unseen_and_bitmap():
    tracker = lane_tracker([0, 2, 9, 64], 3)
    assert tracker.bitmap() == (1 << 0) | (1 << 2) | (1 << 9) | (1 << 64)
    assert tracker.unseen((1 << 10) - 1) == sum(1 << n for n in (1, 3, 4, 5, 6, 7, 8))
    assert tracker.unseen(1 << 64 | 1 << 65 | 1 << 300) == 1 << 65 | 1 << 300
    assert tracker.unseen(0) == 0


def test_invalid_partition_count():
    with pytest.raises(ValueError, match="at least one partition"):
        SequenceTracker(0)


def test_missing_of_a_million_is_quick():
    import time

    tracker = SequenceTracker(3)
    for seq in range(0, 1_000_000, 2):
        tracker.see(seq)
    started = time.perf_counter()
    assert tracker.missing(1_000_000, range(1, 1000, 2)) == 500_000 - 500
    assert time.perf_counter() - started < 0.5
