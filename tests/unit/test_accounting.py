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
        not_acked = draw(st.lists(st.integers(0, max(sent - 1, 0)), max_size=10)) if sent else []
        reports[pid] = ProducerReport(sent, not_acked)
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
    assert counts.acked == sum(r.sent - len(set(r.not_acked)) for r in reports.values())
    assert counts.lost == lost
    assert counts.received == sum(len(set(s)) for s in seen.values())
    assert counts.duplicated == sum(len(s) - len(set(s)) for s in seen.values())
    assert counts.out_of_order == sum(reference_out_of_order(s) for s in seen.values())
    if counts.acked:
        assert counts.delivered_ratio == pytest.approx((counts.acked - lost) / counts.acked)
    else:
        assert counts.delivered_ratio == 1.0
    assert 0.0 <= counts.delivered_ratio <= 1.0


def test_account_worked_example():
    trackers = {0: tracker_of([0, 1, 2, 2, 4, 3]), 7: tracker_of([0])}
    reports = {0: ProducerReport(sent=6, not_acked=[5]), 1: ProducerReport(sent=3)}
    counts = account(trackers, reports)
    # producer 0: acked 0..4, all seen; producer 1: acked 0..2, nothing seen -> 3 lost
    assert counts == DeliveryCounts(sent=9, acked=8, received=6, lost=3, duplicated=1,
                                    out_of_order=1)
    assert counts.delivered_ratio == pytest.approx(5 / 8)


def test_delivered_ratio_when_nothing_acked():
    assert DeliveryCounts(3, 0, 0, 0, 0, 0).delivered_ratio == 1.0
    assert DeliveryCounts(4, 4, 0, 4, 0, 0).delivered_ratio == 0.0
