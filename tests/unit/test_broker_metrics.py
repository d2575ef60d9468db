"""A real scrape of Kafka 4.4.0's JMX exporter (1.0.1, with kafka.exporter's config),
read into the figures the report needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_frida.kafka.exporter import INCLUDED, config_text
from pytest_frida.measure.broker_metrics import parse_scrape
from pytest_frida.measure.resources import summarise

DATA = Path(__file__).parent / "data"
SCRAPE = (DATA / "kafka-4.4.0-jmx-exporter-1.0.1.prom").read_text()
#: a broker with log.flush.interval.messages=1 under load: the flush timer served too
FLUSH_SCRAPE = (DATA / "kafka-4.4.0-jmx-exporter-1.0.1-flush.prom").read_text()


def test_a_real_scrape_gives_every_figure() -> None:
    figures = parse_scrape(SCRAPE)
    assert figures["handler_idle_ns"] == 2.2466287844e10
    assert figures["network_idle"] == pytest.approx(0.4292, abs=1e-4)
    assert figures["messages_in"] == 1011.0 and figures["bytes_in"] == 343740.0
    assert figures["produce_p99_ms"] == 8.0 and figures["fetch_p99_ms"] == 16.0
    assert figures["produce_local_p99_ms"] == pytest.approx(4.88)
    assert figures["under_replicated"] == 0.0 and figures["request_queue"] == 0.0
    # young and old pauses summed
    assert figures["gc_ms"] == 113.0
    # Yammer's Mean is sum/count: their product is the running sum
    assert figures["produce_time_ms_sum"] == pytest.approx(1.6102868447082097 * 1011)
    assert figures["produce_requests"] == 1011.0
    assert figures["produce_queue_ms_sum"] == pytest.approx(0.057368941641938676 * 1011)


def test_a_scrape_without_kafka_beans_gives_no_made_up_zeros() -> None:
    assert parse_scrape("# HELP x y\n# TYPE x gauge\nx 1.0\n") == {}
    # a concurrent collector's time runs beside the broker: not a pause
    assert parse_scrape('frida_gc_time_ms{gc="G1 Concurrent GC"} 500.0\n') == {}
    # a histogram without its count gives no running sum
    assert (
        parse_scrape(
            'frida_request_time_ms{part="TotalTimeMs",request="Produce",stat="Mean"} 2.0\n'
        )
        == {}
    )


def test_the_exporter_reads_only_the_beans_named() -> None:
    text = config_text()
    assert all(f'"{name}"' in text for name in INCLUDED)
    # every metric a rule names is one parse_scrape reads
    names = {line.split(": ", 1)[1] for line in text.splitlines() if "name: frida_" in line}
    assert names == {
        "frida_handler_idle_ns",
        "frida_network_idle",
        "frida_request_time_ms",
        "frida_request_queue",
        "frida_topic_$1",
        "frida_under_replicated",
        "frida_isr_shrinks",
        "frida_gc_time_ms",
        "frida_log_flush_ms",
    }


def test_idle_nanoseconds_become_the_handlers_idle_share() -> None:
    # a broker whose handlers were idle 0.25 s of each second (per thread, averaged)
    readings = [
        (
            float(t),
            {
                "handler_idle_ns": 0.25e9 * t,
                "produce_requests": 100.0 * t,
                "produce_time_ms_sum": 300.0 * t,
            },
        )
        for t in range(5)
    ]
    figures = summarise(readings, 0.0, 4.0)["figures"]
    assert figures["handler_idle"]["mean"] == pytest.approx(0.25)
    assert figures["produce_mean_ms"]["mean"] == pytest.approx(3.0)
    assert "produce_time_ms_sum" not in figures  # an ingredient, not a figure
    assert figures["produce_requests_per_s"]["mean"] == pytest.approx(100.0)


def test_a_real_scrape_of_a_flushing_broker_gives_the_flush_timer() -> None:
    figures = parse_scrape(FLUSH_SCRAPE)
    # the timer's Count and Mean only: its MeanRate (flushes/s, Kafka's own average) is
    # not taken for the mean time
    assert figures["log_flushes"] == 45053.0
    assert figures["log_flush_ms_sum"] == pytest.approx(45053.0 * 0.9102182903784263)
    assert figures["produce_local_ms_sum"] == pytest.approx(44948.0 * 2.0578223725193556)


def test_log_flushes_become_their_mean_time_and_the_share_of_append_time() -> None:
    # the exporter's lines for Kafka's log flush timer, as it serves them
    scrape = 'frida_log_flush_ms{stat="Count"} 400.0\nfrida_log_flush_ms{stat="Mean"} 1.5\n'
    assert parse_scrape(scrape) == {
        "log_flushes": 400.0,
        "log_flush_ms_sum": 600.0,
        "log_flush_s": 0.6,
    }
    # a broker flushing 200 times a second at 2 ms each, its produce requests appending
    # for 500 ms of each second: 80% of the appending was flushing
    readings = [
        (
            float(t),
            {
                "log_flushes": 200.0 * t,
                "log_flush_ms_sum": 400.0 * t,
                "log_flush_s": 0.4 * t,
                "produce_local_ms_sum": 500.0 * t,
                "produce_requests": 200.0 * t,
            },
        )
        for t in range(5)
    ]
    figures = summarise(readings, 0.0, 4.0)["figures"]
    assert figures["log_flushes_per_s"]["mean"] == pytest.approx(200.0)
    assert figures["log_flush_mean_ms"]["mean"] == pytest.approx(2.0)
    assert figures["flush_share"]["mean"] == pytest.approx(0.8)
    # 0.4 s of flushing in each second: 0.4 flushes in progress on average
    assert figures["flushing"]["mean"] == pytest.approx(0.4)
    assert "log_flush_ms_sum" not in figures  # an ingredient, not a figure


def test_a_broker_that_never_flushed_has_no_flush_time_made_up() -> None:
    readings = [
        (float(t), {"log_flushes": 3.0, "log_flush_ms_sum": 9.0, "produce_local_ms_sum": 50.0 * t})
        for t in range(4)
    ]
    figures = summarise(readings, 0.0, 3.0)["figures"]
    assert figures["flush_share"]["mean"] == 0.0
    # no flush in the window: no mean time per flush, rather than a zero
    assert "log_flush_mean_ms" not in figures
