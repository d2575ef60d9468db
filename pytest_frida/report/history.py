"""The history store: one JSON line per (run, test), appended, never rewritten.

`<report-dir>/history.jsonl` keeps, per test, the whole plan the steps ran (rate, duration,
sizes, brokers, SLO, client, site, machine) and what was under test (Kafka version, broker
settings, commit), so that a run is compared with a run of the same plan: a p99 measured at
another rate or on another machine says nothing about the code. Each step keeps its sample
count and the 95% interval of every latency percentile, so a gate can tell a change from
noise. A line that does not parse or comes from an unknown schema is an error naming the
file and line: we never guess, and never rewrite what is there.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from pytest_frida.kafka.server_config import topic_replication
from pytest_frida.measure import outside
from pytest_frida.measure.host_speed import run_summary
from pytest_frida.measure.intervals import latency_intervals
from pytest_frida.measure.result import StepResult
from pytest_frida.report.capacity import base_test_id, capacity_limit
from pytest_frida.report.model import RunInfo
from pytest_frida.workload.arrivals import DEFAULT_SEED

HISTORY_FILE = "history.jsonl"
HISTORY_SCHEMA = 3
#: schema 1 has no plan: it loads, and is never a like-with-like baseline
READABLE_SCHEMAS = (1, 2, 3)
#: the latency read-outs each step keeps, with their 95% intervals (max as the 100th)
PERCENTILES = {"p50": 50.0, "p90": 90.0, "p99": 99.0, "p99.9": 99.9, "max": 100.0}
#: the machine facts that make two runs comparable (the controller's machine): its class,
#: not its name, so that CI runners of one size compare with each other
MACHINE_KEYS = ("cpu_model", "cpus", "memory_gib")
#: --frida-prime's default, which every run before the option primed its first step with
DEFAULT_PRIME_S = 5.0


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
    #: the workload as planned and where it ran (None in schema-1 entries)
    plan: dict[str, Any] | None = None
    #: what is under test: kafka_version, broker_config, commit (None in schema 1)
    system: dict[str, Any] | None = None
    #: what the gate called regressions when this run was recorded ([] it passed; None
    #: no gate judged it); see `trusted`
    regressed: list[str] | None = None
    #: this host's probed speed and the run's CPU shares (measure.host_speed.run_summary;
    #: None before the probe existed, or for a run without a cluster of its own)
    host: dict[str, Any] | None = None
    #: other work on this host during the test's steps (measure.outside.run_outside: the
    #: largest step mean in cores, and in how many steps it was material); None where it
    #: was not measured, and in runs recorded before it was
    outside: dict[str, Any] | None = None
    schema: int = HISTORY_SCHEMA

    @property
    def limit_value(self) -> int | None:
        value = self.limit.get("limit")
        return int(value) if value is not None else None

    def judged_steps(self, producers: int) -> list[dict[str, Any]]:
        """The trials at `producers` whose latency judged the broker, in the order run,
        whatever their verdicts: a trial slow enough to fail its SLO is still a trial of
        that count's latency."""
        return [
            s
            for s in self.steps
            if s["producers"] == producers
            and s.get("latency_judged", s["verdict"] in ("pass", "fail"))
        ]

    def measured_steps(self, producers: int, metric: str) -> list[dict[str, Any]]:
        """`judged_steps` that measured `metric`: the trials a count's value is read from."""
        return [s for s in self.judged_steps(producers) if s.get(metric) is not None]

    def typical_step(self, producers: int, metric: str) -> dict[str, Any] | None:
        """Of `measured_steps`, the lower median by `metric`: the value a majority of them
        reached or exceeded (both of two, two of three), so one slow trial of three never
        decides a count alone (report.compare)."""
        measured = sorted(self.measured_steps(producers, metric), key=lambda s: float(s[metric]))
        return measured[(len(measured) - 1) // 2] if measured else None

    def latency_at(self, producers: int, metric: str) -> float | None:
        step = self.typical_step(producers, metric)
        return float(step[metric]) if step is not None else None

    def interval_at(self, producers: int, name: str) -> tuple[float | None, float | None]:
        """The 95% interval of latency `name` (e.g. "p99") at `producers`, of the trial
        `latency_at` reads; (None, None) where it was not judged or not recorded (schema
        1)."""
        step = self.typical_step(producers, f"{name}_ms")
        bounds = step.get(f"{name}_ci_ms") if step is not None else None
        if not isinstance(bounds, list) or len(bounds) != 2:
            return None, None
        low, high = bounds
        return (float(low) if low is not None else None, float(high) if high is not None else None)


def _broker_count(info: RunInfo) -> int | None:
    """Brokers the cluster had (an xdist worker's, else the settings' count)."""
    workers = info.cluster.get("workers")
    for cluster in [info.cluster, *(workers.values() if isinstance(workers, dict) else [])]:
        brokers = cluster.get("brokers") if isinstance(cluster, dict) else None
        if isinstance(brokers, list) and brokers:
            return len(brokers)
    count = info.settings.get("brokers")
    return int(count) if count is not None else None


def workload_plan(info: RunInfo, steps: Sequence[StepResult]) -> dict[str, Any]:
    """What one test's steps were asked to do, and where: equal plans, comparable runs.

    The producer counts are left out: runs are compared at the counts both judged. The
    replication factor is the one the step's topic was created with
    (kafka.server_config.topic_replication, or the cluster shape's).
    On Grid'5000 the machine is the frontend's; the reserved cluster names the nodes'.
    """
    first = steps[0]
    brokers = first.shape.get("brokers") or _broker_count(info)
    replication = first.shape.get("replication") or (
        topic_replication(brokers) if brokers is not None else None
    )
    return {
        # as planned: a step lengthened for its samples (measure.samples) says so
        "rate": first.rate_per_producer,
        "duration": first.samples.get("planned_duration_s", first.duration_s),
        "warmup": first.warmup_s,
        "message_size": first.message_size,
        "partitions": first.partitions,
        "brokers": brokers,
        "replication": replication,
        "slo": first.slo,
        "producer_config": dict(sorted(first.producer_config.items())),
        "consumers": first.consumer_setting,
        "client": info.client,
        "site": info.site,
        # how the load was spread, and on which nodes
        **{
            k: info.settings.get(k)
            for k in ("workers", "runtime", "producers_per_replica", "producers_per_node")
        },
        **_first_step_priming(steps),
        # brokers on cores of their own measure another thing than a shared host (written
        # only when set, so runs from before the option stay like today's shared ones)
        **(
            {"broker_cores": info.settings["broker_cores"]}
            if info.settings.get("broker_cores")
            else {}
        ),
        # a market workload measures another thing than one even stream per producer
        # (written only when not the default, so earlier runs stay comparable)
        **{
            k: first.workload[k]
            for k, default in (
                ("instruments", None),
                ("popularity", "uniform"),
                ("arrivals", "even"),
            )
            if first.workload.get(k, default) != default
        },
        **_poisson_seed(first.workload),
        # brokers read each second (an exporter in the JVM) against brokers left alone:
        # the default, on, is left out so earlier runs stay like today's
        **({"monitor": False} if info.settings.get("monitor") is False else {}),
        # a drain step measures the consumers reading a backlog, not a live load
        **({"drain": True} if first.drain else {}),
        **{
            f"reservation_{k}": (info.settings.get("reservation") or {}).get(k)
            for k in ("cluster", "nodes", "consumer_node")
        },
        "machine": {k: info.machine.get(k) for k in MACHINE_KEYS},
        **_shape(first),
    }


#: what a shape's plan keeps: its size and its topic. Its Kafka version and broker settings
#: are what is under test (`system_under_test`), as for a test without shapes, so an
#: upgrade of a shaped test is judged as one of an unshaped test
SHAPE_PLAN_KEYS = ("brokers", "partitions", "replication", "min_insync")


def _shape(step: StepResult) -> dict[str, Any]:
    """The cluster shape a test ran on, written only for a test with shapes (so runs
    without them stay like earlier runs): a baseline is then the same shape's."""
    if not step.shape:
        return {}
    return {"shape": {"label": step.shape_label, **{k: step.shape.get(k) for k in SHAPE_PLAN_KEYS}}}


def _poisson_seed(workload: dict[str, Any]) -> dict[str, int]:
    """The seed of Poisson arrivals, when not the default: two seeds are two loads. Fixed
    arrivals draw nothing from a seed, and every run before `--frida-seed` drew from the
    default, so neither writes the key and both stay comparable with runs without it."""
    seed = workload.get("seed", DEFAULT_SEED)
    if workload.get("arrivals") != "poisson" or seed in (None, DEFAULT_SEED):
        return {}
    return {"seed": seed}


def _first_step_priming(steps: Sequence[StepResult]) -> dict[str, float]:
    """The test that ran the cluster's first measured step, primed otherwise than every run
    before --frida-prime was (5 s), is unlike those runs; the key is absent for the default
    and for the tests that ran no first step, which priming never touched."""
    primed = next((s.primed_s for s in steps if s.primed_s is not None), None)
    if primed is None or primed == DEFAULT_PRIME_S:
        return {}
    return {"first_step_primed_s": primed}


def system_under_test(info: RunInfo, step: StepResult | None = None) -> dict[str, Any]:
    """What a comparison exists to tell apart: Kafka, its settings, our commit. For a step
    on a cluster shape, the Kafka and the broker settings its cluster ran (the shape's
    over the session's): where a setting was given does not matter, its value does."""
    shape = step.shape if step is not None else {}
    return {
        "kafka_version": shape.get("kafka_version") or info.kafka_version,
        "broker_config": (
            dict(sorted(shape["broker_config"].items()))
            if "broker_config" in shape
            else info.settings.get("broker_config")
        ),
        "commit": info.commit,
    }


def step_record(step: StepResult) -> dict[str, Any]:
    """One step's figures as history keeps them: percentiles with their 95% intervals."""
    intervals = latency_intervals(step.histograms.get("e2e", ""), PERCENTILES)
    record: dict[str, Any] = {
        "producers": step.producers,
        "verdict": step.verdict,
        # a latency withheld (harness-bound) or never measured (cluster down) is no
        # figure to compare, nor is a drain step's, the backlog's wait by design, nor one
        # measured by a saturated generator or untrusted clocks or over the messages that
        # got through a loss (a failure that says so without withholding a latency clause)
        "latency_judged": step.decides is not None
        and not step.withheld
        and step.cluster_down is None
        and not step.drain
        and not step.definitive
        and not step.generator_bound
        and step.clocks.get("trusted", True) is not False,
        "achieved_rate": round(step.achieved_rate, 3),
        "samples": next(iter(intervals.values())).samples,
    }
    for name, interval in intervals.items():
        record[f"{name}_ms"] = step.latency.get(name)
        record[f"{name}_ci_ms"] = interval.as_list()
    return record


def entries_for_run(info: RunInfo, steps: Sequence[StepResult]) -> list[HistoryEntry]:
    """One entry per test. A drain test's limit is "no_data": its steps measure consumers
    reading a backlog, not how many producers the cluster takes (report.capacity)."""
    grouped: dict[str, list[StepResult]] = {}
    for step in steps:
        grouped.setdefault(base_test_id(step.test), []).append(step)
    entries = []
    for test, group in grouped.items():
        system = system_under_test(info, group[0])
        entry = HistoryEntry(
            run_id=info.run_id,
            started_at=info.started_at,
            status=info.status,
            site=info.site,
            client=info.client,
            kafka_version=system["kafka_version"],
            commit=info.commit,
            test=test,
            limit=capacity_limit(test, [s for s in group if not s.drain]).to_dict(),
            steps=[step_record(s) for s in group],
            plan=workload_plan(info, group),
            system=system,
            host=run_summary(info.host),
            outside=outside.run_outside(
                [
                    (
                        s.resources.get("sources", {})
                        .get("host", {})
                        .get("figures", {})
                        .get(outside.FIGURE),
                        s.resources.get("host_cores"),
                    )
                    for s in group
                ]
            ),
        )
        entries.append(entry)
    return entries


#: folders of this repository's own suites that moved: a test id recorded under the old
#: one is read as the new one, so a baseline (and a regression not yet accepted) survives
#: the move; the history file itself is never rewritten
MOVED_SUITES = {"tests/capacity/": "examples/capacity/"}


def moved_test_id(test: str) -> str:
    """`test` as it is named now, for ids recorded before a suite moved."""
    for old, new in MOVED_SUITES.items():
        if test.startswith(old):
            return new + test.removeprefix(old)
    return test


def _step_problem(steps: object) -> str:
    """What makes `steps` unreadable as history steps ("" when nothing does): every
    comparison reads a count, a verdict and numeric percentiles from each."""
    if not isinstance(steps, list):
        return "steps is not a list"
    for i, step in enumerate(steps):
        if not isinstance(step, dict):
            return f"step {i} is not an object"
        if not isinstance(step.get("producers"), int) or not isinstance(step.get("verdict"), str):
            return f"step {i} lacks an integer producers or a verdict"
        for key, value in step.items():
            figure = key.endswith("_ms") and not key.endswith("_ci_ms")
            if figure and value is not None and not isinstance(value, (int, float)):
                return f"step {i}: {key} is {value!r}, not a number"
    return ""


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
            raise HistoryError(
                f"{where}: not JSON ({exc}); the history is left as it is, fix or move that line"
            ) from None
        found = data.get("schema") if isinstance(data, dict) else None
        if not isinstance(found, int) or isinstance(found, bool) or found not in READABLE_SCHEMAS:
            raise HistoryError(
                f"{where}: history schema {found!r}, this pytest-frida reads"
                f" schemas {', '.join(map(str, READABLE_SCHEMAS))}; use a"
                " fresh --frida-report-dir"
            )
        known = {f.name for f in fields(HistoryEntry)}
        if isinstance(data.get("test"), str):
            data["test"] = moved_test_id(data["test"])
        try:  # a key a later pytest-frida added is left out, not refused
            entry = HistoryEntry(**{k: v for k, v in data.items() if k in known})
        except TypeError as exc:
            raise HistoryError(f"{where}: not a history entry ({exc})") from None
        problem = _step_problem(entry.steps)
        if problem:
            raise HistoryError(
                f"{where}: not a history entry ({problem}); the history is left as it is,"
                " fix or move that line"
            )
        return entry

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


def is_like(entry: HistoryEntry, current: HistoryEntry) -> bool:
    """Same plan and same Kafka version: a difference in the broker settings or the commit
    is what a comparison is for. An entry without a plan (schema 1) is like nothing."""
    return (
        entry.plan is not None
        and entry.plan == current.plan
        and entry.kafka_version == current.kafka_version
    )


def earlier_runs(entries: Sequence[HistoryEntry], current: HistoryEntry) -> list[HistoryEntry]:
    """Entries of the same test from other runs started no later, oldest first."""
    return [
        e
        for e in entries
        if e.test == current.test
        and e.run_id != current.run_id
        and e.started_at <= current.started_at
    ]


def like_runs(entries: Sequence[HistoryEntry], current: HistoryEntry) -> list[HistoryEntry]:
    """Earlier runs of the same test, plan and Kafka version, oldest first."""
    return [e for e in earlier_runs(entries, current) if is_like(e, current)]


def trusted(runs: Sequence[HistoryEntry]) -> tuple[list[HistoryEntry], HistoryEntry | None]:
    """Of like runs (oldest first), those a later run may be measured by, and the caught
    regression still outstanding, if any. A run the gate failed is not trusted, nor are
    the runs after it that no gate judged (compare off, or nothing to compare with): a
    caught regression would otherwise become the baseline one run later. The first run a
    gate passes (one compared by name with the caught run accepts the change) ends that.
    Interrupted runs are never trusted."""
    out: list[HistoryEntry] = []
    caught: HistoryEntry | None = None
    for run in runs:
        if run.status != "finished":
            continue
        if run.regressed:
            caught = run
        elif run.regressed is not None or caught is None:
            caught = None
            out.append(run)
    return out, caught


def baseline_for(
    entries: Sequence[HistoryEntry], current: HistoryEntry, run_id: str | None
) -> HistoryEntry | None:
    """The entry to compare `current` with: the named run's entry for the same test
    (whatever its plan), or the latest earlier like run (`is_like`) that is `trusted`."""
    if run_id is not None and run_id != "last":
        named = [
            e
            for e in entries
            if e.test == current.test and e.run_id == run_id and e.run_id != current.run_id
        ]
        return named[-1] if named else None
    like, _ = trusted(like_runs(entries, current))
    return like[-1] if like else None


def _show(value: Any) -> str:
    return "unset" if value is None else str(value)


def differences(baseline: HistoryEntry, current: HistoryEntry) -> list[str]:
    """Every plan and system field that differs, as "plan.rate: 10 -> 20" (dict fields key
    by key); empty when the baseline has no plan (schema 1) to compare."""
    if baseline.plan is None or current.plan is None:
        return []
    out = []
    for part in ("plan", "system"):
        old: dict[str, Any] = getattr(baseline, part) or {}
        new: dict[str, Any] = getattr(current, part) or {}
        for key in [*new, *(k for k in old if k not in new)]:
            a, b = old.get(key), new.get(key)
            if a == b:
                continue
            if isinstance(a, dict) and isinstance(b, dict):
                out += [
                    f"{part}.{key}.{sub}: {_show(a.get(sub))} -> {_show(b.get(sub))}"
                    for sub in [*b, *(s for s in a if s not in b)]
                    if a.get(sub) != b.get(sub)
                ]
            else:
                out.append(f"{part}.{key}: {_show(a)} -> {_show(b)}")
    return out


def plan_differs(baseline: HistoryEntry, current: HistoryEntry) -> bool:
    """True unless both have a plan and it is the same (schema 1 differs from anything)."""
    return baseline.plan is None or baseline.plan != current.plan
