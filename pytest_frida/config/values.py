"""Parsers of single option values and marker arguments: each takes the raw value and the
name the user typed (for the one-line error), and returns the typed value."""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pytest_frida.measure.slo import Slo, SloError, parse_slo, with_delivery_guards
from pytest_frida.search import SearchSpec, SearchSpecError, parse_search
from pytest_frida.workload.arrivals import Arrivals, parse_arrivals, parse_popularity


class SettingsError(ValueError):
    """A bad option, ini value or marker argument; the message is one line for the user."""


#: another option's parsed value, by option name ("broker-cores")
Lookup = Callable[[str], Any]

#: an option's parser: (raw text, the name the user typed, the other options) -> value
Parser = Callable[[str, str, Lookup], Any]


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
        raise SettingsError(
            f"{what}={raw!r}: this system cannot pin processes to cores; expected 0"
        ) from None
    if os.environ.get("PYTEST_XDIST_WORKER"):
        raise SettingsError(
            f"{what}={raw!r}: under pytest-xdist every worker would put its"
            " brokers on the same cores; expected 0 with -n"
        )
    if isinstance(raw, bool) or cores < 0:
        raise SettingsError(
            f"{what}={raw!r}: expected a whole number of cores, 0 (shared) to {usable - 1}"
        )
    if cores and site not in ("local", "docker"):
        raise SettingsError(
            f"{what}={raw!r}: only the local and docker sites split one"
            f" machine's cores (this run's site is {site})"
        )
    if cores >= usable:
        raise SettingsError(
            f"{what}={raw!r}: this machine lets the run use {usable} cores"
            " and the harness needs at least one; expected 0 (shared) to"
            f" {usable - 1}"
        )
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
        raise SettingsError(f"{what}={raw!r}: expected bytes between 64 and {MAX_MESSAGE_SIZE}")
    return size


def parse_consumers(raw: object, what: str) -> int | None:
    """`auto` (None: enough for the target rate) or a positive whole number."""
    if raw is None or (isinstance(raw, str) and raw.strip() == "auto"):
        return None
    try:
        return _positive_int(raw, what)
    except SettingsError:
        raise SettingsError(
            f"{what}={raw!r}: expected auto or a positive whole number"
            " (consumer agents, at most the topic's partitions)"
        ) from None


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
            raise SettingsError(
                f"{what}={raw!r}: {part.strip()!r} is not name=value;"
                " expected e.g. 'acks=1,linger.ms=5'"
            )
        out[key.strip()] = value.strip()
    return out


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


def parse_yes_no(raw: object, what: str) -> bool:
    """A marker's True/False, or the text `_flag` reads."""
    return raw if isinstance(raw, bool) else _flag(str(raw), what)


def _flag(raw: str, what: str) -> bool:
    """A yes/no option: bare, yes/true/1/on or no/false/0/off (empty: no)."""
    text = raw.strip().lower()
    if text in ("", "no", "false", "0", "off"):
        return False
    if text in ("yes", "true", "1", "on"):
        return True
    hint = ""
    if "/" in raw or raw.endswith(".py") or Path(raw).exists():
        hint = f" ({raw} was taken as its value: put {what} after the paths, or write {what}=yes)"
    raise SettingsError(f"{what}={raw!r}: expected yes or no{hint}")


def _instruments(raw: object, what: str) -> int | None:
    """A market workload's instrument count; empty: one stream per producer."""
    if raw is None or str(raw).strip() == "":
        return None
    return _positive_int(raw, what)


def _popularity(raw: object, what: str) -> float:
    """The Zipf exponent of instrument popularity (0: uniform)."""
    try:
        return parse_popularity(str(raw))
    except ValueError as exc:
        raise SettingsError(f"{what}={raw!r}: {exc}") from None


def _seed(raw: object, what: str) -> int:
    """The seed of Poisson arrivals: a whole number >= 0, as numpy's generators take."""
    text = str(raw).strip()
    if isinstance(raw, bool) or not (text.isascii() and text.isdigit()):
        raise SettingsError(
            f"{what}={raw!r}: expected a whole number >= 0 (the seed of Poisson arrivals)"
        )
    return int(text)


def _arrivals(raw: object, what: str) -> Arrivals:
    try:
        return parse_arrivals(str(raw))
    except ValueError as exc:
        raise SettingsError(f"{what}={raw!r}: {exc}") from None
