"""Reading reports back: a run's report.json and steps.csv as pandas DataFrames."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd


@dataclass
class LoadedReport:
    run: dict[str, Any]  # report.json without its steps
    steps: pd.DataFrame  # steps.csv: one row per step
    limits: pd.DataFrame  # one row per test: status, limit, last_pass, first_fail


def find_run_dir(target: str | Path, report_dir: Path = Path(".frida/reports")) -> Path:
    """A run directory from a path (run dir or its report.json) or a run id."""
    path = Path(target)
    if path.is_file():
        path = path.parent
    if not path.is_dir():
        path = report_dir / str(target)
    if not (path / "report.json").is_file():
        raise FileNotFoundError(f"no report.json for {target!r} (looked in {path})")
    return path


def load_report(target: str | Path, report_dir: Path = Path(".frida/reports")) -> LoadedReport:
    """Load one run, e.g. `load_report(".frida/reports/20261126-071200-ab12")`."""
    run_dir = find_run_dir(target, report_dir)
    doc = json.loads((run_dir / "report.json").read_text())
    run = {k: v for k, v in doc.items() if k != "steps"}
    steps = pd.read_csv(run_dir / "steps.csv")
    limits = pd.DataFrame(doc.get("limits", []))
    return LoadedReport(run=run, steps=steps, limits=limits)
