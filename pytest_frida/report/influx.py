"""Each step as InfluxDB line protocol, POSTed to a 1.x-style write endpoint.

The original experiment watched its runs in InfluxDB + Grafana; `stacks/monitoring/` has a
dashboard that reads the measurement written here (`frida_step`).
"""

from __future__ import annotations

import time
import urllib.error
import urllib.request

from pytest_frida.measure.result import StepResult
from pytest_frida.report.model import RunInfo
from pytest_frida.report.redact import redact
from pytest_frida.report.writer import resource_columns

MEASUREMENT = "frida_step"
#: per second of a step's measured window, per source (broker-0, disk, host)
RESOURCE_MEASUREMENT = "frida_resource"


def _tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def line_protocol(info: RunInfo, step: StepResult, timestamp_ns: int) -> str:
    """One point: tags say which run/test/site, fields carry the figures."""
    tags = {
        "run_id": info.run_id,
        "site": info.site,
        "client": info.client,
        "test": step.test.split("[")[0],
        "verdict": step.verdict,
    }
    fields: dict[str, float | int] = {
        "producers": step.producers,
        "target_rate": step.target_rate,
        "achieved_rate": step.achieved_rate,
        "generator_cpu": step.generator_cpu,
    }
    for key, value in step.latency.items():
        if value is not None:
            fields[f"{key.replace('.', '_')}_ms"] = value
    if step.counts is not None:
        fields.update(
            sent=step.counts.sent,
            acked=step.counts.acked,
            received=step.counts.received,
            lost=step.counts.lost,
            duplicated=step.counts.duplicated,
        )
    for key, value in resource_columns(step).items():
        if isinstance(value, float):
            fields[key] = value
    if step.attribution.get("resource"):
        tags["saturated"] = str(step.attribution["resource"])
    return _line(MEASUREMENT, tags, fields, timestamp_ns)


def _line(
    measurement: str, tags: dict[str, str], fields: dict[str, float | int], timestamp_ns: int
) -> str:
    tag_text = ",".join(f"{k}={_tag(v)}" for k, v in tags.items() if v)
    field_text = ",".join(
        f"{k}={v}i" if isinstance(v, int) and not isinstance(v, bool) else f"{k}={float(v)!r}"
        for k, v in fields.items()
    )
    return f"{measurement},{tag_text} {field_text} {timestamp_ns}"


def resource_lines(info: RunInfo, step: StepResult) -> list[str]:
    """The step's per-second resource figures (measure.resources series), one point per
    source and second, stamped at that second of the measured window."""
    window = step.resources.get("window")
    if not window:
        return []
    lines = []
    for source, summary in sorted(step.resources.get("sources", {}).items()):
        series = summary.get("series", {})
        for i, t in enumerate(series.get("t", [])):
            fields = {
                name: values[i]
                for name, values in series.items()
                if name != "t" and i < len(values) and values[i] is not None
            }
            if fields:
                tags = {
                    "run_id": info.run_id,
                    "site": info.site,
                    "test": step.test.split("[")[0],
                    "source": source,
                    "producers": str(step.producers),
                }
                lines.append(
                    _line(
                        RESOURCE_MEASUREMENT, tags, fields, int((float(window[0]) + float(t)) * 1e9)
                    )
                )
    return lines


class InfluxExporter:
    def __init__(self, url: str, timeout_s: float = 5.0) -> None:
        self.url = url
        self.timeout_s = timeout_s

    def send(self, info: RunInfo, step: StepResult) -> str | None:
        """POST one step; returns a problem description instead of raising (an unreachable
        InfluxDB must not cost the measurements, which are in the report anyway)."""
        lines = [line_protocol(info, step, time.time_ns()), *resource_lines(info, step)]
        body = ("\n".join(lines) + "\n").encode()
        request = urllib.request.Request(
            self.url, data=body, method="POST", headers={"Content-Type": "text/plain"}
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                if response.status >= 300:
                    return f"InfluxDB at {redact(self.url)} answered {response.status}"
        except (urllib.error.URLError, OSError) as exc:
            return f"could not send steps to InfluxDB at {redact(self.url)}: {redact(str(exc))}"
        return None
