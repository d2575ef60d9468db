"""The local site's broker lifecycle and its errors, on a real Kafka."""

from __future__ import annotations

import shutil
import signal
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from helpers.leaks import frida_temp_dirs, kafka_pids

from pytest_frida.config import build_settings
from pytest_frida.kafka import commands
from pytest_frida.kafka.errors import KafkaSetupError
from pytest_frida.kafka.readiness import describe_brokers
from pytest_frida.sites.local import LocalSite


def test_three_broker_cluster_starts_answers_and_stops(tmp_path: Path, leak_check: None) -> None:
    site = LocalSite(build_settings({"brokers": "3"}, {}).cluster, tmp_path)
    try:
        cluster = site.start()
        assert describe_brokers(cluster.bootstrap) == [0, 1, 2]
        assert all(b.host == "127.0.0.1" for b in cluster.brokers)
        ports = [b.port for b in cluster.brokers]
    finally:
        site.stop()
    for port in ports:
        with (
            pytest.raises(ConnectionRefusedError),
            socket.create_connection(("127.0.0.1", port), timeout=1),
        ):
            pass
    for node in range(3):
        assert (tmp_path / "logs" / f"broker-{node}" / "server.log").exists()
    site.stop()  # idempotent


def test_bad_kafka_home_is_a_clear_error(tmp_path: Path) -> None:
    site = LocalSite(build_settings({"kafka-home": str(tmp_path / "nope")}, {}).cluster, tmp_path)
    with pytest.raises(KafkaSetupError, match="has no libs/ directory"):
        site.start()
    site.stop()


def test_java_too_old_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_home = tmp_path / "jdk8"
    (fake_home / "bin").mkdir(parents=True)
    java = fake_home / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'java version \"1.8.0_392\"' >&2\n")
    java.chmod(0o755)
    monkeypatch.setenv("JAVA_HOME", str(fake_home))
    site = LocalSite(build_settings({}, {}).cluster, tmp_path)
    with pytest.raises(KafkaSetupError, match=r"needs Java 17 or later.*1\.8\.0_392"):
        site.start()
    site.stop()


def test_interrupt_while_formatting_leaves_no_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the storage tool runs: the tool must not outlive the start, or it
    writes the data directory again after stop() removed it (CI saw one left behind)."""
    real = commands.format_storage

    def delayed(java: Path, dist: Any, properties: Path, *args: Any) -> list[str]:
        # the real tool, a second late, with its configuration already read (a copy the
        # site's cleanup does not remove): what a slow JVM looks like when Ctrl-C comes
        kept = tmp_path / f"read-by-tool-{properties.parent.name}.properties"
        shutil.copy(properties, kept)
        return ["sh", "-c", 'sleep 1.5; exec "$@"', "sh", *real(java, dist, kept, *args)]

    monkeypatch.setattr(commands, "format_storage", delayed)
    before_pids, before_dirs = kafka_pids(), frida_temp_dirs()

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGALRM, interrupt)
    site = LocalSite(build_settings({}, {}).cluster, tmp_path)
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.5)  # the tool is sleeping, not yet writing
        with pytest.raises(KeyboardInterrupt):
            site.start()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        site.stop()
    time.sleep(4)  # long past the moment a surviving tool would have formatted
    assert not frida_temp_dirs() - before_dirs
    assert not kafka_pids() - before_pids
