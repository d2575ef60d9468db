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
    check_market,
    check_producer_config,
    check_schedule,
)
from pytest_frida.config.values import SettingsError
from pytest_frida.report.compare import Threshold
from pytest_frida.search import SearchSpec


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
        consumers_from = (
            "--frida-consumers"
            if "consumers" in self.overrides
            else "capacity marker argument consumers"
            if "consumers" in marker_kwargs
            else "ini frida_consumers"
        )
        check_consumers(plan, consumers_from)
        return plan
