"""A consumer agent on a real broker: it reads its share of the partitions, drains exactly
the acknowledged messages of its share, and says how hard it worked (also when slowed
down on purpose by a CPU quota)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.cpu_quota import CpuQuota, quota_unavailable

from pytest_frida.config import build_settings
from pytest_frida.controller.runner import StepRunner
from pytest_frida.measure.accounting import SequenceTracker
from pytest_frida.measure.histogram import LatencyHistogram
from pytest_frida.runtimes.agents import AgentHandle, LocalAgentLauncher, stop_agents
from pytest_frida.sites.base import Cluster
from pytest_frida.sites.local import LocalSite
from pytest_frida.workload.messages import instrument_key, lane_of, pack_header
from pytest_frida.workload.protocol import ConsumerConfig, ExpectedSends

PARTITIONS = 3
PAD = bytes(100)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    local = LocalSite(build_settings({}, {}).cluster, tmp_path_factory.mktemp("site"))
    try:
        yield local.start()
    finally:
        local.stop()


@pytest.fixture
def launcher(tmp_path: Path) -> LocalAgentLauncher:
    return LocalAgentLauncher(tmp_path / "agents")


def new_topic(cluster: Cluster, name: str, partitions: int = PARTITIONS) -> str:
    """A topic made the way a step makes its own (every partition with a leader)."""
    StepRunner(cluster, "consumer-tests", "kafka-python").create_topic(name, partitions)
    return name


def produce(
    cluster: Cluster, topic: str, messages: list[tuple[int, int]], partitions: int = PARTITIONS
) -> None:
    """(producer, seq) messages, each to its lane's partition, intended and sent now."""
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=cluster.bootstrap, acks=1, linger_ms=5)
    try:
        for pid, seq in messages:
            lane = lane_of(pid, seq, partitions)
            now = time.time_ns()
            producer.send(
                topic,
                value=pack_header(pid, seq, now, now) + PAD,
                key=instrument_key(pid, lane),
                partition=lane,
            )
        producer.flush(30)
    finally:
        producer.close()


def consumer_config(
    cluster: Cluster,
    topic: str,
    client: str,
    partitions: list[int],
    index: int = 0,
    consumers: int = 1,
    warmup: float = 0.3,
    duration: float = 2.0,
    total: int = PARTITIONS,
) -> ConsumerConfig:
    return {
        "role": "consumer",
        "bootstrap": cluster.bootstrap,
        "topic": topic,
        "client": client,
        "warmup": warmup,
        "duration": duration,
        "partitions": partitions,
        "total_partitions": total,
        "consumer_index": index,
        "consumers": consumers,
    }


def start(agent: AgentHandle, lead_s: float = 0.2) -> int:
    agent.wait_for("ready", 60)
    t0_ns = time.time_ns() + int(lead_s * 1e9)
    agent.send({"cmd": "start", "t0_ns": t0_ns, "corrections": []})
    return t0_ns


def sleep_until(t_ns: int) -> None:
    time.sleep(max(0.0, (t_ns - time.time_ns()) / 1e9))


@pytest.mark.parametrize("client", ["confluent-kafka", "kafka-python"])
def test_consumer_reads_its_partitions_and_drains_the_acked_ones(
    cluster: Cluster, launcher: LocalAgentLauncher, client: str
) -> None:
    topic = new_topic(cluster, f"consumer-fields-{client}")
    mine = [0, 2]
    # a window long enough for a loaded host to produce every message inside it
    agent = launcher.launch(
        "consumer",
        consumer_config(cluster, topic, client, mine, index=1, consumers=2, duration=8.0),
    )
    try:
        t0_ns = start(agent)
        sleep_until(t0_ns + int(0.4e9))  # inside the measured window (from t0 + 0.3 s)
        # producer 1's seq 5 is never sent and was not acknowledged: not waited for;
        # producer 0's seq 7 was not acknowledged but arrives all the same
        sent = [(pid, seq) for seq in range(30) for pid in (0, 1) if (pid, seq) != (1, 5)]
        produce(cluster, topic, sent)
        sleep_until(t0_ns + int(8.5e9))  # the window is over
        agent.send(
            {
                "cmd": "drain",
                "stall_timeout": 10,
                "cap": 60,
                "expected": {
                    "0": {"sent": 30, "not_acked": [7]},
                    "1": {"sent": 30, "not_acked": [5]},
                },
            }
        )
        res = agent.wait_for("result", 60)
    finally:
        stop_agents([agent])
    ours = [(pid, seq) for pid, seq in sent if lane_of(pid, seq, PARTITIONS) in mine]
    assert (res["drain_stop"], res["drained"], res["drain_missing"]) == ("complete", True, 0)
    assert res["partitions"] == mine
    assert res["consumer_index"] == 1
    assert res["host"] == socket.gethostname()
    assert res["partition_received"] == {
        str(p): sum(1 for pid, seq in sent if lane_of(pid, seq, PARTITIONS) == p) for p in mine
    }
    # only its own lanes, every one of them, each tracker judging order per partition
    trackers = {int(pid): SequenceTracker.from_dict(t) for pid, t in res["trackers"].items()}
    assert set(trackers) == {0, 1}
    for pid, tracker in trackers.items():
        assert tracker.partitions == PARTITIONS
        assert {seq for seq in range(40) if tracker.has(seq)} == {
            seq for p, seq in ours if p == pid
        }
        assert tracker.duplicates == tracker.out_of_order == 0
    assert res["received_in_window"] == len(ours)  # all arrived while the window was open
    assert LatencyHistogram.decode(res["e2e"]).count == len(ours)
    assert 0.0 <= res["busy"] < 0.5  # a few dozen messages: it mostly waited
    assert 0.0 < res["cpu_share"] < 2.0
    assert res["lag_samples"] >= 1
    assert res["lag_end"] == 0  # it kept up
    assert res["lag_max"] >= 0


def test_drain_says_whether_it_stalled_or_hit_its_cap(
    cluster: Cluster, launcher: LocalAgentLauncher
) -> None:
    topic = new_topic(cluster, "consumer-drain-stop", partitions=1)
    produce(cluster, topic, [(0, seq) for seq in range(10)], partitions=1)
    # seq 10 was acknowledged (the producer says) but never arrives
    expected: dict[str, ExpectedSends] = {"0": {"sent": 11, "not_acked": []}}
    config = consumer_config(
        cluster, topic, "confluent-kafka", [0], warmup=0.0, duration=0.5, total=1
    )
    stalled = launcher.launch("stalled", config)
    capped = launcher.launch("capped", config)
    try:
        for agent in (stalled, capped):
            start(agent)
        time.sleep(1.0)
        began = time.monotonic()
        stalled.send({"cmd": "drain", "expected": expected, "stall_timeout": 1.5, "cap": 60})
        capped.send({"cmd": "drain", "expected": expected, "stall_timeout": 60, "cap": 1.5})
        results = [stalled.wait_for("result", 30), capped.wait_for("result", 30)]
        took = time.monotonic() - began
    finally:
        stop_agents([stalled, capped])
    assert [r["drain_stop"] for r in results] == ["stalled", "cap"]
    assert [r["drained"] for r in results] == [False, False]
    assert [r["drain_missing"] for r in results] == [1, 1]
    assert took < 10


def test_cpu_quota_makes_a_consumer_the_bottleneck(
    cluster: Cluster, launcher: LocalAgentLauncher
) -> None:
    """The helper the consumer_bound integration test uses: a consumer held to 2% of a core
    (a few thousand msg/s) is busy all through the window and lags, and its drain still
    completes while it progresses, however long after the stall timeout that is."""
    reason = quota_unavailable()
    if reason:
        pytest.skip(reason)
    topic = new_topic(cluster, "consumer-slow", partitions=1)
    # ~10k msg/s fit in 2% of a core: a backlog of several seconds at the drain, whatever
    # the host's load made of the window
    count = 80_000
    with CpuQuota(0.02) as quota:
        agent = launcher.launch(
            "slow",
            consumer_config(
                cluster, topic, "confluent-kafka", [0], warmup=0.0, duration=2.0, total=1
            ),
        )
        quota.add(agent.process.pid)
        try:
            t0_ns = start(agent, lead_s=0.5)
            sleep_until(t0_ns)
            produce(cluster, topic, [(0, seq) for seq in range(count)], partitions=1)
            sleep_until(t0_ns + int(2.2e9))
            agent.send(
                {
                    "cmd": "drain",
                    "expected": {"0": {"sent": count, "not_acked": []}},
                    "stall_timeout": 1.0,
                    "cap": 120,
                }
            )
            res = agent.wait_for("result", 150)
            throttled = quota.throttled_s(agent.process.pid)
        finally:
            stop_agents([agent])
    assert res["drain_stop"] == "complete", res["drain_missing"]
    assert res["drain_s"] > 1.0  # longer than the stall timeout, never cut off
    assert throttled > 0.5
    assert res["busy"] > 0.85  # starved of CPU: it could not have gone faster
    assert res["throttled"] > 0.5  # its quota ran out in most periods
    assert res["cpu_share"] < 0.1  # 2% of a core, and slack for the measure
    assert res["lag_max"] > 1000
    assert res["lag_end"] > 0
