"""Options to settings: each option's own parser (`options.OPTIONS`) gives its value; the
builder only assembles them and merges the command line's marker-level values."""

from __future__ import annotations

from typing import Any

from pytest_frida.config.grid5000 import Reservation, reservation
from pytest_frida.config.option_parsers import KNOWN_SITES
from pytest_frida.config.options import OPTIONS
from pytest_frida.config.plan import (
    StepPlan,
    check_consumers,
    check_drain,
    check_producer_config,
    check_schedule,
)
from pytest_frida.config.settings import ClusterSettings, FridaSettings

#: marker-level settings the command line may give, by option name, as StepPlan fields
_STEP_FIELDS = (
    "rate",
    "duration",
    "warmup",
    "message-size",
    "slo",
    "partitions",
    "consumers",
    "max-duration",
    "search",
    "drain",
    "shapes",
    "instruments",
    "popularity",
    "arrivals",
    "seed",
)


#: the order the remaining options are parsed in, so that of several bad values the same
#: one is reported first as before options carried their own parsers
_REPORTED_ORDER = (
    "broker-cores",
    "workers",
    "compare-fail",
    "target",
    "influx",
    "brokers",
    "nodes",
    "reservation",
    "job-type",
    "job-id",
    "g5k-api",
    "walltime",
    "keep",
    "job-start-timeout",
    "oar-poll",
    "clock-correction",
    "monitor",
    "ssh-config",
    "runtime",
    "clock-sync",
    "images",
    "producers-per-replica",
    "producers-per-node",
    "kafka-image",
    "plan",
    "report-dir",
    "broker-config",
    "prime",
)


class ParsedOptions:
    """Each option's value parsed once, on first use, by its own parser: the order the
    builder asks for them is the order in which bad values are reported."""

    def __init__(self, cli: dict[str, str], ini: dict[str, str]) -> None:
        self.cli = cli
        self.ini = ini
        self._options = {o.name: o for o in OPTIONS}
        self._parsed: dict[str, Any] = {}

    def raw(self, name: str) -> str:
        """Command line, else ini file, else the option's default."""
        return self.cli.get(name) or self.ini.get(name) or self._options[name].default

    def flag(self, name: str) -> str:
        """The name the user gave the value under, for the one-line error."""
        if name not in self.cli and name in self.ini:
            return f"ini frida_{name.replace('-', '_')}"
        return f"--frida-{name}"

    def per_source(self, name: str) -> tuple[Any, Any]:
        """The ini file's value and the command line's, each parsed alone, for an option
        merged key by key (the command line's keys win)."""
        parse = self._options[name].parse
        ini_flag = f"ini frida_{name.replace('-', '_')}"
        return (
            parse(self.ini.get(name, ""), ini_flag, self),
            parse(self.cli.get(name, ""), f"--frida-{name}", self),
        )

    def __call__(self, name: str) -> Any:
        if name not in self._parsed:
            self._parsed[name] = self._options[name].parse(self.raw(name), self.flag(name), self)
        return self._parsed[name]


def _step_defaults(parsed: ParsedOptions) -> tuple[StepPlan, dict[str, Any]]:
    """The session's StepPlan defaults, and the marker-level values the command line
    gives (they win over markers; `producers` from the ini file too)."""
    base = {name.replace("-", "_"): parsed(name) for name in _STEP_FIELDS}
    ini_config, cli_config = parsed.per_source("producer-config")
    overrides = {key: base[key] for key in base if key.replace("_", "-") in parsed.cli}
    if "producer-config" in parsed.cli:  # only the command line's properties override
        overrides["producer_config"] = cli_config
    if parsed("producers") is not None:
        overrides["producers"] = parsed("producers")
    # per property: command line wins
    defaults = StepPlan(producers=(1, 5, 20), producer_config={**ini_config, **cli_config}, **base)
    check_schedule(defaults, "--frida-rate/--frida-duration")
    check_drain(defaults, "--frida-drain/--frida-search")
    if "partitions" in overrides:  # no marker can change them: every test would fail
        check_consumers(defaults, parsed.flag("consumers"))
    return defaults, overrides


def _reservation(site: str, parsed: ParsedOptions) -> Reservation | None:
    """The Grid'5000 reservation, on a Grid'5000 site; its options are parsed whatever the
    site, so a typo is caught before it matters."""
    g5k = reservation(site, parsed)
    return None if site in KNOWN_SITES or site == "hosts" else g5k


def build_settings(cli: dict[str, str | None], ini: dict[str, str | None]) -> FridaSettings:
    """Validate option values into settings; keys are option names ("message-size").

    `cli` holds command-line values (None when not given), `ini` the ini keys (None or ""
    when absent). Marker-level values given on the command line become overrides that win
    over markers; `producers` overrides markers from the ini file too, so a CI config can
    shrink every sweep at once.
    """
    parsed = ParsedOptions(
        cli={k: str(v) for k, v in cli.items() if v not in (None, "")},
        ini={k: str(v) for k, v in ini.items() if v not in (None, "")},
    )
    site, hosts_file = parsed("site")
    version = parsed("kafka-version")
    defaults, overrides = _step_defaults(parsed)
    client = parsed("client")
    check_producer_config(client, defaults.producer_config, parsed.flag("producer-config"))
    for name in _REPORTED_ORDER:  # of two bad values, the one a user has always been told
        parsed(name)
    cluster = ClusterSettings(
        site=site,
        hosts_file=hosts_file,
        kafka_version=version,
        kafka_home=parsed("kafka-home"),
        broker_cores=parsed("broker-cores"),
        brokers=parsed("brokers"),
        reservation=_reservation(site, parsed),
        monitor=parsed("monitor"),
        ssh_config=parsed("ssh-config"),
        runtime=parsed("runtime"),
        clock_sync=parsed("clock-sync"),
        images_dir=parsed("images"),
        producers_per_replica=parsed("producers-per-replica"),
        producers_per_node=parsed("producers-per-node"),
        kafka_image=parsed("kafka-image"),
        broker_config=parsed("broker-config"),
    )
    settings = FridaSettings(
        cluster=cluster,
        client=client,
        workers=parsed("workers"),
        compare_fail=parsed("compare-fail"),
        target=parsed("target"),
        compare=parsed("compare"),
        influx_url=parsed("influx"),
        clock_correction=parsed("clock-correction"),
        plan_only=parsed("plan"),
        report_dir=parsed("report-dir"),
        prime=parsed("prime"),
        search=defaults.search,
        defaults=defaults,
        overrides=overrides,
    )
    for shape in defaults.shapes:  # shapes any test may run: checked against the cluster
        settings.shaped(defaults, shape, parsed.flag("shapes"))
    return settings
