"""report.json / steps.csv written by ReportWriter, and the terminal summary table."""

from __future__ import annotations

import json

import pandas as pd
import pytest

from pytest_frida.measure.accounting import DeliveryCounts
from pytest_frida.measure.result import StepResult
from pytest_frida.measure.slo import parse_slo
from pytest_frida.report.model import RunInfo
from pytest_frida.report.summary import HEADER, format_table, summary_rows
from pytest_frida.report.writer import CSV_COLUMNS, ReportWriter

TEST = "examples/capacity/test_market_data.py::test_market_data_ingestion[producers={n}]"
COUNT_COLUMNS = ("sent", "acked", "received", "lost", "duplicated", "out_of_order")
LATENCY_COLUMNS = ("p50_ms", "p90_ms", "p99_ms", "p99.9_ms", "max_ms", "mean_ms")


def measured_step(producers: int, p99: float, lost: int, verdict: str) -> StepResult:
    slo = parse_slo("p99<=250ms, loss==0")
    sent = producers * 100
    step = StepResult(
        test=TEST.format(n=producers),
        producers=producers,
        rate_per_producer=10.0,
        duration_s=10.0,
        warmup_s=2.0,
        message_size=256,
        partitions=3,
        slo=str(slo),
        started_at="2025-01-01T00:00:00+00:00",
        ended_at="2025-01-01T00:00:12+00:00",
        achieved_rate=producers * 9.87654,
        delivered_rate=producers * 9.5,
        counts=DeliveryCounts(
            sent=sent,
            acked=sent - 1,
            received=sent - 1 - lost,
            lost=lost,
            duplicated=0,
            out_of_order=2,
        ),
        latency={
            "p50": 3.2,
            "p90": 10.0,
            "p95": 20.0,
            "p99": p99,
            "p99.9": p99 * 2,
            "max": p99 * 3,
            "mean": 4.5,
        },
        publish_latency={"p99": 1.25},
        publish_delay={"p99": 0.5},
        latency_curve=[(50.0, 3.2), (99.0, p99)],
        generator_cpu=0.41234,
        notes=["first note", "second note"],
        verdict=verdict,
    )
    step.verdicts = slo.evaluate(step.slo_metrics())
    return step


def error_step() -> StepResult:
    return StepResult(
        test=TEST.format(n=100),
        producers=100,
        rate_per_producer=10.0,
        duration_s=10.0,
        warmup_s=2.0,
        message_size=256,
        partitions=3,
        slo="p99<=250ms, loss==0",
        verdict="error",
        error="broker went away",
    )


@pytest.fixture
def steps() -> list[StepResult]:
    return [
        measured_step(1, 12.5, 0, "pass"),
        measured_step(20, 300.25, 3, "fail"),
        measured_step(50, 40.0, 0, "generator_bound"),
        error_step(),
    ]


@pytest.fixture
def info() -> RunInfo:
    return RunInfo(
        run_id="20250101-000000-abcd",
        started_at="2025-01-01T00:00:00+00:00",
        site="local",
        client="kafka-python",
        kafka_version="4.4.0",
        settings={"brokers": 1},
    )


def test_steps_csv_loads_with_pandas(tmp_path, steps, info):
    writer = ReportWriter(tmp_path / "run")
    writer.write(info, steps)
    assert writer.csv_path == tmp_path / "run" / "steps.csv"
    df = pd.read_csv(writer.csv_path)
    assert list(df.columns) == list(CSV_COLUMNS)
    assert len(df) == len(steps)
    assert list(df["verdict"]) == ["pass", "fail", "generator_bound", "error"]
    assert list(df["producers"]) == [1, 20, 50, 100]
    assert set(df["run_id"]) == {info.run_id}
    for column in (
        *COUNT_COLUMNS,
        *LATENCY_COLUMNS,
        "producers",
        "target_rate",
        "achieved_rate",
        "delivered_rate",
        "publish_latency_p99_ms",
        "generator_cpu",
        "duration_s",
        "message_size",
    ):
        assert pd.api.types.is_numeric_dtype(df[column]), column
    # the measured rows carry their numbers; the error row leaves them empty
    assert df.loc[1, "lost"] == 3
    assert df.loc[1, "p99_ms"] == 300.25
    assert df.loc[0, "target_rate"] == 10.0
    assert df.loc[1, "achieved_rate"] == pytest.approx(197.531)  # rounded to 3 decimals
    assert df.loc[0, "generator_cpu"] == 0.412
    assert df.loc[:2, "sent"].tolist() == [100, 2000, 5000]
    assert df.loc[3, list(COUNT_COLUMNS)].isna().all()
    assert df.loc[3, list(LATENCY_COLUMNS)].isna().all()
    assert df.loc[3, "error"] == "broker went away"
    assert df.loc[0, "notes"] == "first note; second note"
    assert df.loc[0, "slo"] == "p99<=250ms, loss==0"


def test_report_json(tmp_path, steps, info):
    writer = ReportWriter(tmp_path / "run")
    writer.write(info, steps)
    doc = json.loads(writer.json_path.read_text())
    assert doc["run_id"] == info.run_id
    assert doc["kafka_version"] == "4.4.0"
    assert doc["status"] == "running"
    assert len(doc["steps"]) == len(steps)
    first, failed, _, errored = doc["steps"]
    assert first["verdict"] == "pass"
    assert first["target_rate"] == 10.0
    assert first["counts"]["sent"] == 100
    assert first["latency"]["p99"] == 12.5
    assert first["latency_curve"] == [[50.0, 3.2], [99.0, 12.5]]
    assert failed["verdicts"] == [
        {"clause": "p99<=250ms", "measured": 300.25, "passed": False},
        {"clause": "loss==0", "measured": 3, "passed": False},
    ]
    assert errored["counts"] is None
    assert errored["error"] == "broker went away"


def test_rewrite_replaces_files_atomically(tmp_path, steps, info):
    writer = ReportWriter(tmp_path / "run")
    writer.write(info, steps[:1])
    writer.write(info, steps)
    assert len(pd.read_csv(writer.csv_path)) == len(steps)
    assert len(json.loads(writer.json_path.read_text())["steps"]) == len(steps)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["report.json", "steps.csv"]


def test_empty_run_writes_header_only(tmp_path, info):
    writer = ReportWriter(tmp_path / "run")
    writer.write(info, [])
    df = pd.read_csv(writer.csv_path)
    assert len(df) == 0
    assert list(df.columns) == list(CSV_COLUMNS)
    assert json.loads(writer.json_path.read_text())["steps"] == []


def test_format_table_aligns(steps):
    lines = format_table(steps)
    assert len(lines) == len(steps) + 2
    assert len({len(line) for line in lines}) == 1
    assert lines[0].split() == " ".join(HEADER).split()
    assert set(lines[1].replace(" ", "")) == {"-"}
    for line, step in zip(lines[2:], steps, strict=True):
        assert line.rstrip().endswith(step.verdict)
        assert line.startswith("test_market_data_ingestion ")  # module and params dropped
    # right-aligned numbers end in the same column as their header
    p99_end = lines[0].index("p99 ms") + len("p99 ms")
    assert lines[3][:p99_end].endswith(" 300.2")  # 300.25 at one decimal


def test_summary_rows_values(steps):
    rows = summary_rows(steps)
    assert rows[0] == (
        "test_market_data_ingestion",
        "1",
        "10",
        "9.9",
        "3.2",
        "12.5",
        "37.5",
        "0",
        "0",
        "0",
        "pass",
    )
    assert rows[3][4:] == ("-", "-", "-", "-", "-", "-", "error")


def test_format_table_without_steps():
    lines = format_table([])
    assert len(lines) == 2
    assert len(lines[0]) == len(lines[1])
