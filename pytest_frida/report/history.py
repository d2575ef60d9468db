"""The history store: one JSON line per (run, test), appended, never rewritten.

`<report-dir>/history.jsonl` keys every entry by test, site and commit, so a run can be
compared with the previous run of the same test on the same site. A line that does not
parse or comes from another schema is an error naming the file and line: we never guess,
and never rewrite what is there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pytest_frida.measure.result import StepResult
from pytest_frida.report.capacity import base_test_id, capacity_limit
from pytest_frida.report.model import RunInfo

HISTORY_FILE = "history.jsonl"
HISTORY_SCHEMA = 1


class HistoryError(ValueError):
    """The history file cannot be read as ours; the message names file and line."""


@dataclass
class HistoryEntry:
    run_id: str
    started_at: str
    status: str
    site: str
    client: str
    kafka_version: str
    commit: str | None
    test: str
    limit: dict[str, Any]
    steps: list[dict[str, Any]] = field(default_factory=list)
    schema: int = HISTORY_SCHEMA

    @property
    def limit_value(self) -> int | None:
        value = self.limit.get("limit")
        return int(value) if value is not None else None

    def latency_at(self, producers: int, metric: str) -> float | None:
        for step in self.steps:
            judged = step.get("latency_judged", step["verdict"] in ("pass", "fail"))
            if step["producers"] == producers and judged:
                value = step.get(metric)
                return float(value) if value is not None else None
        return None


def entries_for_run(info: RunInfo, steps: Sequence[StepResult]) -> list[HistoryEntry]:
    grouped: dict[str, list[StepResult]] = {}
    for step in steps:
        grouped.setdefault(base_test_id(step.test), []).append(step)
    return [
        HistoryEntry(
            run_id=info.run_id, started_at=info.started_at, status=info.status,
            site=info.site, client=info.client, kafka_version=info.kafka_version,
            commit=info.commit, test=test, limit=capacity_limit(test, group).to_dict(),
            steps=[{"producers": s.producers, "verdict": s.verdict,
                    # a latency withheld (harness-bound) or never measured (cluster down)
                    # is no figure to compare
                    "latency_judged": s.decides is not None and not s.withheld
                    and s.cluster_down is None,
                    "achieved_rate": round(s.achieved_rate, 3),
                    **{f"{k}_ms": s.latency.get(k) for k in ("p50", "p90", "p99", "p99.9",
                                                             "max")}}
                   for s in group],
        )
        for test, group in grouped.items()
    ]


class History:
    def __init__(self, report_dir: Path) -> None:
        self.path = report_dir / HISTORY_FILE

    def load(self) -> list[HistoryEntry]:
        if not self.path.exists():
            return []
        entries = []
        with open(self.path, encoding="utf-8") as fh:
            for number, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                entries.append(self._parse(line, number))
        return entries

    def _parse(self, line: str, number: int) -> HistoryEntry:
        where = f"{self.path}:{number}"
        try:
            data = json.loads(line)
        except ValueError as exc:
            raise HistoryError(f"{where}: not JSON ({exc}); the history is left as it is,"
                               " fix or move that line") from None
        if not isinstance(data, dict) or data.get("schema") != HISTORY_SCHEMA:
            found = data.get("schema") if isinstance(data, dict) else None
            raise HistoryError(f"{where}: history schema {found!r}, this pytest-frida reads"
                               f" schema {HISTORY_SCHEMA}; use a fresh --frida-report-dir")
        try:
            return HistoryEntry(**data)
        except TypeError as exc:
            raise HistoryError(f"{where}: not a history entry ({exc})") from None

    def append(self, entries: Iterable[HistoryEntry]) -> None:
        """Add entries in one write (O_APPEND), so concurrent writers never interleave."""
        text = "".join(json.dumps(asdict(e), separators=(",", ":")) + "\n" for e in entries)
        if not text:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, text.encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)


def baseline_for(entries: Sequence[HistoryEntry], current: HistoryEntry,
                 run_id: str | None) -> HistoryEntry | None:
    """The entry to compare `current` with: the named run's entry for the same test, or the
    latest earlier run of the same test on the same site."""
    same = [e for e in entries if e.test == current.test and e.run_id != current.run_id]
    if run_id is not None and run_id != "last":
        named = [e for e in same if e.run_id == run_id]
        return named[-1] if named else None
    candidates = [e for e in same if e.site == current.site
                  and e.started_at <= current.started_at]
    return candidates[-1] if candidates else None
