"""One validated settings object, built from command line, ini file and markers.

Configuration flows one way: pytest options and ini keys -> `FridaSettings` (validated
once, in pytest_configure, before any broker starts) -> `StepPlan` per test (marker values
merged in) -> the parts that need them. Precedence: command line > marker > ini > default.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from pytest_frida.kafka.distribution import DEFAULT_KAFKA_VERSION, validate_version
from pytest_frida.measure.slo import Slo, SloError, parse_slo, with_delivery_guards
from pytest_frida.report.compare import CompareError, Threshold, parse_thresholds
from pytest_frida.search import SearchSpec, SearchSpecError, parse_search
from pytest_frida.workload.drivers import CLIENTS, load_driver
from pytest_frida.workload.drivers.base import DriverConfigError

KNOWN_SITES = ("local", "docker", "swarm")
#: how a multi-node site (hosts, Grid'5000) runs things on its nodes
RUNTIMES = ("swarm", "ssh")
#: how such a site synchronises its nodes' clocks before the run
CLOCK_SYNC = ("off", "chrony", "ptpd")
DEFAULT_SLO = "p99<=250ms, loss==0, unacked==0, failed==0"
#: the longest priming run: a broker is warm well before this
MAX_PRIME_S = 300.0


class SettingsError(ValueError):
    """A bad option, ini value or marker argument; the message is one line for the user."""


@dataclass(frozen=True)
class Option:
    """One setting: its command-line flag, ini key, default and help."""

    name: str
    help: str
    default: str
    #: the value of a bare `--frida-NAME` given without `=VALUE` (None: a value is required)
    const: str | None = None


#: Every setting, in the order `pytest --help` shows them. Each is also an ini key frida_<name>.
OPTIONS: tuple[Option, ...] = (
    Option("site", "where brokers run: " + ", ".join(KNOWN_SITES) + ", hosts:FILE (machines"
           " you have, over SSH) or a Grid'5000 site name such as sophia", "local"),
    Option("producers", "producer counts to run, overriding markers, e.g. 1,10,100", ""),
    Option("rate", "messages per second per producer", "10"),
    Option("duration", "measured seconds per step", "10"),
    Option("warmup", "seconds per step sent before measuring starts", "2"),
    Option("prime", "seconds of unmeasured load, at the first step's load, before a"
           " cluster's first measured step (a broker just started runs cold); 0: none, and"
           " the first step says it ran unprimed", "5"),
    Option("max-duration", "most measured seconds a step is lengthened to when its planned"
           " window holds fewer messages than its SLO's percentiles need (p99: 1,000;"
           " p99.9: 10,000)", "60"),
    Option("message-size", "bytes per message value (>= 64)", "256"),
    Option("slo", "SLO asserted per step, overriding markers, e.g. 'p99<=250ms, loss==0'", ""),
    Option("report-dir", "where run reports are written", ".frida/reports"),
    Option("kafka-version", "Apache Kafka release to run", DEFAULT_KAFKA_VERSION),
    Option("kafka-home", "an unpacked Apache Kafka to use instead of resolving jars", ""),
    Option("brokers", "number of Kafka brokers (combined broker+controller nodes)", "1"),
    Option("broker-config", "extra server.properties for every broker, e.g."
           " 'num.io.threads=2,log.flush.interval.messages=1'", ""),
    Option("partitions", "partitions of each step's topic", "3"),
    Option("client", "producer/consumer client library: " + ", ".join(CLIENTS),
           "confluent-kafka"),
    Option("producer-config", "producer settings by Kafka property name, passed to the"
           " client, e.g. 'acks=1,linger.ms=5,compression.type=lz4'", ""),
    Option("workers", "producer agent processes per host (default: one per core)", "auto"),
    Option("consumers", "consumer agent processes per step, each reading its share of the"
           " topic's partitions: auto (enough for the step's target rate) or a count, at"
           " most the partitions", "auto"),
    Option("search", "find each capacity test's limit instead of a fixed sweep: LOW:HIGH"
           "[:TOLERANCE], e.g. 1:2000:10%", ""),
    Option("compare", "compare with the previous run of each test (or with run id RUN)",
           "", const="last"),
    Option("compare-fail", "fail the session on regressions past thresholds, e.g."
           " capacity:10%,p99:20% (compares with the previous run unless --frida-compare"
           " names one)", ""),
    Option("kafka-image", "Kafka image for the docker and swarm sites (apache/kafka's env"
           " contract); default apache/kafka:<kafka-version> if present, else the"
           " frida/kafka:<kafka-version> that `frida images build` makes", ""),
    Option("producers-per-replica", "swarm site: logical producers per producer service"
           " replica", "10"),
    Option("nodes", "Grid'5000: nodes to reserve, a count (brokers, then producer nodes; the"
           " consumer runs on the first broker node; default brokers + 2) or per role,"
           " e.g. brokers=1,consumer=1,producers=2 (consumer=1: a node of its own)", ""),
    Option("cluster", "Grid'5000: the cluster to reserve on (default: any of the site)", ""),
    Option("walltime", "Grid'5000: reservation length, H:MM:SS or seconds", "1:00:00"),
    Option("queue", "Grid'5000: OAR queue (default, production, besteffort, ...)", ""),
    Option("job-type", "Grid'5000: OAR job types, comma-separated, e.g. night,exotic (not"
           " deploy: nothing here runs kadeploy3)", ""),
    Option("reservation", "Grid'5000: advance reservation start, 'YYYY-MM-DD HH:MM[:SS]'"
           " (Paris time, whatever this machine's zone)", ""),
    Option("job-name", "Grid'5000: OAR job name (default frida-<run id>)", ""),
    Option("job-id", "Grid'5000: use this running OAR job instead of reserving", ""),
    Option("keep", "Grid'5000: keep the job at the end instead of deleting it", "",
           const="yes"),
    Option("job-start-timeout", "Grid'5000: seconds to wait for the job to start (past the"
           " reserved start, for an advance reservation) before deleting it", "3600"),
    Option("oar-poll", "Grid'5000: seconds between OAR status polls", "20"),
    Option("g5k-api", "Grid'5000 reference API base URL (default: execo's)", ""),
    Option("ssh-config", "hosts and Grid'5000: an ssh_config file for reaching the nodes", ""),
    Option("runtime", "hosts and Grid'5000: how Kafka and the agents run on the nodes: swarm"
           " (a Docker swarm formed on them, the stacks deployed) or ssh (processes over SSH)",
           "swarm"),
    Option("images", "hosts and Grid'5000 with the swarm runtime: a directory written by"
           " `frida images save DIR`, for controllers without a Docker daemon holding the"
           " images", ""),
    Option("producers-per-node", "hosts and Grid'5000 with the swarm runtime: most producers"
           " one node runs (a multiple of --frida-producers-per-replica); a step that needs"
           " more nodes adds them (Grid'5000: a further reservation)", ""),
    Option("clock-correction", "correct cross-host latencies by the measured clock offsets:"
           " on or off", "on"),
    Option("clock-sync", "hosts and Grid'5000: synchronise the nodes' clocks before they"
           " take part: off; chrony (a running ntpd is kept and read; else chrony installed"
           " and stepped through sudo-g5k on Grid'5000, sudo elsewhere); or ptpd (a PTP"
           " master on the first node, slaves on the others, for the whole run)", "off"),
    Option("plan", "print what the run would do (the site's reservation, the nodes, each"
           " test's steps and their load time) and stop: nothing is reserved or started",
           "", const="yes"),
    Option("monitor", "read each broker's CPU, memory, storage and Kafka metrics (through"
           " the Prometheus JMX exporter) and the host's CPU and disk once a second during"
           " each step, to say what saturated: on or off (hosts and Grid'5000 read their"
           " brokers' nodes over ssh)", "on"),
    Option("broker-cores", "local and docker: run the brokers on this many cores of their"
           " own (the machine's last ones) and the controller and its agents on the others,"
           " so the brokers' CPU has its own ceiling and cannot be taken by the harness; 0:"
           " everything shares the host's cores", "0"),
    Option("influx", "also send each step to InfluxDB (1.x write endpoint), e.g."
           " http://127.0.0.1:8086/write?db=frida", ""),
)
#: Marker arguments and the settings they stand for.
MARKER_KEYS = ("producers", "rate", "duration", "warmup", "message_size", "slo", "partitions",
               "producer_config", "consumers", "search")


@dataclass(frozen=True)
class StepPlan:
    """Everything one capacity test needs to run its steps (one per producer count)."""

    producers: tuple[int, ...]
    rate: float
    duration: float
    warmup: float
    message_size: int
    slo: Slo
    partitions: int
    #: Kafka producer properties passed to the client (validated by its driver)
    producer_config: dict[str, str] = field(default_factory=dict)
    #: consumer agents per step (None: `auto`, enough for the target rate; see
    #: controller.consumer_shards), at most `partitions`
    consumers: int | None = None
    #: the longest a step's measured window may be lengthened to (measure.samples)
    max_duration: float = 60.0
    #: search for the limit instead of running `producers` (None: a fixed sweep)
    search: SearchSpec | None = None


@dataclass(frozen=True)
class Reservation:
    """What to ask OAR for (validated here; the site and cluster against the API later)."""

    site: str
    nodes: int
    cluster: str | None = None
    #: the consumer on a node of its own (after the brokers) rather than the first broker's
    consumer_node: bool = False
    walltime_s: int = 3600
    queue: str | None = None
    job_types: tuple[str, ...] = ()
    reservation_date: str | None = None
    job_name: str | None = None
    job_id: int | None = None
    keep: bool = False
    start_timeout_s: float = 3600.0
    poll_s: float = 20.0
    api_url: str | None = None


def parse_walltime(raw: str, what: str) -> int:
    """H:MM:SS, H:MM or whole seconds."""
    m = re.fullmatch(r"(\d+):(\d{1,2})(?::(\d{1,2}))?", raw.strip())
    if m:
        h, mi, sec = int(m[1]), int(m[2]), int(m[3] or 0)
        if mi < 60 and sec < 60 and (h or mi or sec):
            return h * 3600 + mi * 60 + sec
    elif raw.strip().isdigit() and int(raw) > 0:
        return int(raw)
    raise SettingsError(f"{what}={raw!r}: expected a walltime like 1:30:00 (H:MM:SS), 90:00"
                        " (H:MM) or seconds")


_SITE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")
#: Grid'5000's sites as its reference repository lists them; a name close to one of
#: these (or to a site of ours) is a typo, refused here without asking the API, while a
#: name unlike all of them is left to the reference API, where a new site would show up
G5K_SITES = ("bordeaux", "grenoble", "lille", "louvain", "luxembourg", "lyon", "nancy",
             "nantes", "rennes", "sophia", "strasbourg", "toulouse")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$")


@dataclass(frozen=True)
class FridaSettings:
    """The session's validated configuration."""

    site: str
    report_dir: Path
    kafka_version: str
    kafka_home: Path | None
    brokers: int
    #: extra server.properties, applied over ours
    broker_config: dict[str, str]
    client: str
    workers: int
    #: seconds of unmeasured load before a cluster's first measured step (0: none)
    prime: float
    defaults: StepPlan
    #: marker-level values given on the command line: they win over markers
    overrides: dict[str, Any] = field(default_factory=dict)
    #: the session-wide search (command line or ini); a marker's `search` is in its plan
    search: SearchSpec | None = None
    #: run id to compare with ("last": the previous run of each test), or None
    compare: str | None = None
    compare_fail: tuple[Threshold, ...] = ()
    influx_url: str | None = None
    #: docker/swarm: the Kafka image, or None for the default choice
    kafka_image: str | None = None
    #: swarm: logical producers per replica of the producer service
    producers_per_replica: int = 10
    #: hosts:FILE
    hosts_file: Path | None = None
    #: Grid'5000 reservation, when site is a Grid'5000 site name
    reservation: Reservation | None = None
    ssh_config: Path | None = None
    clock_correction: bool = True
    #: hosts and Grid'5000: "swarm" or "ssh"
    runtime: str = "swarm"
    #: read the brokers' resources and Kafka metrics during each step (runtimes.monitor)
    monitor: bool = True
    #: local and docker: cores of the brokers' own, the harness on the others (0: shared)
    broker_cores: int = 0
    #: swarm on nodes: `frida images save` archives to load on the nodes
    images_dir: Path | None = None
    #: swarm on nodes: most producers per node (None: no limit, the run never grows)
    producers_per_node: int | None = None
    #: hosts and Grid'5000: "off" or "chrony"
    clock_sync: str = "off"
    #: --frida-plan: say what the run would do, and do nothing
    plan_only: bool = False

    def plan_for(self, marker_kwargs: dict[str, Any]) -> StepPlan:
        """Merge a capacity marker's arguments into the session defaults."""
        unknown = sorted(set(marker_kwargs) - set(MARKER_KEYS))
        if unknown:
            raise SettingsError(
                f"capacity marker: unknown argument(s) {', '.join(unknown)};"
                f" accepted: {', '.join(MARKER_KEYS)}"
            )
        values: dict[str, Any] = {}
        for key, raw in marker_kwargs.items():
            values[key] = _PARSERS[key](raw, f"capacity marker argument {key}")
        marker_config = values.get("producer_config")
        values.update(self.overrides)
        # producer properties merge one by one: command line > marker > ini
        merged = {**self.defaults.producer_config, **(marker_config or {}),
                  **self.overrides.get("producer_config", {})}
        values["producer_config"] = merged
        if marker_config is not None:
            check_producer_config(self.client, merged, "capacity marker argument producer_config")
        plan = replace(self.defaults, **values)
        check_schedule(plan, "capacity marker")
        consumers_from = ("--frida-consumers" if "consumers" in self.overrides else
                          "capacity marker argument consumers" if "consumers" in marker_kwargs
                          else "ini frida_consumers")
        check_consumers(plan, consumers_from)
        return plan


def _positive_int(raw: object, what: str) -> int:
    try:
        value = int(str(raw).strip()) if not isinstance(raw, int) else raw
    except ValueError:
        value = 0
    if isinstance(raw, bool) or value <= 0 or str(raw).strip() != str(value):
        raise SettingsError(f"{what}={raw!r}: expected a positive whole number")
    return value


def _float(raw: object, what: str, ok: Callable[[float], bool], expected: str) -> float:
    try:
        value = float(str(raw).strip())
    except ValueError:
        value = math.nan
    if isinstance(raw, bool) or not (math.isfinite(value) and ok(value)):
        raise SettingsError(f"{what}={raw!r}: expected {expected}")
    return value


def _usable_cores() -> int:
    """The cores this process may run on (its affinity; every core where it has none)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _broker_cores(raw: object, what: str, site: str) -> int:
    """0, or a number of cores that leaves the harness at least one of those this process
    may use, on a site whose brokers run on this machine, in one pytest process."""
    try:
        cores = int(str(raw).strip())
    except ValueError:
        cores = -1
    if cores == 0:
        return 0
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS: no affinity to set
        raise SettingsError(f"{what}={raw!r}: this system cannot pin processes to cores;"
                            " expected 0") from None
    if os.environ.get("PYTEST_XDIST_WORKER"):
        raise SettingsError(f"{what}={raw!r}: under pytest-xdist every worker would put its"
                            " brokers on the same cores; expected 0 with -n")
    if isinstance(raw, bool) or cores < 0:
        raise SettingsError(f"{what}={raw!r}: expected a whole number of cores, 0 (shared)"
                            f" to {usable - 1}")
    if cores and site not in ("local", "docker"):
        raise SettingsError(f"{what}={raw!r}: only the local and docker sites split one"
                            f" machine's cores (this run's site is {site})")
    if cores >= usable:
        raise SettingsError(f"{what}={raw!r}: this machine lets the run use {usable} cores"
                            " and the harness needs at least one; expected 0 (shared) to"
                            f" {usable - 1}")
    return cores


def _positive_float(raw: object, what: str) -> float:
    return _float(raw, what, lambda v: v > 0, "a positive number")


def _non_negative_float(raw: object, what: str) -> float:
    return _float(raw, what, lambda v: v >= 0, "a number >= 0")


def parse_producers(raw: object, what: str = "producers") -> tuple[int, ...]:
    """'1,10,100' or [1, 10, 100] -> (1, 10, 100); sorted, duplicates removed."""
    items: list[object]
    if isinstance(raw, int | str):
        items = [p for p in str(raw).replace(" ", "").split(",")]
    elif isinstance(raw, list | tuple | range):
        items = list(raw)
    else:
        items = [raw]
    if not items or items == [""]:
        raise SettingsError(f"{what}={raw!r}: expected positive whole numbers like 1,10,100")
    counts = []
    for item in items:
        try:
            counts.append(_positive_int(item, what))
        except SettingsError:
            raise SettingsError(
                f"{what}={raw!r}: {item!r} is not a positive whole number;"
                " expected a list like 1,10,100"
            ) from None
    return tuple(sorted(set(counts)))


def _slo(raw: object, what: str) -> Slo:
    if isinstance(raw, Slo):
        return with_delivery_guards(raw)
    try:
        return with_delivery_guards(parse_slo(str(raw)))
    except SloError as exc:
        raise SettingsError(f"{what}: {exc}") from None


#: the largest value the clients' default 1,000,000-byte message limit takes with our key
#: and the record's overhead (librdkafka refuses 999,951 bytes and more), so a step never
#: "fails" on messages the client itself refuses
MAX_MESSAGE_SIZE = 999_000


def _message_size(raw: object, what: str) -> int:
    size = _positive_int(raw, what)
    if not 64 <= size <= MAX_MESSAGE_SIZE:
        raise SettingsError(f"{what}={raw!r}: expected bytes between 64 and"
                            f" {MAX_MESSAGE_SIZE}")
    return size


#: the fastest schedule one producer may follow (one send per microsecond)
MAX_RATE = 1_000_000.0


def check_schedule(plan: StepPlan, what: str) -> None:
    """A rate the open-model schedule can express: at least one measured message per
    producer, and no more than one send per microsecond."""
    if plan.rate > MAX_RATE:
        raise SettingsError(f"{what}: rate={plan.rate:g} msg/s per producer is beyond what a"
                            f" schedule can express (at most {MAX_RATE:g}); use more producers")
    if plan.rate * plan.duration < 1.0:
        raise SettingsError(
            f"{what}: rate={plan.rate:g} msg/s for duration={plan.duration:g}s gives each"
            f" producer less than one measured message; raise the rate or the duration")


def parse_consumers(raw: object, what: str) -> int | None:
    """`auto` (None: enough for the target rate) or a positive whole number."""
    if raw is None or (isinstance(raw, str) and raw.strip() == "auto"):
        return None
    try:
        return _positive_int(raw, what)
    except SettingsError:
        raise SettingsError(f"{what}={raw!r}: expected auto or a positive whole number"
                            " (consumer agents, at most the topic's partitions)") from None


def check_consumers(plan: StepPlan, what: str) -> None:
    """No more consumers than partitions: each consumer reads at least one."""
    if plan.consumers is not None and plan.consumers > plan.partitions:
        raise SettingsError(f"{what}={plan.consumers!r}: more consumers than the"
                            f" {plan.partitions} partitions of the test's topic; expected auto"
                            f" or a whole number from 1 to {plan.partitions}")


def parse_producer_config(raw: object, what: str) -> dict[str, str]:
    """'acks=1,linger.ms=5' or {"acks": 1} -> {"acks": "1", "linger.ms": "5"} (Kafka
    properties as name=value pairs; used for producer and broker settings alike)."""
    if isinstance(raw, dict):
        return {str(k): str(v).lower() if isinstance(v, bool) else str(v) for k, v in raw.items()}
    out: dict[str, str] = {}
    for part in str(raw).split(","):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            raise SettingsError(f"{what}={raw!r}: {part.strip()!r} is not name=value;"
                                " expected e.g. 'acks=1,linger.ms=5'")
        out[key.strip()] = value.strip()
    return out


def check_producer_config(client: str, config: dict[str, str], what: str) -> None:
    """The client library must be importable; settings, when there are any, must be ones
    it accepts (an empty set needs no probe client built at every pytest start)."""
    try:
        driver = load_driver(client)
        if config:
            driver.check_settings(config)
    except (DriverConfigError, ValueError) as exc:
        raise SettingsError(f"{what}: {exc}") from None


_PARSERS: dict[str, Any] = {
    "producers": parse_producers,
    "rate": _positive_float,
    "duration": _positive_float,
    "warmup": _non_negative_float,
    "message_size": _message_size,
    "slo": _slo,
    "partitions": _positive_int,
    "producer_config": parse_producer_config,
    "consumers": parse_consumers,
    "search": lambda raw, what: _search(str(raw), what),
}


def _search(raw: str, what: str) -> SearchSpec:
    try:
        return parse_search(raw)
    except SearchSpecError as exc:
        raise SettingsError(f"{what}: {exc}") from None


def _choice(raw: str, what: str, known: tuple[str, ...]) -> str:
    if raw not in known:
        raise SettingsError(f"{what}={raw!r}: unknown; accepted: {', '.join(known)}")
    return raw


def _writable_dir(raw: str, what: str) -> Path:
    path = Path(raw).expanduser()
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if probe.exists() and (not probe.is_dir() or not os.access(probe, os.W_OK | os.X_OK)):
        raise SettingsError(f"{what}={raw!r}: {probe} is not a writable directory")
    return path


#: the roles `--frida-nodes` may count
NODE_ROLES = ("brokers", "consumer", "producers")


def parse_nodes(raw: str, brokers: int, what: str) -> tuple[int, bool]:
    """`--frida-nodes`: (nodes to reserve, whether the consumer gets a node of its own).
    A count, or per role: brokers=B,consumer=0|1,producers=P (brokers as --frida-brokers)."""
    if not raw.strip():
        return brokers + 2, False
    if "=" not in raw:
        nodes = _positive_int(raw, what)
        if nodes < brokers + 1:
            raise SettingsError(f"{what}={nodes}: needs at least --frida-brokers + 1"
                                f" = {brokers + 1} (brokers, then producer nodes)")
        return nodes, False
    counts: dict[str, int] = {}
    for part in raw.split(","):
        role, _, count = part.partition("=")
        role = role.strip()
        if role not in NODE_ROLES:
            raise SettingsError(f"{what}={raw!r}: unknown role {role!r}; accepted:"
                                f" {', '.join(NODE_ROLES)} (e.g. brokers=1,producers=2)")
        if role in counts:
            raise SettingsError(f"{what}={raw!r}: {role} is given twice")
        if not count.strip().isdigit():
            raise SettingsError(f"{what}={raw!r}: {role}={count.strip()!r} is not a count")
        counts[role] = int(count)
    if counts.get("brokers", brokers) != brokers:
        raise SettingsError(f"{what}={raw!r}: brokers={counts['brokers']} but --frida-brokers"
                            f" is {brokers}; give both the same")
    if counts.get("consumer", 0) not in (0, 1):
        raise SettingsError(f"{what}={raw!r}: consumer={counts['consumer']}: 0 (on the first"
                            " broker node) or 1 (a node of its own)")
    if counts.get("producers", 0) < 1:
        raise SettingsError(f"{what}={raw!r}: producers=N with N >= 1 is needed")
    consumer = counts.get("consumer", 0) == 1
    return brokers + int(consumer) + counts["producers"], consumer


def _reservation_date(raw: str, what: str) -> str:
    """'YYYY-MM-DD HH:MM[:SS]' as a real date, always with seconds (what OAR and the
    daytime rules read); the time is Grid'5000's own, Europe/Paris."""
    expected = "expected 'YYYY-MM-DD HH:MM[:SS]', Paris time"
    if not _DATE.match(raw):
        raise SettingsError(f"{what}={raw!r}: {expected}")
    full = raw if raw.count(":") == 2 else f"{raw}:00"
    try:
        wall = dt.datetime.strptime(full, "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise SettingsError(f"{what}={raw!r}: {exc}; {expected}") from None
    paris = ZoneInfo("Europe/Paris")
    if wall.replace(tzinfo=paris).astimezone(dt.timezone.utc).astimezone(paris).replace(
            tzinfo=None) != wall:
        raise SettingsError(f"{what}={raw!r}: no such time in Paris (the clocks go forward"
                            " that night); pick another")
    return full


def _flag(raw: str, what: str) -> bool:
    """A yes/no option: bare, yes/true/1/on or no/false/0/off (empty: no)."""
    text = raw.strip().lower()
    if text in ("", "no", "false", "0", "off"):
        return False
    if text in ("yes", "true", "1", "on"):
        return True
    hint = ""
    if "/" in raw or raw.endswith(".py") or Path(raw).exists():
        hint = (f" ({raw} was taken as its value: put {what} after the paths, or write"
                f" {what}=yes)")
    raise SettingsError(f"{what}={raw!r}: expected yes or no{hint}")


def _reservation(site: str, brokers: int, value: Callable[[str], str],
                 flag: Callable[[str], str]) -> Reservation:
    """The Grid'5000 reservation the options describe."""
    nodes, consumer_node = parse_nodes(value("nodes"), brokers, flag("nodes"))
    date = value("reservation") or None
    if date is not None:
        date = _reservation_date(date, flag("reservation"))
    job_types = tuple(t.strip() for t in value("job-type").split(",") if t.strip())
    for job_type in job_types:
        if not re.fullmatch(r"[a-z][a-z0-9_=.-]*", job_type):
            raise SettingsError(f"{flag('job-type')}: {job_type!r} is not an OAR job type"
                                " (e.g. night, exotic, allow_classic_ssh)")
    job_id = None
    if value("job-id"):
        job_id = _positive_int(value("job-id"), flag("job-id"))
    if "deploy" in job_types and job_id is None:
        # a deploy job's nodes run nothing until kadeploy3 puts an environment on them
        raise SettingsError(f"{flag('job-type')}=deploy: frida uses the nodes' standard"
                            " environment and does not run kadeploy3; leave deploy out, or"
                            " deploy the nodes yourself and pass --frida-job-id")
    api = value("g5k-api") or None
    if api is not None and not re.match(r"^https?://[^/\s]+(/\S*)?$", api):
        raise SettingsError(f"{flag('g5k-api')}={api!r}: expected an http(s) URL")
    return Reservation(
        site=site, nodes=nodes, consumer_node=consumer_node, cluster=value("cluster") or None,
        walltime_s=parse_walltime(value("walltime"), flag("walltime")),
        queue=value("queue") or None, job_types=job_types, reservation_date=date,
        job_name=value("job-name") or None, job_id=job_id,
        keep=_flag(value("keep"), flag("keep")),
        start_timeout_s=_positive_float(value("job-start-timeout"), flag("job-start-timeout")),
        poll_s=_positive_float(value("oar-poll"), flag("oar-poll")), api_url=api)


Value = Callable[[str], str]


def _site(value: Value, flag: Value) -> tuple[str, Path | None]:
    """The site's name, and the hosts file of `hosts:FILE`."""
    site_raw = value("site")
    if site_raw.startswith("hosts:"):
        hosts_file = Path(site_raw.removeprefix("hosts:")).expanduser()
        if not hosts_file.is_file():
            raise SettingsError(f"{flag('site')}={site_raw!r}: no such hosts file"
                                f" {str(hosts_file)!r}")
        return "hosts", hosts_file
    if site_raw in KNOWN_SITES or site_raw in G5K_SITES:
        return site_raw, None
    if _SITE_NAME.match(site_raw):
        typo = difflib.get_close_matches(site_raw, (*KNOWN_SITES, *G5K_SITES), n=1,
                                         cutoff=0.75)
        if typo:
            raise SettingsError(f"{flag('site')}={site_raw!r}: did you mean {typo[0]!r}?"
                                f" Sites: {', '.join(KNOWN_SITES)}, hosts:FILE or one of"
                                f" Grid'5000's: {', '.join(G5K_SITES)}")
        return site_raw, None
    raise SettingsError(f"{flag('site')}={site_raw!r}: expected {', '.join(KNOWN_SITES)},"
                        " hosts:FILE or a Grid'5000 site name such as sophia")


def _step_defaults(value: Value, flag: Value, given_cli: dict[str, str],
                   given_ini: dict[str, str]) -> tuple[StepPlan, dict[str, Any]]:
    """The session's StepPlan defaults, and the marker-level values the command line
    gives (they win over markers; `producers` from the ini file too)."""
    base: dict[str, Any] = {
        "rate": _positive_float(value("rate"), flag("rate")),
        "duration": _positive_float(value("duration"), flag("duration")),
        "warmup": _non_negative_float(value("warmup"), flag("warmup")),
        "message_size": _message_size(value("message-size"), flag("message-size")),
        "slo": _slo(value("slo") or DEFAULT_SLO, flag("slo")),
        "partitions": _positive_int(value("partitions"), flag("partitions")),
        "consumers": parse_consumers(value("consumers"), flag("consumers")),
        "max_duration": _positive_float(value("max-duration"), flag("max-duration")),
        "search": _search(value("search"), flag("search")) if value("search") else None,
        # per property: command line over ini
        "producer_config": {
            **parse_producer_config(given_ini.get("producer-config", ""),
                                    "ini frida_producer_config"),
            **parse_producer_config(given_cli.get("producer-config", ""),
                                    "--frida-producer-config"),
        },
    }
    overrides = {key: base[key] for key in base if key.replace("_", "-") in given_cli}
    if "producer-config" in given_cli:
        overrides["producer_config"] = parse_producer_config(given_cli["producer-config"],
                                                             "--frida-producer-config")
    producers_raw = value("producers")
    if producers_raw:
        overrides["producers"] = parse_producers(producers_raw, flag("producers"))
    defaults = StepPlan(producers=(1, 5, 20), **base)
    check_schedule(defaults, "--frida-rate/--frida-duration")
    if "partitions" in overrides:  # no marker can change them: every test would fail
        check_consumers(defaults, flag("consumers"))
    return defaults, overrides


def _comparison(value: Value, flag: Value) -> dict[str, Any]:
    """What the run is compared with, the gate's thresholds, and the InfluxDB export."""
    thresholds: tuple[Threshold, ...] = ()
    if value("compare-fail"):
        try:
            thresholds = tuple(parse_thresholds(value("compare-fail")))
        except CompareError as exc:
            raise SettingsError(f"{flag('compare-fail')}: {exc}") from None
    influx = value("influx") or None
    if influx is not None and not re.match(r"^https?://[^/\s]+(/\S*)?$", influx):
        raise SettingsError(f"{flag('influx')}={influx!r}: expected an http(s) URL such as"
                            " http://127.0.0.1:8086/write?db=frida")
    return {"compare": value("compare") or ("last" if thresholds else None),
            "compare_fail": thresholds, "influx_url": influx}


def _on_off(value: Value, flag: Value, name: str) -> bool:
    raw = value(name)
    if raw not in ("on", "off"):
        raise SettingsError(f"{flag(name)}={raw!r}: expected on or off")
    return raw == "on"


def _existing(value: Value, flag: Value, name: str, is_dir: bool = False) -> Path | None:
    """An optional path that must exist already (a file, or a directory)."""
    if not value(name):
        return None
    path = Path(value(name)).expanduser()
    if is_dir and not path.is_dir():
        raise SettingsError(f"{flag(name)}={str(path)!r}: no such directory (write one with"
                            " `frida images save DIR`)")
    if not is_dir and not path.is_file():
        raise SettingsError(f"{flag(name)}={str(path)!r}: no such file")
    return path


def _nodes_settings(value: Value, flag: Value) -> dict[str, Any]:
    """How things run on the nodes of the hosts and Grid'5000 sites (and swarm's
    replicas)."""
    per_replica = _positive_int(value("producers-per-replica"), flag("producers-per-replica"))
    per_node = None
    if value("producers-per-node"):
        per_node = _positive_int(value("producers-per-node"), flag("producers-per-node"))
        if per_node % per_replica:
            raise SettingsError(f"{flag('producers-per-node')}={per_node}: expected a multiple"
                                f" of --frida-producers-per-replica={per_replica} (whole"
                                " replicas per node)")
    image = value("kafka-image") or None
    if image is not None and not re.fullmatch(r"[a-z0-9][a-z0-9._/:@-]*", image):
        raise SettingsError(f"{flag('kafka-image')}={image!r}: expected an image reference"
                            " such as apache/kafka:4.4.0")
    return {
        "ssh_config": _existing(value, flag, "ssh-config"),
        "runtime": _choice(value("runtime"), flag("runtime"), RUNTIMES),
        "clock_sync": _choice(value("clock-sync"), flag("clock-sync"), CLOCK_SYNC),
        "images_dir": _existing(value, flag, "images", is_dir=True),
        "producers_per_replica": per_replica, "producers_per_node": per_node,
        "kafka_image": image,
    }


def build_settings(cli: dict[str, str | None], ini: dict[str, str | None]) -> FridaSettings:
    """Validate option values into settings; keys are option names ("message-size").

    `cli` holds command-line values (None when not given), `ini` the ini keys (None or ""
    when absent). Marker-level values given on the command line become overrides that win
    over markers; `producers` overrides markers from the ini file too, so a CI config can
    shrink every sweep at once.
    """
    given_cli = {k: str(v) for k, v in cli.items() if v not in (None, "")}
    given_ini = {k: str(v) for k, v in ini.items() if v not in (None, "")}
    defaults_by_name = {o.name: o.default for o in OPTIONS}

    def value(name: str) -> str:
        return given_cli.get(name) or given_ini.get(name) or defaults_by_name[name]

    def flag(name: str) -> str:
        return f"--frida-{name}" if name in given_cli else (
            f"ini frida_{name.replace('-', '_')}" if name in given_ini else f"--frida-{name}")

    site, hosts_file = _site(value, flag)
    try:
        version = validate_version(value("kafka-version"))
    except ValueError as exc:
        raise SettingsError(f"{flag('kafka-version')}: {exc}") from None
    home = value("kafka-home")
    defaults, overrides = _step_defaults(value, flag, given_cli, given_ini)
    client = _choice(value("client"), flag("client"), CLIENTS)
    check_producer_config(client, defaults.producer_config, flag("producer-config"))
    broker_cores = _broker_cores(value("broker-cores"), flag("broker-cores"), site)
    # auto: one per core the agents may use (with a core split, the harness's cores)
    workers = max(1, _usable_cores() - broker_cores) if value("workers") == "auto" \
        else _positive_int(value("workers"), flag("workers"))
    comparison = _comparison(value, flag)
    brokers = _positive_int(value("brokers"), flag("brokers"))
    # validated whatever the site, so a typo is caught before it matters
    reservation = _reservation(site, brokers, value, flag)
    clock_correction = _on_off(value, flag, "clock-correction")
    monitor = _on_off(value, flag, "monitor")
    on_nodes = _nodes_settings(value, flag)
    return FridaSettings(
        hosts_file=hosts_file,
        reservation=None if site in KNOWN_SITES or site == "hosts" else reservation,
        clock_correction=clock_correction,
        monitor=monitor,
        broker_cores=broker_cores,
        plan_only=_flag(value("plan"), flag("plan")),
        search=defaults.search,
        site=site,
        report_dir=_writable_dir(value("report-dir"), flag("report-dir")),
        kafka_version=version,
        kafka_home=Path(home).expanduser() if home else None,
        brokers=brokers,
        broker_config=parse_producer_config(value("broker-config"), flag("broker-config")),
        client=client,
        workers=workers,
        prime=_float(value("prime"), flag("prime"), lambda v: 0 <= v <= MAX_PRIME_S,
                     f"seconds from 0 to {MAX_PRIME_S:g}"),
        defaults=defaults,
        overrides=overrides,
        **comparison,
        **on_nodes,
    )
