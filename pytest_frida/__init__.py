"""pytest-frida: broker capacity tests as pytest suites."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pytest_frida.version import __version__

__all__ = ["__version__", "load_report"]

if TYPE_CHECKING:
    from pytest_frida.report.load import LoadedReport


def load_report(target: Any, report_dir: Any = ".frida/reports") -> LoadedReport:
    """A run's report as pandas DataFrames (imported lazily: pytest start stays quick)."""
    from pathlib import Path

    from pytest_frida.report.load import load_report as _load

    return _load(target, Path(report_dir))
