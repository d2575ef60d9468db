"""The session's validated settings, and the merge of a capacity marker into them."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pytest_frida.config.grid5000 import Reservation
from pytest_frida.config.plan import (
    _PARSERS,
    MARKER_KEYS,
    StepPlan,
    check_consumers,
    check_drain,
    check_market,
    check_producer_config,
    check_schedule,
)
from pytest_frida.config.shapes import ResolvedShape, Shape
from pytest_frida.config.values import SettingsError
from pytest_frida.report.compare import Threshold
from pytest_frida.report.sizing import SizingTarget
from pytest_frida.search import SearchSpec
from pytest_frida.stacks import STACK_BROKER_COUNTS


@dataclass(frozen=True)
class ClusterSettings:
    """Where the brokers run and how: the slice of the settings a site receives."""

    site: str
    kafka_version: str
    kafka_home: Path | None
    brokers: int
    #: extra server.properties, applied over ours
    broker_config: dict[str, str] = field(default_factory=dict)
    #: docker/swarm: the Kafka image, or None for the default choice
    kafka_image: str | None = None
    #: swarm: logical producers per replica of the producer service
    producers_per_replica: int = 10
    #: hosts:FILE
    hosts_file: Path | None = None
    #: Grid'5000 reservation, when site is a Grid'5000 site name
    reservation: Reservation | None = None
    ssh_config: Path | None = None
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
    #: hosts and Grid'5000: "off", "chrony" or "ptpd"
    clock_sync: str = "off"


#: sites whose nodes are found or reserved once per session: a shape there may change
#: the topic only, never the cluster
_FIXED_NODE_SITES = "hosts and Grid'5000 sites"


@dataclass(frozen=True)
class ShapedTest:
    """A capacity test on one of its shapes: the shape resolved, the test's plan with the
    shape's topic, and the cluster the shape needs."""

    shape: ResolvedShape
    plan: StepPlan
    cluster: ClusterSettings


def _check_site(shape: Shape, cluster: ClusterSettings, shaped: ClusterSettings, what: str) -> None:
    """What the site cannot do for a shape, before anything starts."""
    if shape.kafka_version is not None and shape.kafka_version != cluster.kafka_version:
        fixed = (
            f"--frida-kafka-home {cluster.kafka_home}"
            if cluster.kafka_home is not None
            else f"--frida-kafka-image {cluster.kafka_image}"
            if cluster.kafka_image is not None
            else None
        )
        if fixed is not None:
            raise SettingsError(
                f"{what}: kafka_version={shape.kafka_version} but {fixed} runs one Kafka"
                " for the whole session; drop the shape's kafka_version or that option"
            )
    if cluster.site == "swarm" and shaped.brokers not in STACK_BROKER_COUNTS:
        raise SettingsError(
            f"{what}: brokers={shaped.brokers}, but the swarm stacks hold"
            f" {' or '.join(map(str, STACK_BROKER_COUNTS))} brokers"
        )
    if shaped != cluster and (cluster.site == "hosts" or cluster.reservation is not None):
        raise SettingsError(
            f"{what}: on {_FIXED_NODE_SITES} the nodes are found or reserved once per"
            " session, so a shape may set partitions, replication and min_insync only"
            f" (the {cluster.site} site cannot restart with other brokers, broker settings"
            " or Kafka); use the local, docker or swarm site for those"
        )


@dataclass(frozen=True)
class FridaSettings:
    """The session's validated configuration: the cluster's slice, and the run's own."""

    cluster: ClusterSettings
    report_dir: Path
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
    #: --frida-target: the load the report sizes the measured shapes against
    target: SizingTarget | None = None
    influx_url: str | None = None
    clock_correction: bool = True
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
        merged = {
            **self.defaults.producer_config,
            **(marker_config or {}),
            **self.overrides.get("producer_config", {}),
        }
        values["producer_config"] = merged
        if marker_config is not None:
            check_producer_config(self.client, merged, "capacity marker argument producer_config")
        plan = replace(self.defaults, **values)
        check_schedule(plan, "capacity marker")
        check_market(plan, "capacity marker")
        check_drain(plan, "capacity marker")
        consumers_from = (
            "--frida-consumers"
            if "consumers" in self.overrides
            else "capacity marker argument consumers"
            if "consumers" in marker_kwargs
            else "ini frida_consumers"
        )
        check_consumers(plan, consumers_from)
        shapes_from = (
            "--frida-shapes"
            if "shapes" in self.overrides
            else "capacity marker argument shapes"
            if "shapes" in marker_kwargs
            else "ini frida_shapes"
        )
        for shape in plan.shapes:  # every shape resolves, or the test does not start
            self.shaped(plan, shape, shapes_from)
        return plan

    def shaped(self, plan: StepPlan, shape: Shape, what: str = "shapes") -> ShapedTest:
        """`plan` on `shape`: what it leaves unset is the session's (a broker setting
        merges over --frida-broker-config); an error names the shape and the bad value."""
        c = self.cluster
        resolved = shape.resolve(c.brokers, plan.partitions, c.broker_config, c.kafka_version, what)
        cluster = replace(
            c,
            brokers=resolved.brokers,
            broker_config=resolved.broker_config,
            kafka_version=resolved.kafka_version,
        )
        where = f"{what} shape {shape.label}"
        _check_site(shape, c, cluster, where)
        step = replace(
            plan,
            shapes=(),
            partitions=resolved.partitions,
            replication=resolved.replication,
            min_insync=shape.min_insync,
        )
        check_consumers(step, f"{where}: consumers")
        return ShapedTest(resolved, step, cluster)
