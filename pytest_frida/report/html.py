"""report.html: one self-contained page that answers "how many producers, and since when"."""

from __future__ import annotations

import html
from collections.abc import Sequence

from pytest_frida.measure.result import StepResult
from pytest_frida.measure.steady import label as steady_label
from pytest_frida.report import plots
from pytest_frida.report.capacity import base_test_id, capacity_limit, limits_by_test
from pytest_frida.report.compare import Change
from pytest_frida.report.history import HistoryEntry
from pytest_frida.report.model import RunInfo
from pytest_frida.report.sizing import run_sizing
from pytest_frida.report.summary import largest_workload, shape_pivot

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}
h1{font-size:1.5em} h2{margin-top:2em;border-bottom:1px solid #ddd}
.limit{font-size:1.6em;font-weight:600;color:#2e7d32}
.meta td{padding:2px 12px 2px 0;color:#444}
table.steps{border-collapse:collapse;font-size:.85em}
table.steps td,table.steps th{border:1px solid #ddd;padding:3px 6px;text-align:right}
table.steps td:first-child{text-align:left}
.pass{color:#2e7d32}.fail{color:#c62828;font-weight:600}.generator_bound{color:#777}
.error{color:#000;font-weight:600}.regression{color:#c62828;font-weight:600}
.note{color:#666;font-size:.85em}
"""


def _esc(value: object) -> str:
    return html.escape(str(value))


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f}"


def _settings_rows(settings: dict[str, object]) -> list[tuple[str, object]]:
    """The run's settings, but those the header already shows (brokers: the cluster's
    count) and the ini's producer list, which each test's own counts replace."""
    rows: list[tuple[str, object]] = []
    for key, value in settings.items():
        if key == "brokers":
            continue
        if key == "defaults" and isinstance(value, dict):
            value = {k: v for k, v in value.items() if k != "producers"}
        if isinstance(value, dict):
            text = ", ".join(f"{k}={v}" for k, v in value.items()) or "-"
        else:
            text = "-" if value in (None, "") else str(value)
        rows.append((key.replace("_", " "), text))
    return rows


def _steps_table(steps: Sequence[StepResult]) -> str:
    head = (
        "producers",
        "target/s",
        "achieved/s",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "sent",
        "failed",
        "unacked",
        "lost",
        "dup",
        "gen. busy",
        "cons. busy",
        "steady",
        "verdict",
    )
    rows = []
    for s in sorted(steps, key=lambda s: s.producers):
        c = s.counts
        cells = (
            s.producers,
            f"{s.target_rate:g}",
            f"{s.achieved_rate:.1f}",
            _ms(s.latency.get("p50")),
            _ms(s.latency.get("p99")),
            _ms(s.latency.get("p99.9")),
            _ms(s.latency.get("max")),
            c.sent if c else "-",
            c.failed if c else "-",
            c.unacked if c else "-",
            c.lost if c else "-",
            c.duplicated if c else "-",
            f"{s.generator_busy:.0%}",
            max((f"{float(x.get('busy', 0.0)):.0%}" for x in s.consumers), default="-"),
        )
        note = "; ".join(s.reasons + s.notes + ([s.error] if s.error else []))
        rows.append(
            "<tr>"
            + "".join(f"<td>{_esc(x)}</td>" for x in cells)
            + f'<td title="{_esc(_steady_title(s.steady))}">'
            f"{_esc(steady_label(s.steady))}</td>"
            + f'<td class="{_esc(s.verdict)}" title="{_esc(note)}">{_esc(s.verdict)}'
            "</td></tr>"
        )
    return (
        '<table class="steps"><tr>'
        + "".join(f"<th>{h}</th>" for h in head)
        + "</tr>"
        + "".join(rows)
        + "</table>"
    )


def _drain_section(steps: Sequence[StepResult]) -> str:
    """A drain step per row (measure.drain): what it measures, its rates and what set them,
    and the lag over each step."""
    head = ("producers", "consumers", "backlog", "read", "s", "msg/s", "msg/s per consumer")
    rows = []
    for s in sorted(steps, key=lambda s: (s.drain.get("consumers", 0), s.producers)):
        d = s.drain
        cells = (
            s.producers,
            d.get("consumers"),
            d.get("backlog"),
            d.get("messages", "-"),
            d.get("seconds", "-"),
            "-" if d.get("rate") is None else f"{d['rate']:g}",
            "-" if d.get("rate_per_consumer") is None else f"{d['rate_per_consumer']:g}",
        )
        rows.append(
            "<tr>"
            + "".join(f"<td>{_esc(x)}</td>" for x in cells)
            + f"<td>{_esc(d.get('detail') or d.get('bound', ''))}</td></tr>"
        )
    return (
        "<h3>Drain</h3><p>Consumer-side capacity: how fast this harness's consumer agents"
        " read a backlog from this cluster. The producers sent their whole schedule first,"
        " then the consumers read it; the rate is what was read over the time to the last"
        " message read.</p>"
        '<table class="steps"><tr>'
        + "".join(f"<th>{h}</th>" for h in (*head, "what set the rate"))
        + "</tr>"
        + "".join(rows)
        + "</table>"
        + plots.drain_lag(steps)
    )


def _steady_title(steady: dict[str, object]) -> str:
    """The figures behind the steady cell (measure.steady), or why there are none."""
    if steady.get("verdict") in ("steady", "trend"):
        return (
            f"per-second mean latency: {steady.get('slope_ms_per_s')} ms/s over"
            f" {steady.get('seconds')} s, a change of {steady.get('rise_pct')}% of its"
            f" median {steady.get('median_ms')} ms, Mann-Kendall p={steady.get('p_value')}"
        )
    return str(steady.get("reason") or "not analysed")


def _shapes_table(steps: Sequence[StepResult], info: RunInfo) -> str:
    """The capacity limits of tests run on cluster shapes side by side (producers), and
    the clusters the shapes started; nothing without shapes."""
    rows = shape_pivot(limits_by_test(steps))
    if not rows:
        return ""
    head, *body = rows
    out = ["<h2>Capacity limits by cluster shape</h2><table>"]
    out.append("<tr>" + "".join(f"<th>{_esc(c)}</th>" for c in head) + "</tr>")
    out += ["<tr>" + "".join(f"<td>{_esc(c)}</td>" for c in row) + "</tr>" for row in body]
    out.append("</table><ul>")
    shapes = {s.shape_label: s.shape for s in steps if s.shape_label}
    out += [
        f"<li><code>{_esc(label)}</code>: {_esc(', '.join(f'{k}={v}' for k, v in s.items()))}</li>"
        for label, s in shapes.items()
    ]
    out += [
        f"<li>cluster for <code>{_esc(c.get('shape'))}</code>: {len(c.get('brokers', []))}"
        f" broker(s), Kafka {_esc(c.get('kafka_version'))}, ready in {c.get('ready_seconds')}s</li>"
        for c in info.shape_clusters
    ]
    return "".join(out) + "</ul>"


def render(
    info: RunInfo,
    steps: Sequence[StepResult],
    history: Sequence[HistoryEntry],
    changes: Sequence[Change],
) -> str:
    grouped: dict[str, list[StepResult]] = {}
    for step in steps:
        grouped.setdefault(base_test_id(step.test), []).append(step)
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>frida {_esc(info.run_id)}"
        f"</title><style>{_CSS}</style></head><body>",
        f"<h1>Capacity report {_esc(info.run_id)}</h1>",
        "<table class='meta'>",
    ]
    cluster = info.cluster
    meta = [
        ("status", info.status),
        ("site", info.site),
        ("Kafka", f"{info.kafka_version} ({cluster.get('kafka_source', '?')})"),
        ("client", info.client),
        ("brokers", len(cluster.get("brokers", [])) or "-"),
        ("hosts", ", ".join(cluster.get("hosts", [])) or "-"),
        ("started / finished", f"{info.started_at} / {info.finished_at or '-'}"),
        ("commit", info.commit or "-"),
        (
            "machine",
            f"{info.machine.get('hostname')}: {info.machine.get('cpus')} cpus,"
            f" {info.machine.get('memory_mib')} MiB, {info.machine.get('platform')}",
        ),
        *_settings_rows(info.settings),
    ]
    parts += [f"<tr><td>{_esc(k)}</td><td>{_esc(v)}</td></tr>" for k, v in meta]
    parts.append("</table>")
    parts.append(_shapes_table(steps, info))
    for test, group in grouped.items():
        limit = capacity_limit(test, group)
        slo = group[0].slo
        parts.append(f"<h2>{_esc(test)}</h2>")
        drains = [s for s in group if s.drain]
        if drains:  # consumer-side capacity: no producer limit to state
            parts.append(_drain_section(drains))
        else:
            parts.append(f"<div class='limit'>Capacity limit: {_esc(limit.describe())}</div>")
        parts.append(
            f"<p>SLO <code>{_esc(slo)}</code>, {group[0].rate_per_producer:g} msg/s"
            f" per producer, {group[0].duration_s:g}s measured per step"
            f" after {group[0].warmup_s:g}s warm-up, {group[0].message_size} B"
            " messages. Latency is end-to-end delivery time from the intended send"
            " time. Producer counts run:"
            f" {_esc(', '.join(str(s.producers) for s in group))}.</p>"
        )
        workload = largest_workload(group)
        if workload:
            parts.append(f"<p>Workload: {_esc(workload)}.</p>")
        if not drains:
            parts.append(f"<div class='limit'>{_esc(limit.explain())}</div>")
        parts.append(plots.latency_vs_producers(group, limit, slo))
        if any(s.resources.get("sources") for s in group):
            parts.append(
                "<h3>Resources per producer count</h3>" + plots.resources_vs_producers(group, limit)
            )
        missing = sorted({line for s in group for line in s.resources.get("missing", [])})
        if missing:
            parts.append(
                "<p class='note'>Not measured: " + "; ".join(_esc(m) for m in missing) + "</p>"
            )
        parts.append("<h3>Throughput</h3>" + plots.throughput(group))
        parts.append("<h3>Latency distribution per step</h3>" + plots.latency_distributions(group))
        runs = [e for e in history if e.test == test and e.site == info.site]
        if len(runs) > 1 and not drains:
            parts.append(
                f"<h3>Capacity limit over runs ({info.site})</h3>"
                + plots.limit_over_runs(runs[-30:])
            )
        parts.append("<h3>Steps</h3>" + _steps_table(group))
        for s in group:
            if s.decides is None:
                why = "; ".join(s.reasons) or s.error or ""
                parts.append(
                    f"<p class='note'>{s.producers} producers: {_esc(s.verdict)},"
                    f" decides nothing: {_esc(why)}</p>"
                )
    sizing = run_sizing(info, steps)
    if sizing is not None:
        parts.append(f"<h2>Sizing: {_esc(sizing.target.describe())}</h2><ul>")
        parts += [f"<li><b>{_esc(a.label)}</b>: {_esc(a.sentence)}</li>" for a in sizing.answers]
        parts.append("</ul>")
        parts += [f"<p class='note'>{_esc(line)}</p>" for line in sizing.notes_and_projection()]
        parts.append(plots.limits_against_target(sizing))
    drains = [s for s in steps if s.drain]
    if len(grouped) > 1 and len(drains) > 1:  # a sweep over tests: side by side
        parts.append("<h2>Drain rate per consumer count</h2>" + _drain_section(drains))
    if changes:
        parts.append("<h2>Comparison with the baseline</h2><ul>")
        parts += [
            f"<li class='{'regression' if c.failed else ''}'>{_esc(c.describe())}</li>"
            for c in changes
        ]
        parts.append("</ul>")
    parts.append(
        "<p class='note'>report.json and steps.csv next to this file hold every"
        " figure; pytest_frida.load_report() reads them into pandas.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts)
