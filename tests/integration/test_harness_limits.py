"""Harness limits on a real broker: a slowed consumer or generator is never the broker's
fault, and never hides a message the broker lost.

The slowing is real: a CPU quota of the kernel (cgroups, see helpers/cpu_quota.py) on the agent
processes, as a host shared with other work would impose.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from helpers.cpu_quota import CpuQuota, QuotaLauncher, quota_unavailable

from pytest_frida.config import StepPlan, build_settings
from pytest_frida.controller.runner import StepRunner
from pytest_frida.measure.slo import parse_slo, with_delivery_guards
from pytest_frida.runtimes.agents import AgentHandle
from pytest_frida.sites.base import Cluster
from pytest_frida.sites.local import LocalSite
from pytest_frida.workload.protocol import AgentConfig


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = quota_unavailable()
    if reason:
        pytest.fail(reason)  # root on these machines: a quota must be possible
    local = LocalSite(build_settings({}, {}).cluster, tmp_path_factory.mktemp("site"))
    try:
        yield local.start()
    finally:
        local.stop()


def plan(
    rate: float, consumers: int | None, slo: str = "p99<=100ms", duration: float = 4.0
) -> StepPlan:
    return StepPlan(
        producers=(1,),
        rate=rate,
        duration=duration,
        warmup=1.0,
        message_size=128,
        slo=with_delivery_guards(parse_slo(slo)),
        partitions=3,
        consumers=consumers,
    )


def is_producer(config: AgentConfig) -> bool:
    return config.get("role") == "producer"


def test_a_slow_consumer_is_consumer_bound_and_enough_consumers_are_judged(
    cluster: Cluster,
) -> None:
    # 4,000 msg/s against one consumer held to 2% of a core: it falls behind, latency grows
    original = cluster.launcher
    with CpuQuota(0.02) as quota:
        cluster.launcher = QuotaLauncher(original, quota)
        try:
            slowed = StepRunner(cluster, "slow-consumer", "confluent-kafka", workers=1).run(
                "t", plan(400.0, consumers=1), 10
            )
        finally:
            cluster.launcher = original
    assert slowed.error is None, slowed.error
    assert slowed.verdict == "consumer_bound", (slowed.reasons, slowed.consumers)
    assert slowed.decides is None
    assert slowed.withheld == ["p99<=100ms"]
    assert slowed.counts is not None and slowed.counts.lost == 0
    assert slowed.drain_stop == "complete"
    assert slowed.consumers[0]["saturated"], slowed.consumers
    assert (slowed.latency["p99"] or 0) > 100.0

    # the same load read by three consumers with the whole machine: judged on the broker
    free = StepRunner(cluster, "free-consumers", "confluent-kafka", workers=1).run(
        "t", plan(400.0, consumers=3), 10
    )
    assert free.error is None, free.error
    assert free.verdict in ("pass", "fail"), free.reasons
    assert len(free.consumers) == 3
    assert not any(c["saturated"] for c in free.consumers), free.consumers
    assert sorted(p for c in free.consumers for p in c["partitions"]) == [0, 1, 2]


class _Spy(QuotaLauncher):
    """Also keeps the consumer agents, so the test can pause them."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.consumers: list[AgentHandle] = []

    def launch(self, name: str, config: AgentConfig, slot: int = 0) -> AgentHandle:
        handle = super().launch(name, config, slot)
        if config.get("role") == "consumer":
            self.consumers.append(handle)
        return handle


def _delete_unread(cluster: Cluster, topic: str, spy: _Spy) -> None:
    """Once the consumers receive the load: pause them, let the producers write for a
    second, then have the broker delete every record written so far (acknowledged ones
    included), and let the consumers go on. What they had not read is lost, by the
    broker."""
    from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition

    deadline = time.monotonic() + 120
    while not any(int(a.last_progress.get("received", 0)) > 0 for a in spy.consumers):
        if time.monotonic() > deadline:
            return
        time.sleep(0.1)
    for agent in spy.consumers:
        agent.process.send_signal(signal.SIGSTOP)
    try:
        time.sleep(1.0)
        probe = KafkaConsumer(bootstrap_servers=cluster.bootstrap)
        admin = KafkaAdminClient(bootstrap_servers=cluster.bootstrap)
        try:
            parts = [TopicPartition(topic, p) for p in range(3)]
            ends = probe.end_offsets(parts)
            admin.delete_records({tp: offset for tp, offset in ends.items() if offset > 0})
        finally:
            probe.close()
            admin.close()
    finally:
        for agent in spy.consumers:
            agent.process.send_signal(signal.SIGCONT)


def test_a_saturated_generator_that_lost_acknowledged_messages_fails(cluster: Cluster) -> None:
    original = cluster.launcher
    runner = StepRunner(cluster, "lossy", "confluent-kafka", workers=1)
    topic = "frida-lossy-step1"  # the runner's first measured step
    with CpuQuota(0.02) as quota:
        spy = _Spy(original, quota, select=is_producer)  # the producer agent is starved
        cluster.launcher = spy
        thread = threading.Thread(target=_delete_unread, args=(cluster, topic, spy), daemon=True)
        thread.start()
        try:
            result = runner.run("t", plan(5000.0, consumers=1, slo="p99<=5s", duration=6.0), 2)
        finally:
            cluster.launcher = original
            thread.join(30)
    assert result.error is None, result.error
    assert result.counts is not None
    assert result.counts.lost > 0, result.counts
    assert result.generator_bound, result.generators
    assert result.verdict == "fail", result.reasons
    assert result.decides == "fail"
    assert any("did not get through" in r for r in result.reasons)
