"""The run's cluster starts on first use only, once; a failed start is cleaned up and
remembered, so later tests fail at once with the same message."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from pytest_frida.config import FridaSettings, build_settings
from pytest_frida.errors import FridaSetupError
from pytest_frida.lazy_cluster import LazyCluster
from pytest_frida.sites.base import Cluster, Site


class CountingSite(Site):
    name = "counting"

    def __init__(self, fail: BaseException | None = None, stop_fails: bool = False) -> None:
        self.fail = fail
        self.stop_fails = stop_fails
        self.starts = 0
        self.stops = 0

    def start(self) -> Cluster:
        self.starts += 1
        if self.fail is not None:
            raise self.fail
        return Cluster("counting", "h:9092", [], "4.4.0", launcher=None)  # type: ignore[arg-type]

    def stop(self) -> None:
        self.stops += 1
        if self.stop_fails:
            raise RuntimeError("stop broke too")


def lazy(tmp_path: Path, site: CountingSite, problems: list[str], **kw: Any) -> LazyCluster:
    settings: FridaSettings = build_settings({"report-dir": str(tmp_path), "site": "local"}, {})
    return LazyCluster(
        settings.cluster, tmp_path / "run", "run-1", lambda *args: site, problems, **kw
    )


def test_starts_once_on_first_use_and_stops_once(tmp_path: Path) -> None:
    site = CountingSite()
    calls: list[str] = []
    cluster = lazy(
        tmp_path,
        site,
        [],
        before_start=lambda: calls.append("before"),
        started=lambda c: calls.append(c.bootstrap),
    )
    assert site.starts == 0 and not (tmp_path / "run").exists()
    first = cluster.get()
    assert cluster.get() is first
    assert site.starts == 1 and calls == ["before", "h:9092"]
    assert (tmp_path / "run").is_dir()
    cluster.stop()
    cluster.stop()
    assert site.stops == 1


def test_a_failed_start_is_cleaned_up_and_remembered(tmp_path: Path) -> None:
    site = CountingSite(fail=FridaSetupError("no Java"), stop_fails=True)
    problems: list[str] = []
    cluster = lazy(tmp_path, site, problems)
    for _ in range(2):
        with pytest.raises(FridaSetupError, match="the local site could not start Kafka: no Java"):
            cluster.get()
    assert site.starts == 1 and site.stops == 1
    assert problems == ["cleaning up after the failed start: stop broke too"]
