"""What an OAR reservation asks for, and the parsers of the Grid'5000 options."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pytest_frida.config.values import Lookup, SettingsError, _positive_int


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
    raise SettingsError(
        f"{what}={raw!r}: expected a walltime like 1:30:00 (H:MM:SS), 90:00 (H:MM) or seconds"
    )


#: Grid'5000's sites as its reference repository lists them; a name close to one of
#: these (or to a site of ours) is a typo, refused here without asking the API, while a
#: name unlike all of them is left to the reference API, where a new site would show up
G5K_SITES = (
    "bordeaux",
    "grenoble",
    "lille",
    "louvain",
    "luxembourg",
    "lyon",
    "nancy",
    "nantes",
    "rennes",
    "sophia",
    "strasbourg",
    "toulouse",
)


_DATE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?$")


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
            raise SettingsError(
                f"{what}={nodes}: needs at least --frida-brokers + 1"
                f" = {brokers + 1} (brokers, then producer nodes)"
            )
        return nodes, False
    counts: dict[str, int] = {}
    for part in raw.split(","):
        role, _, count = part.partition("=")
        role = role.strip()
        if role not in NODE_ROLES:
            raise SettingsError(
                f"{what}={raw!r}: unknown role {role!r}; accepted:"
                f" {', '.join(NODE_ROLES)} (e.g. brokers=1,producers=2)"
            )
        if role in counts:
            raise SettingsError(f"{what}={raw!r}: {role} is given twice")
        if not count.strip().isdigit():
            raise SettingsError(f"{what}={raw!r}: {role}={count.strip()!r} is not a count")
        counts[role] = int(count)
    if counts.get("brokers", brokers) != brokers:
        raise SettingsError(
            f"{what}={raw!r}: brokers={counts['brokers']} but --frida-brokers"
            f" is {brokers}; give both the same"
        )
    if counts.get("consumer", 0) not in (0, 1):
        raise SettingsError(
            f"{what}={raw!r}: consumer={counts['consumer']}: 0 (on the first"
            " broker node) or 1 (a node of its own)"
        )
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
    if (
        wall.replace(tzinfo=paris)
        .astimezone(dt.timezone.utc)
        .astimezone(paris)
        .replace(tzinfo=None)
        != wall
    ):
        raise SettingsError(
            f"{what}={raw!r}: no such time in Paris (the clocks go forward"
            " that night); pick another"
        )
    return full


def parse_job_types(raw: str, what: str, lookup: Lookup) -> tuple[str, ...]:
    """OAR job types, comma-separated; deploy only for a job the user deployed himself."""
    job_types = tuple(t.strip() for t in raw.split(",") if t.strip())
    for job_type in job_types:
        if not re.fullmatch(r"[a-z][a-z0-9_=.-]*", job_type):
            raise SettingsError(
                f"{what}: {job_type!r} is not an OAR job type"
                " (e.g. night, exotic, allow_classic_ssh)"
            )
    if "deploy" in job_types and lookup("job-id") is None:
        # a deploy job's nodes run nothing until kadeploy3 puts an environment on them
        raise SettingsError(
            f"{what}=deploy: frida uses the nodes' standard"
            " environment and does not run kadeploy3; leave deploy out, or"
            " deploy the nodes yourself and pass --frida-job-id"
        )
    return job_types


def parse_nodes_option(raw: str, what: str, lookup: Lookup) -> tuple[int, bool]:
    return parse_nodes(raw, int(lookup("brokers")), what)


def parse_reservation_date(raw: str, what: str) -> str | None:
    return _reservation_date(raw, what) if raw else None


def reservation(site: str, parsed: Lookup) -> Reservation:
    """The Grid'5000 reservation the parsed options describe."""
    nodes, consumer_node = parsed("nodes")
    return Reservation(
        site=site,
        nodes=nodes,
        consumer_node=consumer_node,
        reservation_date=parsed("reservation"),
        job_types=parsed("job-type"),
        job_id=parsed("job-id"),
        api_url=parsed("g5k-api"),
        cluster=parsed("cluster"),
        walltime_s=parsed("walltime"),
        queue=parsed("queue"),
        job_name=parsed("job-name"),
        keep=parsed("keep"),
        start_timeout_s=parsed("job-start-timeout"),
        poll_s=parsed("oar-poll"),
    )
