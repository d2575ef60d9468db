"""The per-test StepPlan, the capacity marker's arguments and the checks that need a whole
plan (a schedule the agents can keep, consumers the partitions allow, producer settings
the client accepts)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pytest_frida.config.shapes import Shape, parse_shapes
from pytest_frida.config.values import (
    SettingsError,
    _arrivals,
    _instruments,
    _message_size,
    _non_negative_float,
    _popularity,
    _positive_float,
    _positive_int,
    _search,
    _seed,
    _slo,
    parse_consumers,
    parse_producer_config,
    parse_producers,
    parse_yes_no,
)
from pytest_frida.measure.slo import Slo
from pytest_frida.search import SearchSpec
from pytest_frida.workload.arrivals import DEFAULT_SEED, EVEN, Arrivals, MarketSpec
from pytest_frida.workload.drivers import load_driver
from pytest_frida.workload.drivers.base import DriverConfigError

#: Marker arguments and the settings they stand for.
MARKER_KEYS = (
    "producers",
    "rate",
    "duration",
    "warmup",
    "message_size",
    "slo",
    "partitions",
    "producer_config",
    "consumers",
    "search",
    "drain",
    "shapes",
    "instruments",
    "popularity",
    "arrivals",
    "seed",
)


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
    #: a drain step: the producers send their whole schedule first, then the consumers
    #: read the backlog (measure.drain); its count clauses alone judge it
    drain: bool = False
    #: cluster shapes to run every step on, each in turn (config.shapes); () the session's
    shapes: tuple[Shape, ...] = ()
    #: the topic's replication factor and min.insync.replicas, as a shape sets them (None:
    #: kafka.server_config.topic_replication, and the brokers' own setting)
    replication: int | None = None
    min_insync: int | None = None
    #: the market-data workload (workload.arrivals): instruments (None: one stream per
    #: producer), the Zipf exponent of their popularity (0: uniform), the arrival process
    #: and the seed Poisson arrivals draw from (accepted with any arrivals: a session-wide
    #: seed must not fail the tests whose arrivals are fixed; only Poisson ones use it)
    instruments: int | None = None
    popularity: float = 0.0
    arrivals: Arrivals = EVEN
    seed: int = DEFAULT_SEED

    @property
    def market(self) -> MarketSpec:
        return MarketSpec(self.instruments, self.popularity, self.arrivals, self.seed)


#: the fastest schedule one producer may follow (one send per microsecond)
MAX_RATE = 1_000_000.0


def check_schedule(plan: StepPlan, what: str) -> None:
    """A rate the open-model schedule can express: at least one measured message per
    producer, and no more than one send per microsecond."""
    if plan.rate > MAX_RATE:
        raise SettingsError(
            f"{what}: rate={plan.rate:g} msg/s per producer is beyond what a"
            f" schedule can express (at most {MAX_RATE:g}); use more producers"
        )
    if plan.rate * plan.duration < 1.0:
        raise SettingsError(
            f"{what}: rate={plan.rate:g} msg/s for duration={plan.duration:g}s gives each"
            f" producer less than one measured message; raise the rate or the duration"
        )


def check_market(plan: StepPlan, what: str) -> None:
    """Enough instruments for the largest producer count the test may run; popularity only
    with instruments."""
    largest = max((*plan.producers, plan.search.high if plan.search else 0))
    try:
        plan.market.check(largest)
    except ValueError as exc:
        raise SettingsError(f"{what}: {exc}") from None


def check_drain(plan: StepPlan, what: str) -> None:
    """A drain step measures how fast consumers read a backlog: no producer count holds
    or breaks it, so a search over producers has nothing to bracket."""
    if plan.drain and plan.search is not None:
        raise SettingsError(
            f"{what}: drain steps with search={plan.search} cannot be searched over"
            " producers (a drain has no producer limit); give producers, and sweep"
            " consumer counts by parametrising frida_consumers"
        )


def check_consumers(plan: StepPlan, what: str) -> None:
    """No more consumers than partitions: each consumer reads at least one."""
    if plan.consumers is not None and plan.consumers > plan.partitions:
        raise SettingsError(
            f"{what}={plan.consumers!r}: more consumers than the"
            f" {plan.partitions} partitions of the test's topic; expected auto"
            f" or a whole number from 1 to {plan.partitions}"
        )


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
    "drain": parse_yes_no,
    "shapes": parse_shapes,
    "instruments": _instruments,
    "popularity": _popularity,
    "arrivals": _arrivals,
    "seed": _seed,
}
