"""Cluster shapes: the brokers, topic and Kafka a capacity test runs its steps on, each
shape in turn (`shapes=[...]` on the capacity marker, `--frida-shapes`).

A shape sets any of SHAPE_KEYS; what it leaves unset is the session's. It is resolved
against the session's cluster and the test's partitions (`Shape.resolve`), which checks
what needs both (replication against brokers, min.insync against replication).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from pytest_frida.config.values import SettingsError, _positive_int, parse_producer_config
from pytest_frida.kafka.distribution import validate_version
from pytest_frida.kafka.server_config import topic_replication

#: what a shape may set; `name` only labels it
SHAPE_KEYS = (
    "name",
    "brokers",
    "partitions",
    "replication",
    "min_insync",
    "broker_config",
    "kafka_version",
)
_COUNTS = ("brokers", "partitions", "replication", "min_insync")
#: Kafka's own default for a topic's min.insync.replicas
KAFKA_MIN_INSYNC = 1
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.+=:-]*$")


@dataclass(frozen=True)
class Shape:
    """What one shape sets (None: the session's)."""

    name: str | None = None
    brokers: int | None = None
    partitions: int | None = None
    replication: int | None = None
    min_insync: int | None = None
    #: broker settings merged over the session's --frida-broker-config
    broker_config: dict[str, str] = field(default_factory=dict)
    kafka_version: str | None = None

    @property
    def label(self) -> str:
        """A readable id for node ids and reports: its name, else what it sets
        (`3b-12p-rf3-isr2-k3.9.0-num.io.threads=2`), or `session` when it sets nothing."""
        if self.name:
            return self.name
        parts = [
            f"{value}{suffix}"
            for value, suffix in (
                (self.brokers, "b"),
                (self.partitions, "p"),
            )
            if value is not None
        ]
        parts += [
            f"{prefix}{value}"
            for value, prefix in (
                (self.replication, "rf"),
                (self.min_insync, "isr"),
                (self.kafka_version, "k"),
            )
            if value is not None
        ]
        parts += [f"{k}={v}" for k, v in sorted(self.broker_config.items())]
        return "-".join(parts) or "session"

    def __str__(self) -> str:
        return self.label

    @property
    def slug(self) -> str:
        """The label as a directory name."""
        return re.sub(r"[^a-z0-9.-]+", "_", self.label.lower())

    def resolve(
        self,
        brokers: int,
        partitions: int,
        broker_config: Mapping[str, str],
        kafka_version: str,
        what: str,
    ) -> ResolvedShape:
        """This shape over the session's values; a replication the brokers cannot hold or
        a min.insync the replication cannot meet is an error naming the shape."""
        n = self.brokers or brokers
        config = {**broker_config, **self.broker_config}
        replication = self.replication or topic_replication(n)
        where = f"{what} shape {self.label}"
        if replication > n:
            raise SettingsError(
                f"{where}: replication={replication} needs at least {replication}"
                f" brokers, the shape has {n}; expected a replication from 1 to {n}"
            )
        min_insync = self.min_insync or _positive_int(
            config.get("min.insync.replicas", str(KAFKA_MIN_INSYNC)),
            f"{where}: broker setting min.insync.replicas",
        )
        if min_insync > replication:
            raise SettingsError(
                f"{where}: min_insync={min_insync} is more than its replication"
                f" {replication}: no write could ever be acknowledged with acks=all;"
                f" expected 1 to {replication}"
            )
        return ResolvedShape(
            label=self.label,
            brokers=n,
            partitions=self.partitions or partitions,
            replication=replication,
            min_insync=min_insync,
            broker_config=config,
            kafka_version=self.kafka_version or kafka_version,
        )


@dataclass(frozen=True)
class ResolvedShape:
    """A shape with every value set: what `StepResult.shape` records."""

    label: str
    brokers: int
    partitions: int
    replication: int
    min_insync: int
    broker_config: dict[str, str]
    kafka_version: str

    def to_dict(self) -> dict[str, Any]:
        """The shape's values (its label goes beside them, in `StepResult.shape_label`)."""
        data = asdict(self)
        del data["label"]
        return data


def parse_shape(raw: Any, what: str) -> Shape:
    """One shape from its mapping; every bad key or value is an error naming it."""
    if not isinstance(raw, Mapping):
        raise SettingsError(
            f"{what}={raw!r}: expected a mapping of {', '.join(SHAPE_KEYS)},"
            " e.g. {'brokers': 3, 'partitions': 12}"
        )
    unknown = sorted(str(k) for k in raw if k not in SHAPE_KEYS)
    if unknown:
        raise SettingsError(
            f"{what}: unknown shape key(s) {', '.join(unknown)}; accepted: {', '.join(SHAPE_KEYS)}"
        )
    values: dict[str, Any] = {k: _positive_int(raw[k], f"{what} {k}") for k in _COUNTS if k in raw}
    if "name" in raw:
        name = raw["name"]
        if not isinstance(name, str) or not _NAME.match(name):
            raise SettingsError(
                f"{what} name={name!r}: expected letters, digits and _.+=:- (a node id part)"
            )
        values["name"] = name
    if "broker_config" in raw:
        config = raw["broker_config"]
        if not isinstance(config, Mapping | str):
            raise SettingsError(
                f"{what} broker_config={config!r}: expected a mapping of broker settings"
            )
        values["broker_config"] = parse_producer_config(
            dict(config) if isinstance(config, Mapping) else config, f"{what} broker_config"
        )
    if "kafka_version" in raw:
        try:
            values["kafka_version"] = validate_version(str(raw["kafka_version"]))
        except ValueError as exc:
            raise SettingsError(f"{what} kafka_version: {exc}") from None
    return Shape(**values)


def parse_shapes(raw: Any, what: str) -> tuple[Shape, ...]:
    """The marker's list of shapes, or the option's text: a JSON list of mappings, or
    `;`-separated shapes of `,`-separated key=value (a broker setting as
    `broker_config.<property>=<value>`). Two shapes with one label are an error."""
    if isinstance(raw, str):
        raw = _shapes_text(raw, what)
    if not isinstance(raw, list | tuple) or not raw:
        raise SettingsError(
            f"{what}={raw!r}: expected a non-empty list of shapes such as"
            " [{'brokers': 1}, {'brokers': 3, 'partitions': 12}]"
        )
    shapes = tuple(parse_shape(one, f"{what}[{n}]") for n, one in enumerate(raw))
    labels = [s.label for s in shapes]
    twice = sorted({label for label in labels if labels.count(label) > 1})
    if twice:
        raise SettingsError(
            f"{what}: shape {', '.join(twice)} given twice; give each shape once"
            " (or a different `name`)"
        )
    return shapes


def _shapes_text(text: str, what: str) -> Any:
    text = text.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError as exc:
            raise SettingsError(f"{what}={text!r}: not a JSON list ({exc})") from None
    shapes: list[dict[str, Any]] = []
    for part in filter(None, (p.strip() for p in text.split(";"))):
        shape: dict[str, Any] = {}
        for pair in filter(None, (p.strip() for p in part.split(","))):
            key, sep, value = pair.partition("=")
            key, value = key.strip(), value.strip()
            if not sep or not key:
                raise SettingsError(
                    f"{what}={text!r}: {pair!r} is not key=value; expected e.g."
                    " 'brokers=1;brokers=3,partitions=12,broker_config.num.io.threads=2'"
                )
            if key.startswith("broker_config."):
                shape.setdefault("broker_config", {})[key.removeprefix("broker_config.")] = value
            else:
                shape[key] = value
        shapes.append(shape)
    return shapes
