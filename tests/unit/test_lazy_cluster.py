"""The run's cluster starts on first use only, once; a failed start is cleaned up and
remembered, so later tests fail at once with the same message."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, ClassVar

import pytest

from pytest_frida.config import ClusterSettings, FridaSettings, build_settings
from pytest_frida.errors import FridaSetupError
from pytest_frida.lazy_cluster import LazyCluster
from pytest_frida.runtimes import process
from pytest_frida.session import FridaRun
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


def test_a_failed_stop_keeps_the_site_and_its_exit_cleanup_until_a_stop_succeeds(
    tmp_path: Path,
) -> None:
    site = CountingSite(stop_fails=True)
    cluster = lazy(tmp_path, site, [])
    cluster.get()
    with pytest.raises(RuntimeError, match="stop broke too"):
        cluster.stop()
    assert cluster.stop in process._cleanups  # the interpreter's exit tries again
    site.stop_fails = False
    cluster.stop()
    assert site.stops == 2 and cluster.stop not in process._cleanups


class ShapeSite(CountingSite):
    """One site per cluster settings; records which are running at once."""

    running: ClassVar[list[int]] = []

    def __init__(self, settings: ClusterSettings) -> None:
        super().__init__(stop_fails=settings.brokers == 3)
        self.brokers = settings.brokers

    def start(self) -> Cluster:
        self.running.append(self.brokers)
        return super().start()

    def stop(self) -> None:
        super().stop()
        self.running.remove(self.brokers)


def test_a_shape_whose_cluster_cannot_stop_starts_no_other(tmp_path: Path) -> None:
    settings = build_settings({"report-dir": str(tmp_path), "site": "local"}, {})
    sites: list[ShapeSite] = []

    def make_site(s: ClusterSettings, *_: object) -> ShapeSite:
        sites.append(ShapeSite(s))
        return sites[-1]

    ShapeSite.running = []
    run = FridaRun(settings, make_site=make_site)
    three, one = replace(settings.cluster, brokers=3), replace(settings.cluster, brokers=1)
    run.cluster(three)
    expected = (
        "the previous shape's cluster could not be stopped: stop broke too;"
        " no other cluster is started while it may run"
    )
    for wanted in (one, one, three):  # that item, and every later one
        with pytest.raises(FridaSetupError) as caught:
            run.cluster(wanted)
        assert str(caught.value) == expected
    assert ShapeSite.running == [3] and len(sites) == 1
    assert run.problems == [expected]
    run.stop_cluster()  # the session's end tries again, and says so when it fails
    assert run.problems[1:] == ["the cluster still could not be stopped: stop broke too"]
    sites[0].stop_fails = False
    run.stop_cluster()
    assert ShapeSite.running == [] and len(sites) == 1
