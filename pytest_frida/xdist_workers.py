"""A run split over pytest-xdist workers: the controller hands its run id to every
worker, each worker writes its steps below `<run>/workers/<worker id>/`, and the
controller merges them into one report at the end."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pytest_frida.measure.result import StepResult, step_from_dict
from pytest_frida.report.model import RunInfo

WORKERS_DIR = "workers"


def worker_dir(run_dir: Path, worker: str) -> Path:
    """Where a worker of the run writes its report."""
    return run_dir / WORKERS_DIR / worker


class XdistController:
    """pytest-xdist hooks, registered only where xdist is: hand the run id to workers, so
    their reports land below the controller's run and merge into one."""

    def __init__(self, run_id: str) -> None:
        self.run_id = run_id

    def pytest_configure_node(self, node: Any) -> None:
        node.workerinput["frida_run_id"] = self.run_id


def merge_workers(run_dir: Path, info: RunInfo, steps: list[StepResult]) -> list[str]:
    """Add every worker's steps to `steps` and its clusters to `info`, from its report
    (written after each step, so a crashed worker's finished steps are there too).
    Returns the reports that could not be read, said as problems."""
    problems: list[str] = []
    workers = sorted((run_dir / WORKERS_DIR).glob("*/report.json"))
    for path in workers:
        try:
            doc = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            problems.append(f"could not read worker report {path}: {exc}")
            continue
        steps += [step_from_dict(s) for s in doc.get("steps", [])]
        info.cluster.setdefault("workers", {})[path.parent.name] = doc.get("cluster")
        info.shape_clusters += [
            {**c, "worker": path.parent.name} for c in doc.get("shape_clusters", [])
        ]
        if doc.get("kafka_version"):
            info.kafka_version = doc["kafka_version"]
    if workers:
        steps.sort(key=lambda s: (s.started_at, s.test))
    return problems
