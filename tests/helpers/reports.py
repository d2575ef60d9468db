"""Reading what a pytest-frida session wrote under its --frida-report-dir."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def run_report(report_dir: Path) -> dict[str, Any] | None:
    """The report.json of the one run under `report_dir`, or None before it is written.
    The writer replaces the file whole (report.writer), so a read never sees half of it."""
    paths = sorted(report_dir.glob("*/report.json"))
    assert len(paths) <= 1, f"more than one run under {report_dir}: {paths}"
    return dict(json.loads(paths[0].read_text())) if paths else None


def only_run_report(report_dir: Path) -> dict[str, Any]:
    """The report.json of the one run under `report_dir`, which must have been written."""
    report = run_report(report_dir)
    assert report is not None, f"no run's report.json under {report_dir}"
    return report
