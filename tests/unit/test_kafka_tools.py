"""Parsing what Kafka's own tools print (lines copied from Kafka 4.4.0 runs)."""

from __future__ import annotations

import pytest

from pytest_frida.bench.kafka_tools import ToolError, parse_end_to_end, parse_perf

PERF = """\
Option --producer-props has been deprecated and will be removed in a future version.
1227690 records sent, 245194.7 records/sec (23.38 MB/sec), 527.9 ms avg latency, 1159.0 ms max latency.
2000000 records sent, 298908.982215 records/sec (28.51 MB/sec), 617.14 ms avg latency, 1159.00 ms max latency, 626 ms 50th, 1038 ms 95th, 1101 ms 99th, 1135 ms 99.9th.
"""  # noqa: E501

E2E = """\
WARNING: Positional argument usage is deprecated and will be removed in Apache Kafka 5.0.
0\t209.63029
Avg latency: 4.2248 ms
Percentiles: 50th = 2, 99th = 16, 99.9th = 209
"""


def test_perf_final_line_wins_over_interim_ones() -> None:
    result = parse_perf(PERF)
    assert result.records == 2_000_000
    assert result.records_per_s == pytest.approx(298908.982215)
    assert result.avg_latency_ms == pytest.approx(617.14)


def test_end_to_end_summary() -> None:
    result = parse_end_to_end(E2E)
    assert (result.avg_ms, result.p50_ms, result.p99_ms) == (4.2248, 2, 16)


@pytest.mark.parametrize("parse", [parse_perf, parse_end_to_end])
def test_unreadable_output_is_an_error(parse: object) -> None:
    with pytest.raises(ToolError, match="no"):
        parse("Exception in thread main")  # type: ignore[operator]
