"""What saturated: the attribution names the harness whenever it was the saturated party,
the most saturated broker resource otherwise, and says when the evidence is too thin."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.controller.verdicts import attribute_step
from pytest_frida.measure.attribution import attribute, first_saturation, usages
from pytest_frida.measure.result import StepResult


def broker(
    idle: float | None = None,
    cores: float | None = None,
    net_idle: float | None = None,
    flush: float | None = None,
    flushes: float = 2000.0,
    flushing: float = 0.0,
) -> dict[str, Any]:
    figures = {}
    if flush is not None:
        figures["flush_share"] = {"mean": flush, "max": flush}
        figures["log_flush_mean_ms"] = {"mean": 1.25, "max": 3.0}
        figures["log_flushes_per_s"] = {"mean": flushes, "max": flushes}
        figures["produce_requests_per_s"] = {"mean": 2000.0, "max": 2100.0}
        figures["flushing"] = {"mean": flushing, "max": flushing}
    if idle is not None:
        figures["handler_idle"] = {"mean": idle, "max": idle}
    if cores is not None:
        figures["cores"] = {"mean": cores, "max": cores}
    if net_idle is not None:
        figures["network_idle"] = {"mean": net_idle, "max": net_idle}
    return {"figures": figures}


def disk(busy: float, flushes: float = 0.0) -> dict[str, Any]:
    return {
        "figures": {
            "disk_busy": {"mean": busy, "max": busy},
            "disk_flushes_per_s": {"mean": flushes, "max": flushes},
        }
    }


def host(busy: float) -> dict[str, Any]:
    return {"figures": {"host_busy": {"mean": busy, "max": busy}}}


def test_busy_request_handlers_are_named() -> None:
    found = usages(
        {"broker-0": broker(idle=0.03, cores=0.9), "disk": disk(0.1), "host": host(0.7)},
        2,
        True,
        0.3,
        0.4,
    )
    result = attribute(found, withheld_for_harness=False)
    assert result["party"] == "broker"
    assert result["resource"] == "broker-0 request handlers"
    assert result["sentence"].startswith("broker-0 request handlers 97% busy")


def test_handlers_busy_flushing_the_log_name_the_disk() -> None:
    # log.flush.interval.messages=1: the handlers wait on fsync, the CPU has room
    found = usages(
        {"broker-0": broker(idle=0.0, cores=0.5, flush=0.9), "disk": disk(0.3, 2400)},
        2,
        True,
        0.2,
        0.1,
    )
    result = attribute(found, withheld_for_harness=False)
    assert result["party"] == "disk"
    assert result["resource"] == "broker-0 request handlers flushing to disk"
    assert result["sentence"].startswith(
        "broker-0 request handlers flushing to disk 100% busy, 90% of the produce requests'"
        " append time in log flushes (fsync, 1.25 ms each)"
    )


def test_many_handlers_queued_behind_one_partitions_flushes_name_the_disk() -> None:
    # one partition, eight handlers: the flushes are an eighth of the append time, the
    # rest is waiting for the partition's lock, which is flushing 90% of the time
    sources = {"broker-0": broker(idle=0.0, cores=0.5, flush=0.12, flushing=0.9)}
    result = attribute(usages(sources, 2, True, 0.2, 0.1, partition_logs=1), False)
    assert result["party"] == "disk"
    assert "its 1 partition log flushing 90% of the time" in result["sentence"]
    # the partitions not known: the share alone, under its bar, names the handlers
    result = attribute(usages(sources, 2, True, 0.2, 0.1), False)
    assert result["resource"] == "broker-0 request handlers"
    # spread over six partitions, 0.9 flushes in progress keep each busy 15%
    result = attribute(usages(sources, 2, True, 0.2, 0.1, partition_logs=6), False)
    assert result["party"] == "broker"


def test_handlers_busy_computing_are_not_blamed_on_flushes() -> None:
    # a background flush now and then: a small share of the append time
    found = usages({"broker-0": broker(idle=0.05, cores=0.9, flush=0.1)}, 2, True, 0.2, 0.1)
    result = attribute(found, withheld_for_harness=False)
    assert (result["party"], result["resource"]) == ("broker", "broker-0 request handlers")


def test_the_metadata_logs_flushes_beside_a_light_load_are_not_the_disk() -> None:
    # Kafka's defaults: a few metadata flushes a second, a large share of short appends;
    # handlers busy at a cold start are held up, not flushing
    found = usages(
        {"broker-0": broker(idle=0.05, cores=0.1, flush=0.4, flushes=6.0)}, 2, True, 0.1, 0.1
    )
    result = attribute(found, withheld_for_harness=False)
    assert (result["party"], result["resource"]) == ("broker", "broker-0 request handlers")
    assert "held up" in result["sentence"]


def test_flushing_handlers_on_a_host_out_of_cpu_leave_the_host_named() -> None:
    found = usages(
        {"broker-0": broker(idle=0.0, cores=0.7, flush=0.8), "host": host(0.99)},
        2,
        True,
        0.5,
        0.2,
        harness_cores=(1.0, 0.2),
    )
    assert attribute(found, withheld_for_harness=False)["party"] == "host"


def test_handlers_busy_on_an_idle_cpu_are_said_to_be_held_up() -> None:
    # a cold broker in a container: handlers 96% occupied, 0.03 cores used
    found = usages({"broker-0": broker(idle=0.04, cores=0.03)}, 2, True, 0.1, 0.1)
    assert attribute(found, False)["sentence"] == (
        "broker-0 request handlers 96% busy while the broker used 0.03 cores: held up (a"
        " lock, the disk, a cold start), not computing"
    )


def test_a_busy_disk_is_named_over_idle_handlers() -> None:
    found = usages(
        {"broker-0": broker(idle=0.6, cores=0.3), "disk": disk(0.95, 1800)}, 2, True, 0.2, 0.2
    )
    result = attribute(found, False)
    assert result["party"] == "disk" and "1800 flushes/s" in result["sentence"]


def test_a_saturated_consumer_is_the_harness_whatever_the_broker_shows() -> None:
    found = usages({"broker-0": broker(idle=0.02)}, 2, True, 0.3, 0.97)
    result = attribute(found, withheld_for_harness=False)
    assert result["party"] == "harness"
    assert result["resource"] == "consumer agents"
    assert result["sentence"].startswith("the harness, not the broker")
    assert "broker-0 request handlers" in result["sentence"]  # said, but as "also"


def test_a_verdict_withheld_for_the_harness_never_names_the_broker() -> None:
    found = usages({"broker-0": broker(idle=0.0)}, 2, True, 0.5, 0.5)
    assert attribute(found, withheld_for_harness=True)["party"] == "harness"


def test_a_shared_host_cpu_is_named_only_without_a_broker_resource() -> None:
    found = usages({"broker-0": broker(idle=0.5, cores=1.0), "host": host(0.96)}, 2, True, 0.5, 0.5)
    result = attribute(found, False)
    assert result["party"] == "host" and "shared by broker and harness" in result["sentence"]
    split = usages(
        {"broker-0": broker(idle=0.5, cores=0.7), "host": host(0.96)},
        2,
        True,
        0.3,
        0.2,
        harness_cores=(1.02, 0.19),
    )
    assert attribute(split, False)["sentence"] == (
        "host CPU 96% busy of 2 cores, shared by broker and harness (cores: broker-0 0.70,"
        " producer agents 1.02, consumers 0.19); no broker resource measured was saturated"
        " on its own"
    )
    # a host of its own (hosts, Grid'5000) is not a shared ceiling
    assert all(u.party != "host" for u in usages({"host": host(0.99)}, 2, False, None, None))


def test_network_threads_are_never_named() -> None:
    # Kafka's one-minute average reaches back before the step and starts from zero
    found = usages({"broker-0": broker(idle=0.9, net_idle=0.01)}, 2, True, 0.1, 0.1)
    assert all("network" not in u.name for u in found)


def test_nothing_saturated_is_inconclusive_and_says_what_came_closest() -> None:
    found = usages({"broker-0": broker(idle=0.4, cores=0.6)}, 2, True, 0.3, 0.2)
    result = attribute(found, False)
    assert result["party"] is None
    assert result["sentence"] == (
        "inconclusive: nothing measured was saturated (closest: broker-0 request handlers 60% busy)"
    )
    assert attribute([], False) == {}


def test_the_first_saturation_is_at_the_fewest_producers() -> None:
    steps: list[tuple[int, dict[str, str | None]]] = [
        (40, {"party": "broker", "resource": "broker-0 CPU"}),
        (20, {"party": None, "resource": None}),
        (30, {"party": "disk", "resource": "data disk"}),
    ]
    assert first_saturation(steps) == "data disk saturated first, from 30 producers"
    assert first_saturation([(5, {"party": None})]) is None


def test_one_disturbed_step_does_not_make_its_count_the_first_saturated() -> None:
    # a cold broker's first step at 1 producer, then two calm ones at that count
    cold: dict[str, str | None] = {"party": "broker", "resource": "broker-0 request handlers"}
    calm: dict[str, str | None] = {"party": None, "resource": None}
    steps: list[tuple[int, dict[str, str | None]]] = [
        (1, cold),
        (1, calm),
        (1, calm),
        (5, calm),
        (20, {"party": "host", "resource": "host CPU"}),
        (20, {"party": "host", "resource": "host CPU"}),
        (20, calm),
    ]
    assert first_saturation(steps) == "host CPU saturated first, from 20 producers"


shares = st.floats(0.0, 1.0)


@given(shares, shares, shares, shares, shares, st.booleans())
def test_a_saturated_harness_is_always_the_party_named(
    idle: float,
    disk_busy: float,
    host_busy: float,
    generator: float,
    consumer: float,
    withheld: bool,
) -> None:
    found = usages(
        {"broker-0": broker(idle=idle), "disk": disk(disk_busy), "host": host(host_busy)},
        2,
        True,
        generator,
        consumer,
    )
    result = attribute(found, withheld)
    if withheld or max(generator, consumer) >= 0.85:
        assert result["party"] == "harness"
    else:
        assert result["party"] != "harness"


def test_a_saturated_shared_host_is_named_over_broker_figures() -> None:
    # handlers "busy" at 90% on a host whose CPU the harness shares and has run out
    found = usages(
        {"broker-0": broker(idle=0.1, cores=0.7), "host": host(0.99)},
        2,
        True,
        0.4,
        0.3,
        harness_cores=(1.0, 0.2),
    )
    result = attribute(found, False)
    assert result["party"] == "host"
    assert (
        "the broker's own figures include waiting for that CPU: broker-0 request"
        " handlers 90% busy" in result["sentence"]
    )


def test_a_step_whose_agents_never_reported_names_no_broker_part() -> None:
    found = usages({"broker-0": broker(idle=0.05, cores=0.9)}, 2, True, None, None)
    result = attribute(found, False, harness_measured=False)
    assert result["party"] is None and result["harness_measured"] is False
    assert result["sentence"].startswith("inconclusive: the harness was not measured")
    # nor does it make its count the first saturated
    assert first_saturation([(8, result), (16, {"party": None})]) is None


def test_brokers_on_cores_of_their_own_are_measured_against_those_cores() -> None:
    # one core of the brokers' own, used to 0.97: the broker's CPU, not a shared host
    found = usages(
        {"broker-0": broker(idle=0.5, cores=0.97), "host": host(0.99)},
        2,
        False,
        0.4,
        0.3,
        harness_cores=(0.8, 0.1),
        broker_cores=1,
    )
    result = attribute(found, False)
    assert result["party"] == "broker" and result["resource"] == "broker CPU"
    assert result["sentence"].startswith(
        "broker CPU 97% of the 1 cores the brokers have to themselves (0.97 cores)"
    )
    # two brokers share the pinned cores: together, not each against the host
    together = usages(
        {"broker-0": broker(cores=0.9), "broker-1": broker(cores=0.95)},
        4,
        False,
        0.1,
        0.1,
        broker_cores=2,
    )
    assert [u.name for u in together if u.party == "broker"] == ["broker CPU"]
    assert together[0].utilisation == pytest.approx(0.925)
    # the harness short of its own cores is still the harness
    starved = usages({"broker-0": broker(idle=0.7, cores=0.3)}, 2, False, 0.99, 0.2, broker_cores=1)
    assert attribute(starved, False)["party"] == "harness"


def split_host(broker_cores_busy: float, harness_cores_busy: float) -> dict[str, Any]:
    return {
        "figures": {
            "broker_cores_busy": {"mean": broker_cores_busy},
            "harness_cores_busy": {"mean": harness_cores_busy},
        }
    }


def test_the_brokers_cores_taken_by_other_work_are_not_the_brokers_limit() -> None:
    # the broker used 0.69 of its core, which was full: the rest was not Kafka's
    found = usages(
        {"broker-0": broker(idle=0.5, cores=0.69), "host": split_host(0.98, 0.6)},
        2,
        False,
        0.2,
        0.05,
        harness_cores=(0.6, 0.06),
        broker_cores=1,
    )
    result = attribute(found, False)
    assert result["party"] == "host" and result["resource"] == "the brokers' cores"
    assert "the brokers using 69% of them: other work ran there" in result["sentence"]
    # a broker that filled its cores itself is the broker's CPU, not "other work"
    busy = usages(
        {"broker-0": broker(idle=0.5, cores=0.97), "host": split_host(0.99, 0.5)},
        2,
        False,
        0.2,
        0.05,
        broker_cores=1,
    )
    assert attribute(busy, False)["resource"] == "broker CPU"
    assert all(u.name != "the brokers' cores" for u in busy)


def test_the_harness_cores_running_out_is_the_harness() -> None:
    found = usages(
        {"broker-0": broker(idle=0.3, cores=0.7), "host": split_host(0.75, 0.99)},
        2,
        False,
        0.6,
        0.1,
        harness_cores=(0.85, 0.1),
        broker_cores=1,
    )
    result = attribute(found, False)
    assert result["party"] == "harness" and result["resource"] == "the harness's cores"
    assert "(producer agents 0.85 cores, consumers 0.10)" in result["sentence"]


def test_a_broker_node_shared_with_the_consumer_names_its_cpu_not_the_broker() -> None:
    # hosts/Grid'5000: the consumer runs on broker-0's node unless it has a node of its own
    sources = {"broker-0": broker(idle=0.1, cores=2.2), "host uvb-9": host(0.99)}
    sources["broker-0"]["figures"]["node_cores"] = {"mean": 4.0}
    found = usages(sources, None, False, 0.3, 0.4, shared_nodes=frozenset({"uvb-9"}))
    result = attribute(found, False)
    assert result["party"] == "host" and result["resource"] == "the CPU of uvb-9"
    assert "the broker's own figures include waiting for that CPU" in result["sentence"]
    # a node of its own is no shared ceiling: the broker's handlers are named
    alone = attribute(usages(sources, None, False, 0.3, 0.4), False)
    assert alone["resource"] == "broker-0 request handlers"


def test_other_work_on_the_brokers_cores_is_named_only_when_it_took_a_real_share() -> None:
    close = usages(
        {"broker-0": broker(idle=0.05, cores=0.84), "host": split_host(0.86, 0.5)},
        2,
        False,
        0.2,
        0.1,
        broker_cores=1,
    )
    assert all(u.name != "the brokers' cores" for u in close)
    assert attribute(close, False)["resource"] == "broker-0 request handlers"


def test_full_brokers_cores_are_named_when_the_brokers_own_share_stays_below_the_ceiling() -> None:
    # cores 94% busy, 80% the broker's: others took 14%, the cores ran out all the same
    found = usages(
        {"broker-0": broker(idle=0.5, cores=0.80), "host": split_host(0.94, 0.5)},
        2,
        False,
        0.2,
        0.1,
        broker_cores=1,
    )
    result = attribute(found, False)
    assert result["resource"] == "broker CPU" and result["utilisation"] == 0.94
    assert "which were 94% busy (0.80 cores the brokers')" in result["sentence"]


def _flushing_step(partitions: int, brokers: int, shape: dict[str, Any]) -> StepResult:
    """A step whose brokers flushed every append, 1.5 flushes in progress on each."""
    step = StepResult(
        test="t",
        producers=8,
        rate_per_producer=250,
        duration_s=6,
        warmup_s=2,
        message_size=100,
        partitions=partitions,
        slo="p99<=500ms",
        verdict="fail",
        shape=shape,
    )
    step.generators = [{"cpu_share": 0.3}]
    step.consumers = [{"cpu_share": 0.1, "busy": 0.1}]
    sources = {
        f"broker-{i}": broker(idle=0.0, cores=0.4, flush=0.1, flushing=1.5) for i in range(brokers)
    }
    step.resources = {"sources": sources, "host_cores": 2, "units": {}}
    return step


@pytest.mark.parametrize(
    ("partitions", "brokers", "shape", "party"),
    [
        # one broker, three partitions: each log flushing half the time
        (3, 1, {}, "disk"),
        # three brokers, three copies of six partitions: six logs each, a quarter each
        (6, 3, {}, "broker"),
        # a shape with one copy over three brokers: two logs each, 75% each
        (6, 3, {"brokers": 3, "replication": 1}, "disk"),
    ],
)
def test_a_steps_logs_per_broker_come_from_its_partitions_and_copies(
    partitions: int, brokers: int, shape: dict[str, Any], party: str
) -> None:
    step = _flushing_step(partitions, brokers, shape)
    attribute_step(step, None, frozenset())
    assert step.attribution["party"] == party, step.attribution
