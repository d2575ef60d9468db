"""Options to settings: each group of options parsed by a function of its own, the
builder only assembles them."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_frida.config.grid5000 import G5K_SITES, _reservation
from pytest_frida.config.options import (
    CLOCK_SYNC,
    DEFAULT_SLO,
    KNOWN_SITES,
    MAX_PRIME_S,
    OPTIONS,
    RUNTIMES,
)
from pytest_frida.config.plan import (
    StepPlan,
    check_consumers,
    check_producer_config,
    check_schedule,
)
from pytest_frida.config.settings import FridaSettings
from pytest_frida.config.values import (
    SettingsError,
    _broker_cores,
    _choice,
    _flag,
    _float,
    _message_size,
    _non_negative_float,
    _positive_float,
    _positive_int,
    _search,
    _slo,
    _writable_dir,
    parse_consumers,
    parse_producer_config,
    parse_producers,
)
from pytest_frida.kafka.distribution import validate_version
from pytest_frida.measure.host_speed import usable_core_count
from pytest_frida.report.compare import CompareError, Threshold, parse_thresholds
from pytest_frida.workload.drivers import CLIENTS

_SITE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")


Value = Callable[[str], str]


def _site(value: Value, flag: Value) -> tuple[str, Path | None]:
    """The site's name, and the hosts file of `hosts:FILE`."""
    site_raw = value("site")
    if site_raw.startswith("hosts:"):
        hosts_file = Path(site_raw.removeprefix("hosts:")).expanduser()
        if not hosts_file.is_file():
            raise SettingsError(
                f"{flag('site')}={site_raw!r}: no such hosts file {str(hosts_file)!r}"
            )
        return "hosts", hosts_file
    if site_raw in KNOWN_SITES or site_raw in G5K_SITES:
        return site_raw, None
    if _SITE_NAME.match(site_raw):
        typo = difflib.get_close_matches(site_raw, (*KNOWN_SITES, *G5K_SITES), n=1, cutoff=0.75)
        if typo:
            raise SettingsError(
                f"{flag('site')}={site_raw!r}: did you mean {typo[0]!r}?"
                f" Sites: {', '.join(KNOWN_SITES)}, hosts:FILE or one of"
                f" Grid'5000's: {', '.join(G5K_SITES)}"
            )
        return site_raw, None
    raise SettingsError(
        f"{flag('site')}={site_raw!r}: expected {', '.join(KNOWN_SITES)},"
        " hosts:FILE or a Grid'5000 site name such as sophia"
    )


def _step_defaults(
    value: Value, flag: Value, given_cli: dict[str, str], given_ini: dict[str, str]
) -> tuple[StepPlan, dict[str, Any]]:
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
    }
    ini_config = parse_producer_config(
        given_ini.get("producer-config", ""), "ini frida_producer_config"
    )
    cli_config = parse_producer_config(
        given_cli.get("producer-config", ""), "--frida-producer-config"
    )
    base["producer_config"] = {**ini_config, **cli_config}  # per property: command line wins
    overrides = {
        key: base[key]
        for key in base
        if key != "producer_config" and key.replace("_", "-") in given_cli
    }
    if "producer-config" in given_cli:  # only the command line's properties override
        overrides["producer_config"] = cli_config
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
        raise SettingsError(
            f"{flag('influx')}={influx!r}: expected an http(s) URL such as"
            " http://127.0.0.1:8086/write?db=frida"
        )
    return {
        "compare": value("compare") or ("last" if thresholds else None),
        "compare_fail": thresholds,
        "influx_url": influx,
    }


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
        raise SettingsError(
            f"{flag(name)}={str(path)!r}: no such directory (write one with"
            " `frida images save DIR`)"
        )
    if not is_dir and not path.is_file():
        raise SettingsError(f"{flag(name)}={str(path)!r}: no such file")
    return path


def _nodes_settings(value: Value, flag: Value) -> dict[str, Any]:
    """How things run on the nodes of the hosts and Grid'5000 sites (and swarm's
    replicas)."""
    on_nodes: dict[str, Any] = {
        "ssh_config": _existing(value, flag, "ssh-config"),
        "runtime": _choice(value("runtime"), flag("runtime"), RUNTIMES),
        "clock_sync": _choice(value("clock-sync"), flag("clock-sync"), CLOCK_SYNC),
        "images_dir": _existing(value, flag, "images", is_dir=True),
    }
    per_replica = _positive_int(value("producers-per-replica"), flag("producers-per-replica"))
    per_node = None
    if value("producers-per-node"):
        per_node = _positive_int(value("producers-per-node"), flag("producers-per-node"))
        if per_node % per_replica:
            raise SettingsError(
                f"{flag('producers-per-node')}={per_node}: expected a multiple"
                f" of --frida-producers-per-replica={per_replica} (whole"
                " replicas per node)"
            )
    image = value("kafka-image") or None
    if image is not None and not re.fullmatch(r"[a-z0-9][a-z0-9._/:@-]*", image):
        raise SettingsError(
            f"{flag('kafka-image')}={image!r}: expected an image reference"
            " such as apache/kafka:4.4.0"
        )
    return {
        **on_nodes,
        "producers_per_replica": per_replica,
        "producers_per_node": per_node,
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
        return (
            f"--frida-{name}"
            if name in given_cli
            else (f"ini frida_{name.replace('-', '_')}" if name in given_ini else f"--frida-{name}")
        )

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
    workers = (
        max(1, usable_core_count() - broker_cores)
        if value("workers") == "auto"
        else _positive_int(value("workers"), flag("workers"))
    )
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
        prime=_float(
            value("prime"),
            flag("prime"),
            lambda v: 0 <= v <= MAX_PRIME_S,
            f"seconds from 0 to {MAX_PRIME_S:g}",
        ),
        defaults=defaults,
        overrides=overrides,
        **comparison,
        **on_nodes,
    )
