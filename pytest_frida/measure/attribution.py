"""What saturated: a pure function of a step's resource figures and its verdict.

Each measured resource gets a utilisation between 0 and 1 against its own ceiling:

- a broker's request handler threads: 1 - their idle share (Kafka's idle-time meter,
  read as a rate over the step). When most appends flushed the log and a quarter or more
  of their time went to it (an fsync per append: log.flush.interval.messages), the
  handlers wait on the disk, and the disk is the party named: more handlers would not
  help, a disk that flushes faster (or replicas instead of flushes) would. The network
  threads' idle share is Kafka's one-minute average, which starts from zero on a fresh
  broker and reaches back before the step: it is reported, never named;
- a broker's CPU: its cores against the host's cores (its node's, on hosts and
  Grid'5000); with the brokers on cores of their
  own (--frida-broker-cores), all brokers' cores together against those;
- the disk that holds the brokers' data: the share of time it was busy (io_ticks);
- the host's CPU, on a site where brokers and harness share one host, and a broker
  node's where the consumer runs beside the broker: its busy share;
- the harness: the busiest producer agent's scheduler and the busiest consumer.

A resource at SATURATED or above is saturated. The harness is named first whenever it is
saturated, and alone when the verdict withheld latency for it: a step the generator or a
consumer could not keep up with says nothing about the broker. A step whose agents never
reported names no broker part either. Next a shared host's CPU: Kafka counts a handler
busy while it waits for a CPU the harness holds, so on a host whose CPU ran out the
broker's figures cannot tell its own limit from the host's. Otherwise the most saturated
broker resource is named; with nothing saturated, the step is inconclusive and says what
came closest.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pytest_frida.measure import outside
from pytest_frida.measure.verdict import SATURATED


@dataclass(frozen=True)
class Usage:
    """One resource's utilisation against its ceiling."""

    name: str
    #: harness, broker, disk or host
    party: str
    utilisation: float
    detail: str

    def words(self) -> str:
        return f"{self.name} {self.utilisation:.0%} {self.detail}".rstrip()


def _mean(figures: Mapping[str, Any], name: str) -> float | None:
    figure = figures.get(name)
    return float(figure["mean"]) if isinstance(figure, Mapping) else None


def usages(
    sources: Mapping[str, Any],
    host_cores: int | None,
    shared_host: bool,
    generator_busy: float | None,
    consumer_busy: float | None,
    harness_cores: tuple[float, float] | None = None,
    broker_cores: int | None = None,
    shared_nodes: frozenset[str] = frozenset(),
    partition_logs: int | None = None,
) -> list[Usage]:
    """Every resource the step measured, most utilised first. `harness_cores`: the cores
    the producer agents and the consumers used, which a shared host's CPU is split into.
    `broker_cores`: the cores the brokers have to themselves, their CPU's ceiling.
    `shared_nodes`: broker nodes (hosts, Grid'5000) where harness agents run too, whose
    CPU running out is a shared host's. `partition_logs`: the step topic's partition
    replicas each broker holds, over which its log flushing time is spread."""
    out = []
    if broker_cores:
        out += _own_cores(sources, broker_cores, harness_cores)
    if generator_busy is not None:
        out.append(
            Usage("producer agents", "harness", generator_busy, "busy (the busiest scheduler)")
        )
    if consumer_busy is not None:
        out.append(
            Usage("consumer agents", "harness", consumer_busy, "busy (the busiest consumer)")
        )
    for source, summary in sorted(sources.items()):
        figures = summary.get("figures", {})
        if source.startswith("broker"):
            idle = _mean(figures, "handler_idle")
            cores = _mean(figures, "cores")
            if idle is not None and _flushing(figures, partition_logs):
                out.append(
                    Usage(
                        f"{source} request handlers flushing to disk",
                        "disk",
                        max(0.0, 1.0 - idle),
                        _flush_detail(figures, partition_logs),
                    )
                )
            elif idle is not None:
                out.append(
                    Usage(
                        f"{source} request handlers",
                        "broker",
                        max(0.0, 1.0 - idle),
                        _handler_detail(cores),
                    )
                )
            # its ceiling: the host's cores, or its own node's (hosts, Grid'5000)
            ceiling = host_cores or _mean(figures, "node_cores")
            if cores is not None and ceiling and not broker_cores:
                out.append(
                    Usage(
                        f"{source} CPU",
                        "broker",
                        cores / ceiling,
                        f"of {ceiling:g} cores ({cores:.2f} cores)",
                    )
                )
        elif source == "disk" or source.startswith("disk "):
            busy = _mean(figures, "disk_busy")
            if busy is not None:
                flushes = _mean(figures, "disk_flushes_per_s")
                where = source.removeprefix("disk").strip()
                out.append(
                    Usage(
                        f"data disk{f' of {where}' if where else ''}",
                        "disk",
                        min(1.0, busy),
                        "of the time busy"
                        + (f" ({flushes:.0f} flushes/s" if flushes is not None else " (")
                        + "; an SSD busy all the time may still have room)",
                    )
                )
        elif source.startswith("host ") and source[5:] in shared_nodes:
            busy = _mean(figures, "host_busy")
            if busy is not None:
                out.append(
                    Usage(
                        f"the CPU of {source[5:]}",
                        "host",
                        busy,
                        "busy, shared by a broker and the consumer",
                    )
                )
        elif source == "host" and shared_host:
            busy = _mean(figures, "host_busy")
            if busy is not None:
                out.append(
                    Usage(
                        "host CPU",
                        "host",
                        busy,
                        "busy"
                        + (f" of {host_cores} cores" if host_cores else "")
                        + ", shared by broker and harness"
                        + _split(sources, harness_cores)
                        + _outside(figures, host_cores),
                    )
                )
    return sorted(out, key=lambda u: -u.utilisation)


#: the share of the brokers' own cores that other work must have taken to be named
OTHER_WORK = 0.15


def _own_cores(
    sources: Mapping[str, Any], broker_cores: int, harness_cores: tuple[float, float] | None
) -> list[Usage]:
    """With the brokers on cores of their own: the brokers' CPU against those cores; those
    cores' busy time when the brokers did not fill them themselves (other work ran there:
    the kernel's network processing, Docker's port proxy); the harness's cores."""
    out = []
    used = [
        c
        for name, summary in sources.items()
        if name.startswith("broker")
        and (c := _mean(summary.get("figures", {}), "cores")) is not None
    ]
    own = sum(used) / broker_cores if used else None
    host = sources.get("host", {}).get("figures", {})
    busy = _mean(host, "broker_cores_busy")
    if own is not None:
        cpu = Usage(
            "broker CPU",
            "broker",
            own,
            f"of the {broker_cores} cores the brokers have to themselves ({sum(used):.2f} cores)",
        )
        if busy is not None and busy - own >= OTHER_WORK:
            # others took a share that matters: the cores, not the brokers, ran out
            out.append(
                Usage(
                    "the brokers' cores",
                    "host",
                    busy,
                    f"busy, the brokers using {own:.0%} of them: other work ran"
                    " there (the kernel's network processing, Docker's port proxy"
                    " where there is one, time stolen by the hypervisor)",
                )
            )
        elif busy is not None and busy >= SATURATED > own:
            # full, and almost all of it the brokers' (their threads' accounting lags the
            # cores' a little): the brokers' CPU ran out
            cpu = Usage(
                "broker CPU",
                "broker",
                busy,
                f"of the {broker_cores} cores the brokers have to themselves, which"
                f" were {busy:.0%} busy ({sum(used):.2f} cores the brokers')",
            )
        out.append(cpu)
    harness = _mean(host, "harness_cores_busy")
    if harness is not None:
        out.append(
            Usage(
                "the harness's cores",
                "harness",
                harness,
                "busy"
                + (
                    f" (producer agents {harness_cores[0]:.2f} cores, consumers"
                    f" {harness_cores[1]:.2f})"
                    if harness_cores is not None
                    else ""
                ),
            )
        )
    return out


#: a broker using fewer cores than this while its handlers were busy was not computing
BLOCKED_CORES = 0.25


#: handlers whose produce requests spent this share of their append time in log flushes
#: were waiting on the disk: an append that does not flush takes tens of microseconds,
#: and the rest of a flushing append's time is mostly waiting for the partition's lock
#: while another append flushes (one broker flushing every message, 2,000 appends/s:
#: 55% in the flushes themselves; at 2,900/s with its handlers full, 29%)
FLUSHING = 0.25
#: ... or the partition logs the broker holds spent this share of their time flushing:
#: an append waits for its partition's flush, so the share above falls as more handlers
#: queue behind fewer partitions, and this one does not
FLUSH_OCCUPANCY = 0.5
#: ... provided most produce requests flushed: Kafka's defaults flush the metadata log
#: a few times a second, which beside a light load's short appends is a large share
FLUSHES_PER_REQUEST = 0.5


def _occupancy(figures: Mapping[str, Any], logs: int | None) -> float | None:
    """The share of time each of the broker's `logs` partition logs spent flushing."""
    flushing = _mean(figures, "flushing")
    return None if flushing is None or not logs else flushing / logs


def _flushing(figures: Mapping[str, Any], logs: int | None) -> bool:
    """Whether the broker's appends were flushing the log (log.flush.interval.messages
    of 1 or 2): most produce requests flushed, and the flushes took a real share of the
    append time or of the partition logs' time."""
    share = _mean(figures, "flush_share")
    flushes = _mean(figures, "log_flushes_per_s")
    requests = _mean(figures, "produce_requests_per_s")
    if flushes is None or not requests or flushes < FLUSHES_PER_REQUEST * requests:
        return False
    occupancy = _occupancy(figures, logs)
    return (share is not None and share >= FLUSHING) or (
        occupancy is not None and occupancy >= FLUSH_OCCUPANCY
    )


def _flush_detail(figures: Mapping[str, Any], logs: int | None) -> str:
    share = _mean(figures, "flush_share") or 0.0
    mean_ms = _mean(figures, "log_flush_mean_ms")
    occupancy = _occupancy(figures, logs)
    each = f", {mean_ms:.2f} ms each" if mean_ms is not None else ""
    held = (
        f", its {logs} partition log{'s' if logs != 1 else ''} flushing"
        f" {min(occupancy, 1.0):.0%} of the time"
        if occupancy is not None
        else ""
    )
    return (
        f"busy, {min(share, 1.0):.0%} of the produce requests' append time in log flushes"
        f" (fsync{each}){held}: the disk's flush latency holds them, more handlers would"
        " not help"
    )


def _handler_detail(cores: float | None) -> str:
    """Kafka counts a handler busy from taking a request until it is done, waiting on a
    lock, the disk or the log included: with the broker's CPU almost idle, the handlers
    were held up, not short of CPU."""
    if cores is not None and cores < BLOCKED_CORES:
        return (
            f"busy while the broker used {cores:.2f} cores: held up (a lock, the disk, a"
            " cold start), not computing"
        )
    return "busy"


def _split(sources: Mapping[str, Any], harness_cores: tuple[float, float] | None) -> str:
    """How the host's cores were shared, in words: each broker, the producer agents and
    the consumers ("" when nothing says)."""
    parts = [
        f"{name} {cores:.2f}"
        for name, summary in sorted(sources.items())
        if name.startswith("broker")
        and (cores := _mean(summary.get("figures", {}), "cores")) is not None
    ]
    if harness_cores is not None:
        parts += [f"producer agents {harness_cores[0]:.2f}", f"consumers {harness_cores[1]:.2f}"]
    return f" (cores: {', '.join(parts)})" if parts else ""


def _outside(host: Mapping[str, Any], host_cores: int | None) -> str:
    """Other work on the host, when it took enough to matter (measure.outside): a host
    whose CPU ran out partly to other tenants is no measure of the run's own."""
    said = outside.words(host.get(outside.FIGURE), host_cores)
    return f", and {said}" if said else ""


def attribute(
    found: Sequence[Usage],
    withheld_for_harness: bool,
    harness_measured: bool = True,
    other_work: str = "",
) -> dict[str, Any]:
    """The step's attribution: the party and resource named, and a sentence saying so.
    `harness_measured` False (the step broke off before its agents reported): no broker
    part is named, since nothing shows the harness was not the one that ran out.
    `other_work`: material work outside the run on a shared host (measure.outside.words),
    said in every sentence, so no limit is blamed on the broker or the run's own host
    while other tenants took its CPU."""
    result = _attribute(found, withheld_for_harness, harness_measured)
    if other_work and result and other_work not in result["sentence"]:
        result["sentence"] += f"; {other_work}"
    return result


def _attribute(
    found: Sequence[Usage], withheld_for_harness: bool, harness_measured: bool
) -> dict[str, Any]:
    if not found:
        return {}
    saturated = [u for u in found if u.utilisation >= SATURATED]
    harness = [u for u in saturated if u.party == "harness"]
    broker = [u for u in saturated if u.party in ("broker", "disk")]
    host = [u for u in saturated if u.party == "host"]
    if harness or withheld_for_harness:
        measured = [u for u in found if u.party == "harness"]
        named = harness[0] if harness else measured[0] if measured else None
        others = [u for u in saturated if u is not named]
        sentence = "the harness, not the broker: " + (
            named.words() if named else "the verdict withheld latency for it"
        )
        if others:
            sentence += "; also saturated: " + ", ".join(u.words() for u in others)
        return _result("harness", named, sentence, saturated, found)
    if not harness_measured:
        return _result(
            None,
            None,
            "inconclusive: the harness was not measured (the step"
            " broke off before its agents reported)"
            + ("; saturated: " + ", ".join(u.words() for u in saturated) if saturated else ""),
            saturated,
            found,
            harness_measured=False,
        )
    if host:  # a broker figure on a host whose CPU ran out includes waiting for a CPU
        named = host[0]
        rest = [u for u in saturated if u is not named]
        return _result(
            "host",
            named,
            named.words()
            + (
                "; the broker's own figures include waiting for that CPU: "
                + ", ".join(u.words() for u in rest)
                if rest
                else "; no broker resource measured was saturated on its own"
            ),
            saturated,
            found,
        )
    if broker:
        named = broker[0]
        rest = [u for u in saturated if u is not named]
        sentence = named.words() + (
            "; also saturated: " + ", ".join(u.words() for u in rest) if rest else ""
        )
        return _result(named.party, named, sentence, saturated, found)
    top = found[0]
    return _result(
        None,
        None,
        f"inconclusive: nothing measured was saturated (closest: {top.words()})",
        saturated,
        found,
    )


def _result(
    party: str | None,
    named: Usage | None,
    sentence: str,
    saturated: Sequence[Usage],
    found: Sequence[Usage],
    harness_measured: bool = True,
) -> dict[str, Any]:
    return {
        "party": party,
        "resource": named.name if named else None,
        "harness_measured": harness_measured,
        "utilisation": round(named.utilisation, 3) if named else None,
        "sentence": sentence,
        "usages": [[u.name, u.party, round(u.utilisation, 3)] for u in found],
        "saturated": [u.name for u in saturated],
    }


def first_saturation(steps: Sequence[tuple[int, Mapping[str, Any]]]) -> str | None:
    """Over a test's steps as (producers, attribution), the resource saturated at the
    fewest producers, in words; None when no count saturated anything. A count measured
    more than once speaks by the majority of its steps: one cold or disturbed step among
    calm ones does not make its count the first saturated."""
    by_count: dict[int, list[Mapping[str, Any]]] = {}
    for producers, attribution in steps:
        if attribution.get("harness_measured", True):
            by_count.setdefault(producers, []).append(attribution)
    for producers in sorted(by_count):
        named = [
            str(a["resource"]) for a in by_count[producers] if a.get("party") and a.get("resource")
        ]
        if 2 * len(named) > len(by_count[producers]):
            resource = max(sorted(set(named)), key=named.count)
            return f"{resource} saturated first, from {producers} producers"
    return None
