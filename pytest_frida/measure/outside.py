"""CPU used on a shared host by work that is not the run's: other tenants of the machine.

On a single-host site the brokers and the harness share one machine. A limit measured
while other processes took some of its cores is that machine's under that load, and the
host-speed probe (one core, before and after) and the steal share cannot see them. Per
step: the host's busy cores (its busy share of /proc/stat times its cores) minus every
process of the run that is measured: each broker (its process or container), the producer
agents and the consumers (their own CPU over the window), the controller's process, and
the host's kernel threads (journal, writeback, softirq: a broker that fsyncs every
message keeps them a quarter core busy, which is its own I/O, not another tenant's).
What is left, clamped at 0, is "outside". It includes time the hypervisor stole and any
process serving the run that is none of those (Docker's port proxy and container shims
on a docker or swarm site); where the kernel threads were not read, they count too.
Kernel threads serve whoever asked, so another tenant's writeback is left out with the
run's own: outside work is what other processes ran themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

#: outside work worth saying, in cores: below this the figure is within what the
#: per-process accounting (ticks against a cgroup's precise counter) itself differs by
MATERIAL_CORES = 0.25
#: or as a share of the host's cores: on a small host a quarter core is already a lot
MATERIAL_SHARE = 0.10

#: the figure's name beside host_busy in a step's host figures
FIGURE = "outside_cores"

UNIT = (
    "cores busy on this host with work outside this run: the host's busy cores"
    " (/proc/stat) minus the brokers', the producer agents', the consumers', the"
    " controller's and the kernel threads' own; time stolen by the hypervisor and"
    " processes serving the run that are none of these (Docker's port proxy) count as"
    " outside. The mean is over the window; the max is per second, with the agents at"
    " their window mean"
)


def _near(series: Mapping[str, Any], name: str, t: float) -> float | None:
    """`name`'s per-second value of the interval whose midpoint is nearest `t` (within
    half a second), None where none is."""
    times, values = series.get("t") or [], series.get(name) or []
    best = None
    for at, value in zip(times, values, strict=False):
        if value is not None and abs(at - t) <= 0.5 and (best is None or abs(at - t) < best[0]):
            best = (abs(at - t), float(value))
    return None if best is None else best[1]


def outside_cores(
    sources: Mapping[str, Any],
    host_cores: float | None,
    harness_cores: float | None,
    controller_cores: float | None,
) -> dict[str, float] | None:
    """The step's outside cores as {"mean", "max"}; None when anything needed is missing
    (no host reading, no host core count, the agents or the controller unmeasured, or no
    broker's CPU): unknown, never zero. `sources`: the step's resource sources;
    `harness_cores`: the producer agents' and consumers' cores together."""
    host = sources.get("host")
    brokers = {
        name: summary
        for name, summary in sources.items()
        if name.startswith("broker") and "cores" in summary.get("figures", {})
    }
    if not host_cores or harness_cores is None or controller_cores is None or not brokers:
        return None
    busy = (host or {}).get("figures", {}).get("host_busy")
    if busy is None:
        return None
    own = harness_cores + controller_cores
    kernel = (host or {}).get("figures", {}).get("kernel_cores")
    mean = float(busy["mean"]) * host_cores - own
    mean -= sum(float(s["figures"]["cores"]["mean"]) for s in brokers.values())
    mean -= float(kernel["mean"]) if kernel else 0.0
    seconds = []
    host_series = host.get("series", {}) if host else {}
    for t, share in zip(host_series.get("t", []), host_series.get("host_busy", []), strict=False):
        used = [_near(s.get("series", {}), "cores", t) for s in brokers.values()]
        if kernel:  # a second whose kernel figure was dropped is not judged
            used.append(_near(host_series, "kernel_cores", t))
        if share is not None and None not in used:
            seconds.append(float(share) * host_cores - own - sum(u for u in used if u))
    return {
        "mean": round(max(0.0, mean), 3),
        "max": round(max(0.0, mean, *seconds), 3),
    }


def material(mean: float | None, host_cores: float | None) -> bool:
    """Whether outside work of `mean` cores is worth saying on a host of `host_cores`."""
    if mean is None:
        return False
    return mean > MATERIAL_CORES or (host_cores is not None and mean > MATERIAL_SHARE * host_cores)


def words(figure: Any, host_cores: float | None) -> str:
    """Material outside work in a clause of the attribution, "" when there was none."""
    if not isinstance(figure, Mapping) or not material(float(figure["mean"]), host_cores):
        return ""
    return (
        f"other work outside the run took {float(figure['mean']):.2f} cores"
        f" (up to {float(figure['max']):.2f})"
    )


def note(figure: Mapping[str, float]) -> str:
    """The step's note for material outside work."""
    return (
        f"other work on this host took {figure['mean']:.2f} cores on average (up to"
        f" {figure['max']:.2f}) during this step, outside the brokers and the harness:"
        " this step measured the machine under that load"
    )


def run_outside(
    steps: Sequence[tuple[Mapping[str, float] | None, float | None]],
) -> dict[str, Any] | None:
    """Over a test's steps as (outside figure, host cores): the largest step mean, and
    how many steps had material outside work of how many measured; None when no step
    measured it."""
    measured = [(f, cores) for f, cores in steps if f is not None]
    if not measured:
        return None
    return {
        "max_mean_cores": max(float(f["mean"]) for f, _ in measured),
        "material_steps": sum(material(float(f["mean"]), cores) for f, cores in measured),
        "steps": len(measured),
    }
