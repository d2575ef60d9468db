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
    assert figures["handler_idle_ns"] == 20034558295.0
    assert figures["network_idle"] == pytest.approx(0.4027, abs=1e-4)
    assert figures["messages_in"] == 880.0 and figures["bytes_in"] == 299200.0
    assert figures["produce_p99_ms"] == pytest.approx(5.19, abs=0.01)
    assert figures["under_replicated"] == 0.0 and figures["request_queue"] == 0.0
    # young and old pauses summed; a concurrent collector's time would not be a pause
    assert figures["gc_ms"] == 87.0
    # Yammer's Mean is sum/count: their product is the running sum (1.4875 ms x 880)
    assert figures["produce_time_ms_sum"] == pytest.approx(1309.0)
    assert figures["produce_requests"] == 880.0


def test_a_scrape_without_kafka_beans_gives_no_made_up_zeros() -> None:
    assert parse_scrape("# HELP x y\n# TYPE x gauge\nx 1.0\n") == {}
    concurrent = ('java_lang_G1_Concurrent_GC_CollectionTime{type="GarbageCollector"} 500.0\n')
    assert parse_scrape(concurrent) == {}


def test_the_exporter_reads_only_the_beans_named() -> None:
    text = config_text()
    assert all(f'"{name}"' in text for name in INCLUDED)
    assert "rules" not in text  # the default format, which parse_scrape expects


def test_idle_nanoseconds_become_the_handlers_idle_share() -> None:
    # a broker whose handlers were idle 0.25 s of each second (per thread, averaged)
    readings = [(float(t), {"handler_idle_ns": 0.25e9 * t, "produce_requests": 100.0 * t,
                            "produce_time_ms_sum": 300.0 * t}) for t in range(5)]
    figures = summarise(readings, 0.0, 4.0)["figures"]
    assert figures["handler_idle"]["mean"] == pytest.approx(0.25)
    assert figures["produce_mean_ms"]["mean"] == pytest.approx(3.0)
    assert "produce_time_ms_sum" not in figures  # an ingredient, not a figure
    assert figures["produce_requests_per_s"]["mean"] == pytest.approx(100.0)
