"""One capacity run per pytest session: its id, its cluster, its steps and its report.

The cluster starts lazily, the first time a test needs it, so `pytest --collect-only` or
a session without capacity tests never starts a broker.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from pytest_frida.config import ClusterSettings, FridaSettings
from pytest_frida.errors import FridaSetupError
from pytest_frida.measure import host_speed
from pytest_frida.measure.result import StepResult, step_from_dict, utc_now
from pytest_frida.progress import TerminalProgress
from pytest_frida.report.compare import Change, compare
from pytest_frida.report.history import (
    History,
    HistoryEntry,
    HistoryError,
    baseline_for,
    differences,
    earlier_runs,
    entries_for_run,
    like_runs,
    trusted,
)
from pytest_frida.report.influx import InfluxExporter
from pytest_frida.report.model import RunInfo
from pytest_frida.report.redact import redact
from pytest_frida.report.writer import ReportWriter
from pytest_frida.runtimes.process import (
    install_exit_handlers,
    interrupts_deferred,
    register_cleanup,
    unregister_cleanup,
)
from pytest_frida.sites import create_site
from pytest_frida.sites.base import Cluster, Site


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
        return list(value)
    if isinstance(value, int | float | str | dict | list) or value is None:
        return value
    return str(value)


def new_run_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(2)}"


WORKERS_DIR = "workers"


#: settings, run directory, run id -> the site, not started
MakeSite = Callable[[ClusterSettings, Path, str], Site]


class FridaRun:
    """One run. Under pytest-xdist each worker has its own (with the controller's run id,
    writing below `<run>/workers/<id>/`), and the controller merges their steps at the end."""

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
            self.run_dir = self.run_dir / WORKERS_DIR / worker
        self.steps: list[StepResult] = []
        self.info = RunInfo(
            run_id=self.run_id,
            started_at=utc_now(),
            site=settings.cluster.site,
            client=settings.client,
            kafka_version=settings.cluster.kafka_version,
            settings={
                "brokers": settings.cluster.brokers,
                "broker_config": settings.cluster.broker_config,
                "kafka_home": str(settings.cluster.kafka_home)
                if settings.cluster.kafka_home
                else None,
                "defaults": {
                    f.name: _plain(getattr(settings.defaults, f.name))
                    for f in fields(settings.defaults)
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
            },
        )
        self.writer = ReportWriter(self.run_dir)
        self._site: Site | None = None
        self._cluster: Cluster | None = None
        self._cpu_at_start: host_speed.CpuTimes | None = None
        self.cluster_error: str | None = None
        self.history = History(settings.report_dir)
        #: comparisons with the baseline run, and those past --frida-compare-fail
        self.changes: list[Change] = []
        self.regressions: list[Change] = []
        #: things the user should know that did not stop the run (shown in the summary)
        self.problems: list[str] = []
        self.influx = InfluxExporter(settings.influx_url) if settings.influx_url else None
        #: live progress of a running step (set by the plugin where a terminal wants it)
        self.progress: TerminalProgress | None = None
        #: whole lines about long work (a reservation starting, nodes found)
        self.notify: Callable[[str], None] = lambda line: None
        self._created = time.monotonic()

    @property
    def report_dir(self) -> Path:
        return self.run_dir

    def cluster(self) -> Cluster:
        """The session's cluster, started on first use."""
        if self._cluster is not None:
            return self._cluster
        if self.cluster_error is not None:
            raise FridaSetupError(self.cluster_error)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        install_exit_handlers()  # from here on there is something to clean up
        self._note_commit()
        instance = f"{self.run_id}-{self.worker}" if self.worker else self.run_id
        self._probe_host("before")
        self._site = self.make_site(self.settings.cluster, self.run_dir, instance)
        self._site.notify = self.notify
        register_cleanup(self.stop_cluster)  # even if pytest itself is interrupted twice
        try:
            self._cluster = self._site.start()
        except BaseException as exc:
            self.cluster_error = (
                f"the {self.settings.cluster.site} site could not start Kafka: {exc}"
            )
            with interrupts_deferred():
                try:
                    self._site.stop()
                except Exception as stop_exc:  # the start's own error is the one to show
                    self.problems.append(f"cleaning up after the failed start: {stop_exc}")
                finally:
                    self._site = None
            if isinstance(exc, FridaSetupError):
                raise FridaSetupError(self.cluster_error) from exc
            raise
        c = self._cluster
        self.info.kafka_version = c.kafka_version
        self.info.cluster = {
            "bootstrap": c.bootstrap,
            "brokers": [asdict(b) for b in c.brokers],
            "hosts": c.hosts,
            "ready_seconds": round(c.ready_seconds, 2),
            "ready_after_session_start_s": round(time.monotonic() - self._created, 2),
            **c.details,
        }
        self.writer.write(self.info, self.steps)
        return c

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

    def stop_cluster(self) -> None:
        unregister_cleanup(self.stop_cluster)
        if self._site is not None:
            with interrupts_deferred():
                try:
                    self._site.stop()
                finally:
                    self._site = None
        self._cluster = None

    def finish(self, interrupted: bool) -> None:
        self.stop_cluster()
        if "before" in self.info.host and not interrupted:
            self._probe_host("after")
        self._merge_workers()
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
            self._compare(past, entries)
            self.history.append(entries)
            past += entries
        try:
            self.writer.write_html(self.info, self.steps, past or [], self.changes)
        except Exception as exc:  # the HTML is a view: report.json and steps.csv stand
            self.problems.append(f"report.html could not be drawn: {type(exc).__name__}: {exc}")

    def _merge_workers(self) -> None:
        """On an xdist controller: take every worker's steps from its report (written after
        each step, so a crashed worker's finished steps are there too)."""
        workers = sorted((self.run_dir / WORKERS_DIR).glob("*/report.json"))
        for path in workers:
            try:
                doc = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                self.problems.append(f"could not read worker report {path}: {exc}")
                continue
            self.steps += [step_from_dict(s) for s in doc.get("steps", [])]
            self.info.cluster.setdefault("workers", {})[path.parent.name] = doc.get("cluster")
            if doc.get("kafka_version"):
                self.info.kafka_version = doc["kafka_version"]
        if workers:
            self.steps.sort(key=lambda s: (s.started_at, s.test))

    def _compare(self, past: list[HistoryEntry], entries: list[HistoryEntry]) -> None:
        if self.settings.compare is None:
            return
        gated = bool(self.settings.compare_fail)
        for entry in entries:
            baseline = baseline_for(past, entry, self.settings.compare)
            if baseline is None:
                caught = (
                    trusted(like_runs(past, entry))[1] if self.settings.compare == "last" else None
                )
                if caught is not None and gated:  # nothing passed since it was caught
                    entry.regressed = list(caught.regressed or [])
                    self.changes.append(
                        Change(
                            entry.test,
                            f"{'; '.join(entry.regressed)} caught in run"
                            f" {caught.run_id} and not accepted since (compare with that run by"
                            " name to accept the change)",
                            None,
                            None,
                            None,
                            None,
                            True,
                        )
                    )
                else:
                    self.problems.append(self._no_baseline(past, entry))
                continue
            changes = compare(entry, baseline, self.settings.compare_fail, past)
            if gated:  # recorded with the run: a caught one is no later run's baseline
                entry.regressed = [
                    c.what + (f" at {c.producers} producers" if c.producers is not None else "")
                    for c in changes
                    if c.failed
                ]
            self.changes += changes
        self.regressions = [c for c in self.changes if c.failed]

    def _no_baseline(self, past: list[HistoryEntry], entry: HistoryEntry) -> str:
        """Why `entry` has nothing to compare with, and what kept the nearest run out."""
        if self.settings.compare != "last":
            return f"run {self.settings.compare} has no entry for {entry.test} to compare with"
        earlier = earlier_runs(past, entry)
        if not earlier:
            return f"no earlier run of {entry.test} to compare with"
        like = like_runs(past, entry)
        if like:  # like runs, none of them trusted
            why = (
                "was interrupted"
                if like[-1].status != "finished"
                else "came after a caught regression and no gate judged it"
            )
            return (
                f"no earlier run of {entry.test} with the same plan and Kafka version"
                f" to compare with that finished and passed a gate; the latest,"
                f" {like[-1].run_id}, {why}"
            )
        latest = earlier[-1]
        if latest.plan is None:
            why = f"has no plan recorded (history schema {latest.schema})"
        else:
            why = "differs in " + "; ".join(
                d
                for d in differences(latest, entry)
                if d.startswith("plan.") or d.startswith("system.kafka_version")
            )
        return (
            f"no earlier run of {entry.test} with the same plan and Kafka version to"
            f" compare with; the latest, {latest.run_id}, {why}"
        )
