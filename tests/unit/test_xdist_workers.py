"""The controller of an xdist run merges its workers' steps, in the order they ran, and
says which worker report it could not read."""

from __future__ import annotations

import json
from pathlib import Path

from pytest_frida.measure.result import StepResult
from pytest_frida.report.model import RunInfo
from pytest_frida.xdist_workers import merge_workers, worker_dir


def test_workers_steps_are_merged_in_start_order(tmp_path: Path) -> None:
    def step(test: str, started: str) -> StepResult:
        s = StepResult(test, 1, 1.0, 1.0, 0.0, 100, 1, "p99<=1s")
        s.started_at = started
        return s

    for worker, started, version in (
        ("gw1", "2026-01-01T00:00:02", "4.4.0"),
        ("gw0", "2026-01-01T00:00:01", None),
    ):
        d = worker_dir(tmp_path, worker)
        d.mkdir(parents=True)
        doc = {"steps": [step(f"t_{worker}", started).to_dict()], "cluster": {"bootstrap": worker}}
        if version:
            doc["kafka_version"] = version
        (d / "report.json").write_text(json.dumps(doc))
    broken = worker_dir(tmp_path, "gw2")
    broken.mkdir(parents=True)
    (broken / "report.json").write_text("{")
    info = RunInfo(
        run_id="r", started_at="t", site="local", client="c", kafka_version="?", settings={}
    )
    steps: list[StepResult] = []
    problems = merge_workers(tmp_path, info, steps)
    assert [s.test for s in steps] == ["t_gw0", "t_gw1"]
    assert info.cluster["workers"] == {"gw0": {"bootstrap": "gw0"}, "gw1": {"bootstrap": "gw1"}}
    assert info.kafka_version == "4.4.0"
    assert len(problems) == 1 and "could not read worker report" in problems[0]
    assert "gw2" in problems[0]


def test_no_workers_leaves_the_steps_alone(tmp_path: Path) -> None:
    info = RunInfo(
        run_id="r", started_at="t", site="local", client="c", kafka_version="?", settings={}
    )
    steps: list[StepResult] = []
    assert merge_workers(tmp_path, info, steps) == [] and steps == []


def test_workers_shape_clusters_and_steps_shapes_are_merged(tmp_path: Path) -> None:
    step = StepResult("t[shape=3b]", 1, 1.0, 1.0, 0.0, 100, 1, "p99<=1s")
    step.shape, step.shape_label = {"brokers": 3, "partitions": 1}, "3b"
    d = worker_dir(tmp_path, "gw0")
    d.mkdir(parents=True)
    doc = {"steps": [step.to_dict()], "shape_clusters": [{"shape": "3b", "bootstrap": "b"}]}
    (d / "report.json").write_text(json.dumps(doc))
    info = RunInfo(
        run_id="r", started_at="t", site="local", client="c", kafka_version="?", settings={}
    )
    steps: list[StepResult] = []
    assert merge_workers(tmp_path, info, steps) == []
    assert [(s.shape_label, s.shape) for s in steps] == [("3b", {"brokers": 3, "partitions": 1})]
    assert info.shape_clusters == [{"shape": "3b", "bootstrap": "b", "worker": "gw0"}]
