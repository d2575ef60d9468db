"""Latency histograms: exact merges, empty read-outs, clamping, 3-significant-digit accuracy."""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pytest_frida.measure.histogram import HIGHEST_US, BufferedRecorder, LatencyHistogram

PERCENTILES = (0.0, 50.0, 90.0, 95.0, 99.0, 99.9, 100.0)
values_st = st.lists(st.integers(1, 10**9), min_size=1, max_size=120)


def hist_of(values: list[int]) -> LatencyHistogram:
    hist = LatencyHistogram()
    for v in values:
        hist.record_us(v)
    return hist


def readouts(hist: LatencyHistogram) -> tuple[object, ...]:
    return (
        hist.count,
        hist.max_ms(),
        hist.min_ms(),
        hist.mean_ms(),
        [hist.percentile_ms(p) for p in PERCENTILES],
        hist.percentile_curve(),
    )


@settings(max_examples=25, deadline=None)
@given(values=values_st, cuts=st.lists(st.integers(0, 120), max_size=4))
def test_merging_encoded_parts_is_exact(values, cuts):
    bounds = sorted({0, len(values), *(min(c, len(values)) for c in cuts)})
    parts = [values[a:b] for a, b in itertools.pairwise(bounds)]
    encoded = [hist_of(part).encode() for part in parts]

    merged = LatencyHistogram()
    for text in encoded:
        merged.add_encoded(text)
    whole = hist_of(values)
    assert merged.count == len(values)
    assert merged.summary_ms() == whole.summary_ms()
    assert (merged.count, merged.max_ms(), merged.min_ms()) == (
        whole.count,
        whole.max_ms(),
        whole.min_ms(),
    )
    # identical encodings mean identical bucket counts, so every other read-out agrees too
    assert merged.encode() == whole.encode()

    # the other merge paths agree as well
    decoded = LatencyHistogram.decode(encoded[0])
    for text in encoded[1:]:
        decoded.add_encoded(text)
    added = LatencyHistogram()
    for part in parts:
        added.add(hist_of(part))
    for other in (decoded, added):
        assert (other.count, other.max_ms(), other.min_ms()) == (
            whole.count,
            whole.max_ms(),
            whole.min_ms(),
        )
        assert other.encode() == whole.encode()


def test_merge_worked_example():
    parts = [[5, 10**9, 3000], [7], [123456, 42, 42]]
    merged = LatencyHistogram()
    for part in parts:
        merged.add_encoded(hist_of(part).encode())
    whole = hist_of([v for part in parts for v in part])
    assert merged.count == 7
    assert readouts(merged) == readouts(whole)
    assert merged.percentile_ms(50) == 0.042  # 4th of 5, 7, 42, 42, 3000, 123456, 10**9
    assert merged.max_ms() == pytest.approx(1_000_000.0, rel=1e-3)


def test_empty_histogram_reads_none():
    hist = LatencyHistogram()
    assert hist.count == 0
    assert hist.percentile_ms(99) is None
    assert hist.max_ms() is None
    assert hist.min_ms() is None
    assert hist.mean_ms() is None
    assert hist.percentile_curve() == []
    assert set(hist.summary_ms()) == {"p50", "p90", "p95", "p99", "p99.9", "max", "mean"}
    assert all(v is None for v in hist.summary_ms().values())
    again = LatencyHistogram.decode(hist.encode())
    assert again.count == 0
    assert again.summary_ms() == hist.summary_ms()


def test_adding_empty_encodings_keeps_counts_and_percentiles():
    hist = hist_of([1500, 2500])
    hist.add_encoded("")
    hist.add_encoded(LatencyHistogram().encode())
    assert hist.count == 2
    assert hist.max_ms() == 2.501
    assert hist.percentile_ms(50) == pytest.approx(1.5, rel=1e-3)
    assert hist.encode() == hist_of([1500, 2500]).encode()


def test_adding_empty_encoding_keeps_min():
    hist = hist_of([1500, 2500])
    hist.add_encoded(LatencyHistogram().encode())
    assert hist.min_ms() == pytest.approx(1.5, rel=1e-3)


def test_adding_empty_histogram_keeps_min():
    hist = hist_of([1500, 2500])
    hist.add(LatencyHistogram())
    assert hist.min_ms() == pytest.approx(1.5, rel=1e-3)
    assert hist.count == 2


def test_merge_starting_with_empty_part_keeps_min():
    merged = LatencyHistogram()
    for part in ([], [1500, 2500]):
        merged.add_encoded(hist_of(part).encode())
    assert merged.count == 2
    assert merged.min_ms() == pytest.approx(1.5, rel=1e-3)


def test_out_of_range_values_are_clamped_not_dropped():
    hist = LatencyHistogram()
    for v in (0, -5, -(10**12), 10**12, HIGHEST_US + 1):
        hist.record_us(v)
    assert hist.count == 5
    assert hist.min_ms() == 0.001  # 1 us
    assert hist.percentile_ms(40) == 0.001
    top = hist.max_ms()
    assert top is not None
    assert top == pytest.approx(HIGHEST_US / 1000, rel=1e-3)
    assert top >= HIGHEST_US / 1000
    assert hist.percentile_ms(100) == top


def nearest_rank_value(sorted_values: list[int], p: float) -> int:
    """Sorted value at the nearest rank ceil(p/100 * n), at least 1: at least p% of the
    values are at or below it (the rule LatencyHistogram.percentile_ms follows)."""
    n = len(sorted_values)
    rank = max(1, math.ceil(Fraction(str(p)) * n / 100))
    return sorted_values[min(rank, n) - 1]


def present(ms: float | None) -> float:
    """A read-out of a histogram that has values."""
    assert ms is not None
    return ms


@settings(max_examples=40, deadline=None)
@given(values_st)
def test_percentiles_within_three_significant_digits(values):
    hist = hist_of(values)
    ordered = sorted(values)
    for p in (50.0, 90.0, 95.0, 99.0, 99.9):
        got_us = present(hist.percentile_ms(p)) * 1000
        want_us = nearest_rank_value(ordered, p)
        # HdrHistogram reports the highest value equivalent to the sample's bucket
        assert want_us <= got_us + 1e-6
        assert got_us == pytest.approx(want_us, rel=1e-3)
    assert present(hist.max_ms()) * 1000 == pytest.approx(ordered[-1], rel=1e-3)
    assert present(hist.min_ms()) * 1000 == pytest.approx(ordered[0], rel=1e-3)
    assert present(hist.mean_ms()) * 1000 == pytest.approx(float(np.mean(values)), rel=1e-3)


@settings(max_examples=40, deadline=None)
@example(values=[1000, 2000, 3000, 4000, 5000, 6000, 7000])
@given(values_st)
def test_percentiles_match_numpy_inverted_cdf(values):
    hist = hist_of(values)
    for p in (50.0, 90.0, 95.0, 99.0, 99.9):
        want_us = float(np.percentile(values, p, method="inverted_cdf"))
        assert present(hist.percentile_ms(p)) * 1000 == pytest.approx(want_us, rel=1e-3)


def test_percentile_curve_is_monotonic_and_ends_at_max():
    hist = hist_of(list(range(1, 5001)))
    curve = hist.percentile_curve()
    assert curve[0][0] == 0.0
    assert curve[-1] == (100.0, hist.max_ms())
    values = [v for _, v in curve]
    assert values == sorted(values)
    assert values[0] == pytest.approx(0.001, rel=1e-3)
    assert dict(curve)[50.0] == pytest.approx(2.5, rel=1e-3)


batch_values_st = st.lists(
    st.one_of(
        st.integers(1, 10**9),
        st.integers(-5, 5),
        st.integers(2**11 - 3, 2**13 + 3),
        st.integers(HIGHEST_US - 10, HIGHEST_US + 10**6),
    ),
    max_size=150,
)


@settings(max_examples=40, deadline=None)
@given(batch_values_st)
def test_record_batch_equals_recording_one_by_one(values):
    batch = LatencyHistogram()
    batch.record_batch_us(values)
    single = hist_of(values)
    assert batch.count == single.count == len(values)
    assert batch.encode() == single.encode()  # the same bucket counts
    assert (batch.max_ms(), batch.min_ms()) == (single.max_ms(), single.min_ms())
    if values:
        assert batch.percentile_ms(99) == single.percentile_ms(99)


def test_record_batch_of_nothing():
    hist = LatencyHistogram()
    hist.record_batch_us([])
    hist.record_batch_us(np.array([], dtype=np.int64))
    assert hist.count == 0
    assert hist.max_ms() is None


@settings(max_examples=30, deadline=None)
@given(values=batch_values_st, limit=st.integers(1, 20))
def test_buffered_recorder_equals_direct_recording(values, limit):
    recorder = BufferedRecorder(limit=limit)
    for v in values:
        recorder.add(v)
    # whole buffers were folded on the way; the rest waits for fold()
    assert recorder.hist.count == len(values) - len(values) % limit
    hist = recorder.fold()
    assert hist is recorder.hist
    assert recorder.fold().count == len(values)  # a second fold adds nothing
    single = hist_of(values)
    assert hist.encode() == single.encode()
    assert (hist.max_ms(), hist.min_ms()) == (single.max_ms(), single.min_ms())


def _walked(hist: LatencyHistogram, percentile: float) -> float:
    """The nearest-rank percentile found by walking hdrh's own recorded iterator."""
    h = hist._h
    rank = max(1, math.ceil(percentile / 100.0 * hist.count - 1e-9))
    seen = 0
    for item in h.get_recorded_iterator():
        seen += item.count_at_value_iterated_to
        if seen >= rank:
            value = h.get_highest_equivalent_value(item.value_iterated_to)
            return float(min(value, h.get_max_value())) / 1000.0
    raise AssertionError("rank past the last value")


@settings(max_examples=40, deadline=None)
@given(
    values=st.lists(st.integers(1, HIGHEST_US), min_size=1, max_size=200),
    percentile=st.floats(0.0, 100.0),
)
@example(values=[1, 2047, 2048, 2049, 4095, 4096, HIGHEST_US], percentile=99.0)
def test_vectorised_read_outs_equal_hdrh_walking_its_buckets(values, percentile):
    hist = hist_of(values)
    assert hist.percentile_ms(percentile) == _walked(hist, percentile)
    assert hist.mean_ms() == pytest.approx(hist._h.get_mean_value() / 1000.0, rel=1e-12)
