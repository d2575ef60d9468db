"""One capacity run per pytest session: its life from start to finish. It starts with an
id and what it was asked; it records each step as it finishes (report, Influx); it finishes
with the history, the comparison with a baseline and the HTML. Its cluster is a
LazyCluster, and under pytest-xdist its workers' steps are merged (xdist_workers).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from pytest_frida.baseline_comparison import compare_with_baselines
from pytest_frida.config import ClusterSettings, FridaSettings, Shape
from pytest_frida.errors import FridaSetupError
from pytest_frida.lazy_cluster import LazyCluster, MakeSite
from pytest_frida.measure import host_speed
from pytest_frida.measure.result import StepResult, utc_now
from pytest_frida.progress import TerminalProgress
from pytest_frida.report.capacity import base_test_id
from pytest_frida.report.compare import Change
from pytest_frida.report.history import (
    History,
    HistoryEntry,
    HistoryError,
    entries_for_run,
)
from pytest_frida.report.influx import InfluxExporter
from pytest_frida.report.model import RunInfo
from pytest_frida.report.redact import redact
from pytest_frida.report.writer import ReportWriter
from pytest_frida.sites import create_site
from pytest_frida.sites.base import Cluster
from pytest_frida.xdist_workers import merge_workers, worker_dir


def current_commit() -> str | None:
    """The commit under test: $FRIDA_COMMIT, else `git rev-parse HEAD` here, else None."""
    explicit = os.environ.get("FRIDA_COMMIT")
    if explicit:
        return explicit
    try:
        proc = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return proc.stdout.strip() or None if proc.returncode == 0 else None


def _plain(value: Any) -> Any:
    """Settings as JSON-friendly values (an SLO as its text, tuples as lists)."""
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, int | float | str | dict | list) or value is None:
        return value
    return str(value)


def asked(settings: FridaSettings) -> dict[str, Any]:
    """What the run was asked, as its report records it (secrets redacted)."""
    return {
        "brokers": settings.cluster.brokers,
        "broker_config": settings.cluster.broker_config,
        "kafka_home": str(settings.cluster.kafka_home) if settings.cluster.kafka_home else None,
        "defaults": {
            f.name: _plain(getattr(settings.defaults, f.name)) for f in fields(settings.defaults)
        },
        "overrides": {k: _plain(v) for k, v in settings.overrides.items()},
        "search": str(settings.search) if settings.search else None,
        "influx": redact(settings.influx_url) if settings.influx_url else None,
        "reservation": {
            f.name: redact(v) if isinstance(v, str) else _plain(v)
            for f in fields(settings.cluster.reservation)
            for v in [getattr(settings.cluster.reservation, f.name)]
        }
        if settings.cluster.reservation
        else None,
        "clock_correction": settings.clock_correction,
        "monitor": settings.cluster.monitor,
        # how the load is spread: part of a plan (report.history)
        "workers": settings.workers,
        "runtime": settings.cluster.runtime,
        "prime": settings.prime,
        "producers_per_replica": settings.cluster.producers_per_replica,
        "producers_per_node": settings.cluster.producers_per_node,
        "broker_cores": settings.cluster.broker_cores,
        # what the report sizes against (report.sizing); `frida report` reads it back
        "target": settings.target.text if settings.target else None,
    }


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


def _one_line(exc: BaseException) -> str:
    """An error as one line (a docker error may span several)."""
    return " ".join(str(exc).split()) or type(exc).__name__


class FridaRun:
    """One run: started with the session, recording steps as they finish, finished at its
    end. Under pytest-xdist each worker has its own (with the controller's run id, writing
    below `<run>/workers/<id>/`), and the controller merges their steps when it finishes."""

    def __init__(
        self,
        settings: FridaSettings,
        run_id: str | None = None,
        worker: str | None = None,
        make_site: MakeSite = create_site,
    ) -> None:
        self.settings = settings
        #: how the run gets its site (the plugin asks the pytest_frida_make_site hook)
        self.make_site = make_site
        self.run_id = run_id or new_run_id()
        self.worker = worker
        self.run_dir = settings.report_dir / self.run_id
        if worker is not None:
            self.run_dir = worker_dir(self.run_dir, worker)
        self.steps: list[StepResult] = []
        self.info = RunInfo(
            run_id=self.run_id,
            started_at=utc_now(),
            site=settings.cluster.site,
            client=settings.client,
            kafka_version=settings.cluster.kafka_version,
            settings=asked(settings),
        )
        self.writer = ReportWriter(self.run_dir)
        self._cpu_at_start: host_speed.CpuTimes | None = None
        self.history = History(settings.report_dir)
        #: comparisons with the baseline run, and those past --frida-compare-fail
        self.changes: list[Change] = []
        self.regressions: list[Change] = []
        #: things the user should know that did not stop the run (shown in the summary)
        self.problems: list[str] = []
        self.influx = InfluxExporter(settings.influx_url) if settings.influx_url else None
        #: live progress of a running step (set by the plugin where a terminal wants it)
        self.progress: TerminalProgress | None = None
        #: what the site names what it creates (a worker's own under xdist)
        self._instance = f"{self.run_id}-{worker}" if worker else self.run_id
        self._cluster = LazyCluster(
            settings.cluster,
            self.run_dir,
            self._instance,
            make_site,
            self.problems,
            before_start=self._before_cluster,
            started=self._describe_cluster,
        )
        #: clusters of other settings (cluster shapes) started so far, and why those
        #: that failed to start did, so that they fail again at once
        self._shape_clusters = 0
        self._failed: list[tuple[ClusterSettings, str]] = []
        #: why a cluster could not be stopped when another was wanted: nothing else
        #: starts while it may run
        self._stuck: str | None = None
        self._created = time.monotonic()
        #: the history as it was before this run's first gate check (False: not read yet,
        #: None: unreadable, which finish reports)
        self._gate_past: list[HistoryEntry] | bool | None = False

    @property
    def notify(self) -> Callable[[str], None]:
        """Whole lines about long work (a reservation starting, nodes found)."""
        return self._cluster.notify

    @notify.setter
    def notify(self, say: Callable[[str], None]) -> None:
        self._cluster.notify = say

    @property
    def switched(self) -> bool:
        """Whether a cluster of other settings than the session's ever started here: the
        session's own cluster may then have been stopped and started anew."""
        return self._shape_clusters > 0

    @property
    def report_dir(self) -> Path:
        return self.run_dir

    def cluster(
        self, settings: ClusterSettings | None = None, shape: Shape | None = None
    ) -> Cluster:
        """The cluster of `settings` (the session's by default), started on first use.
        One cluster at a time: a cluster of other settings is stopped before this one
        starts (a cluster shape, config.shapes, asks for its own; `shape` names it)."""
        wanted = settings or self.settings.cluster
        if self._stuck is None and self._cluster.settings != wanted:
            self._switch(wanted, shape)
        if self._stuck is not None:
            raise FridaSetupError(self._stuck)
        return self._cluster.get()

    def _switch(self, wanted: ClusterSettings, shape: Shape | None) -> None:
        current = self._cluster
        if current.error is not None:
            self._failed.append((current.settings, current.error))
        try:
            current.stop()
        except Exception as exc:  # it stays the run's cluster: the session's end retries
            self._stuck = (
                f"the previous shape's cluster could not be stopped: {_one_line(exc)};"
                " no other cluster is started while it may run"
            )
            self.problems.append(self._stuck)
            return
        if wanted == self.settings.cluster:
            run_dir, instance, started = self.run_dir, self._instance, self._describe_cluster
        else:
            self._shape_clusters += 1
            label, slug = (shape.label, shape.slug) if shape else ("", "shape")
            run_dir = self.run_dir / "shapes" / f"{self._shape_clusters}-{slug}"
            instance = f"{self._instance}-s{self._shape_clusters}"

            def started(c: Cluster) -> None:
                self._describe_shape_cluster(c, label)

        self._cluster = LazyCluster(
            wanted,
            run_dir,
            instance,
            self.make_site,
            self.problems,
            before_start=self._before_cluster,
            started=started,
        )
        self._cluster.notify = current.notify
        self._cluster.error = next((e for s, e in self._failed if s == wanted), None)

    def stop_cluster(self) -> None:
        """Stop the cluster if it started (at session end, or when its fixture ends). One
        that could not be stopped before is tried again; failing again, it is a problem
        of the run, and the exit cleanup tries once more."""
        if self._stuck is None:
            self._cluster.stop()
            return
        try:
            self._cluster.stop()
        except Exception as exc:
            self.problems.append(f"the cluster still could not be stopped: {_one_line(exc)}")

    def _before_cluster(self) -> None:
        """Before the run's first cluster (the host's speed is probed once)."""
        self._note_commit()
        if "before" not in self.info.host:
            self._probe_host("before")

    def _cluster_facts(self, c: Cluster) -> dict[str, Any]:
        return {
            "bootstrap": c.bootstrap,
            "brokers": [asdict(b) for b in c.brokers],
            "hosts": c.hosts,
            "ready_seconds": round(c.ready_seconds, 2),
            "ready_after_session_start_s": round(time.monotonic() - self._created, 2),
            **c.details,
        }

    def _describe_cluster(self, c: Cluster) -> None:
        """The started cluster in the report, written at once."""
        self.info.kafka_version = c.kafka_version
        self.info.cluster = self._cluster_facts(c)
        self.writer.write(self.info, self.steps)

    def _describe_shape_cluster(self, c: Cluster, shape: str) -> None:
        """A cluster shape's cluster in the report, beside the session's."""
        self.info.shape_clusters.append(
            {"shape": shape, "kafka_version": c.kafka_version, **self._cluster_facts(c)}
        )
        self.writer.write(self.info, self.steps)

    def _probe_host(self, when: str) -> None:
        """This host's speed before the cluster starts ("before") or after it stopped
        ("after", with the run's CPU shares in between): see measure.host_speed."""
        self.info.host[when] = host_speed.probe().to_dict()
        now = host_speed.read_cpu_times()
        if when == "before":
            self._cpu_at_start = now
        elif now is not None and self._cpu_at_start is not None:
            shares = self._cpu_at_start.shares(now)
            if shares is not None:
                self.info.host["run"] = shares

    def _note_commit(self) -> None:
        """Ask git once, and only for a run that reports (not at every pytest start)."""
        if self.info.commit is None:
            self.info.commit = current_commit()

    def check_compare_target(self) -> str | None:
        """Before anything runs: a compare request needs a readable history that has the
        named run. Returns the problem, or None."""
        if self.settings.compare is None:
            return None
        try:
            entries = self.history.load()
        except HistoryError as exc:
            return str(exc)
        if self.settings.compare != "last" and not any(
            e.run_id == self.settings.compare for e in entries
        ):
            known = sorted({e.run_id for e in entries})[-5:]
            return (
                f"--frida-compare={self.settings.compare}: no such run in"
                f" {self.history.path}; latest runs: {', '.join(known) or 'none'}"
            )
        return None

    def record(self, step: StepResult) -> None:
        """Keep a finished step and write the report at once (a crash loses nothing)."""
        self.steps.append(step)
        self.writer.write(self.info, self.steps)
        if self.influx is not None:
            problem = self.influx.send(self.info, step)
            if problem and problem not in self.problems:
                self.problems.append(problem)

    def record_search(self, test: str, spec: str, outcome: str, counts: list[int]) -> None:
        self.info.searches.append(
            {"test": test, "spec": spec, "outcome": outcome, "steps": len(counts), "counts": counts}
        )
        self.writer.write(self.info, self.steps)

    def latency_regression_at(self, test: str, producers: int) -> Change | None:
        """The latency regression at `producers` the session's gate would fail the run
        for on `test`'s steps so far, or None (no latency gate, no baseline, history
        unreadable): the step runner measures such a count again before the gate reads it
        (fixtures.Step), and the gate reads the value most of its trials reached
        (HistoryEntry.latency_at), so one slow step of three does not fail a build alone."""
        thresholds = self.settings.compare_fail
        target = self.settings.compare
        if target is None or all(t.metric == "capacity" for t in thresholds):
            return None
        steps = [s for s in self.steps if base_test_id(s.test) == test]
        if not steps:
            return None
        if self._gate_past is False:
            try:
                self._gate_past = self.history.load()
            except HistoryError:
                self._gate_past = None
        if not isinstance(self._gate_past, list):
            return None
        comparison = compare_with_baselines(
            self._gate_past, entries_for_run(self.info, steps), target, thresholds
        )
        return next(
            (c for c in comparison.regressions if c.producers == producers),
            None,
        )

    def finish(self, interrupted: bool) -> None:
        self.stop_cluster()
        if "before" in self.info.host and not interrupted:
            self._probe_host("after")
        self.problems += merge_workers(self.run_dir, self.info, self.steps)
        if not self.steps and not self.run_dir.exists():
            return
        self._note_commit()
        self.info.finished_at = utc_now()
        self.info.status = "interrupted" if interrupted else "finished"
        try:
            self.writer.write(self.info, self.steps)
        except FridaSetupError as exc:
            print(f"frida: {exc}", file=sys.stderr)
            return
        if self.worker is not None:
            return  # history, comparison and HTML are the controller's, over all workers
        entries = entries_for_run(self.info, self.steps)
        try:
            past = self.history.load()
        except HistoryError as exc:
            self.problems.append(f"{exc}; this run was not added to the history")
            past = None
        if past is not None:
            if self.settings.compare is not None:
                comparison = compare_with_baselines(
                    past, entries, self.settings.compare, self.settings.compare_fail
                )
                self.changes = comparison.changes
                self.regressions = comparison.regressions
                self.problems += comparison.problems
            self.history.append(entries)
            past += entries
        try:
            self.writer.write_html(self.info, self.steps, past or [], self.changes)
        except Exception as exc:  # the HTML is a view: report.json and steps.csv stand
            self.problems.append(f"report.html could not be drawn: {type(exc).__name__}: {exc}")
