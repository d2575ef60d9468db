"""A real scrape of Kafka 4.4.0's JMX exporter (1.0.1, with kafka.exporter's config),
read into the figures the report needs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytest_frida.kafka.exporter import INCLUDED, config_text
from pytest_frida.measure.broker_metrics import parse_scrape
from pytest_frida.measure.resources import summarise

SCRAPE = (Path(__file__).parent / "data" / "kafka-4.4.0-jmx-exporter-1.0.1.prom").read_text()


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
