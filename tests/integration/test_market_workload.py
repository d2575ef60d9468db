"""Market workloads on a real broker: a Zipf-popular instrument set and bursty arrivals,
each read by two consumers that split the partitions, lose nothing and count every
partition as the producers' books say."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pytest_frida.config import StepPlan, build_settings
from pytest_frida.controller.runner import StepRunner
from pytest_frida.measure.slo import parse_slo
from pytest_frida.sites.base import Cluster
from pytest_frida.sites.local import LocalSite
from pytest_frida.workload.arrivals import parse_arrivals, parse_popularity


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    local = LocalSite(build_settings({}, {}).cluster, tmp_path_factory.mktemp("site"))
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.mark.parametrize(
    ("instruments", "popularity", "arrivals"),
    [(40, "zipf:1.1", "poisson"), (8, "uniform", "burst:4x1s/4s")],
)
def test_market_workload_loses_nothing_and_counts_its_partitions(
    cluster: Cluster, instruments: int, popularity: str, arrivals: str
) -> None:
    plan = StepPlan(
        producers=(4,),
        rate=100.0,
        duration=4.0,
        warmup=1.0,
        message_size=128,
        slo=parse_slo("p99<=1000ms, loss==0"),
        partitions=6,
        consumers=2,
        instruments=instruments,
        popularity=parse_popularity(popularity),
        arrivals=parse_arrivals(arrivals),
    )
    runner = StepRunner(cluster, f"t-market-{instruments}", "confluent-kafka", workers=1)
    result = runner.run("t", plan, 4)
    assert result.error is None, result.notes
    assert result.counts is not None
    assert result.counts.sent == result.counts.acked == result.counts.received > 0
    assert (result.counts.lost, result.counts.duplicated, result.counts.out_of_order) == (0, 0, 0)
    # every partition received what the producers' books say they sent it
    assert result.partition_counts["sent"] == result.partition_counts["received"]
    assert result.drain_stop == "complete"
    assert result.workload["arrivals"] == arrivals
    assert result.verdict == "pass", result.notes
