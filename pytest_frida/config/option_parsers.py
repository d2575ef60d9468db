"""The parsers the option table binds to its options: each takes the raw text, the name the
user typed (for the one-line error) and a lookup of the other options' parsed values (for
the few whose meaning depends on another, such as --frida-broker-cores on the site)."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_frida.config.grid5000 import G5K_SITES
from pytest_frida.config.values import (
    Lookup,
    Parser,
    SettingsError,
    _broker_cores,
    _positive_int,
)
from pytest_frida.kafka.distribution import validate_version
from pytest_frida.measure.host_speed import usable_core_count
from pytest_frida.report.compare import CompareError, Threshold, parse_thresholds
from pytest_frida.report.sizing import SizingTarget, TargetError, parse_target

KNOWN_SITES = ("local", "docker", "swarm")

_SITE_NAME = re.compile(r"^[a-z][a-z0-9-]*$")

_URL = re.compile(r"^https?://[^/\s]+(/\S*)?$")


def alone(parse: Callable[[str, str], Any]) -> Parser:
    """A parser that needs no other option."""
    return lambda raw, what, _lookup: parse(raw, what)


def optional(parse: Callable[[str, str], Any]) -> Parser:
    """None for an empty value, else `parse`'s."""
    return lambda raw, what, _lookup: parse(raw, what) if raw else None


def text_or_none(raw: str, what: str, lookup: Lookup) -> str | None:
    return raw or None


def parse_site(raw: str, what: str, lookup: Lookup) -> tuple[str, Path | None]:
    """The site's name, and the hosts file of `hosts:FILE`; a near miss of a known name is
    a typo, an unknown name is left to Grid'5000's reference API."""
    if raw.startswith("hosts:"):
        hosts_file = Path(raw.removeprefix("hosts:")).expanduser()
        if not hosts_file.is_file():
            raise SettingsError(f"{what}={raw!r}: no such hosts file {str(hosts_file)!r}")
        return "hosts", hosts_file
    if raw in KNOWN_SITES or raw in G5K_SITES:
        return raw, None
    if _SITE_NAME.match(raw):
        typo = difflib.get_close_matches(raw, (*KNOWN_SITES, *G5K_SITES), n=1, cutoff=0.75)
        if typo:
            raise SettingsError(
                f"{what}={raw!r}: did you mean {typo[0]!r}?"
                f" Sites: {', '.join(KNOWN_SITES)}, hosts:FILE or one of"
                f" Grid'5000's: {', '.join(G5K_SITES)}"
            )
        return raw, None
    raise SettingsError(
        f"{what}={raw!r}: expected {', '.join(KNOWN_SITES)},"
        " hosts:FILE or a Grid'5000 site name such as sophia"
    )


def parse_kafka_version(raw: str, what: str) -> str:
    try:
        return validate_version(raw)
    except ValueError as exc:
        raise SettingsError(f"{what}: {exc}") from None


def parse_broker_cores(raw: str, what: str, lookup: Lookup) -> int:
    return _broker_cores(raw, what, lookup("site")[0])


def parse_workers(raw: str, what: str, lookup: Lookup) -> int:
    """auto: one per core the agents may use (with a core split, the harness's cores)."""
    if raw == "auto":
        return max(1, usable_core_count() - int(lookup("broker-cores")))
    return _positive_int(raw, what)


def parse_on_off(raw: str, what: str) -> bool:
    if raw not in ("on", "off"):
        raise SettingsError(f"{what}={raw!r}: expected on or off")
    return raw == "on"


def parse_url(example: str) -> Callable[[str, str], str | None]:
    """An optional http(s) URL; the error shows `example`."""

    def parse(raw: str, what: str) -> str | None:
        if not raw:
            return None
        if not _URL.match(raw):
            suffix = f" such as {example}" if example else ""
            raise SettingsError(f"{what}={raw!r}: expected an http(s) URL{suffix}")
        return raw

    return parse


def parse_thresholds_option(raw: str, what: str) -> tuple[Threshold, ...]:
    if not raw:
        return ()
    try:
        return tuple(parse_thresholds(raw))
    except CompareError as exc:
        raise SettingsError(f"{what}: {exc}") from None


def parse_target_option(raw: str, what: str) -> SizingTarget | None:
    """The load the report sizes the measured shapes against (report.sizing)."""
    if not raw:
        return None
    try:
        return parse_target(raw)
    except TargetError as exc:
        raise SettingsError(f"{what}: {exc}") from None


def parse_compare(raw: str, what: str, lookup: Lookup) -> str | None:
    """The run to compare with; a gate with thresholds compares with the previous run."""
    return raw or ("last" if lookup("compare-fail") else None)


def existing_file(raw: str, what: str) -> Path | None:
    """An optional file that must exist already."""
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_file():
        raise SettingsError(f"{what}={str(path)!r}: no such file")
    return path


def images_dir(raw: str, what: str) -> Path | None:
    """An optional directory of `frida images save` archives."""
    if not raw:
        return None
    path = Path(raw).expanduser()
    if not path.is_dir():
        raise SettingsError(
            f"{what}={str(path)!r}: no such directory (write one with `frida images save DIR`)"
        )
    return path


def parse_producers_per_node(raw: str, what: str, lookup: Lookup) -> int | None:
    """Whole replicas per node: a multiple of --frida-producers-per-replica."""
    if not raw:
        return None
    per_node = _positive_int(raw, what)
    per_replica = int(lookup("producers-per-replica"))
    if per_node % per_replica:
        raise SettingsError(
            f"{what}={per_node}: expected a multiple of"
            f" --frida-producers-per-replica={per_replica} (whole replicas per node)"
        )
    return per_node


def parse_image_ref(raw: str, what: str) -> str | None:
    if not raw:
        return None
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/:@-]*", raw):
        raise SettingsError(
            f"{what}={raw!r}: expected an image reference such as apache/kafka:4.4.0"
        )
    return raw


def parse_home(raw: str, what: str) -> Path | None:
    return Path(raw).expanduser() if raw else None
