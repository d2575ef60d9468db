"""Reading `java -version` and checking the runtime is recent enough."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_frida.kafka.errors import KafkaSetupError
from pytest_frida.kafka.java import (
    find_java,
    java_runtime,
    parse_java_version,
    required_java_major,
    too_old,
)

OPENJDK_17 = """openjdk version "17.0.15" 2025-04-15
OpenJDK Runtime Environment (build 17.0.15+6-Ubuntu-0ubuntu124.04)
OpenJDK 64-Bit Server VM (build 17.0.15+6-Ubuntu-0ubuntu124.04, mixed mode, sharing)
"""
JAVA_8 = """java version "1.8.0_392"
Java(TM) SE Runtime Environment (build 1.8.0_392-b08)
Java HotSpot(TM) 64-Bit Server VM (build 25.392-b08, mixed mode)
"""
OPENJDK_21 = """openjdk version "21" 2023-09-19
OpenJDK Runtime Environment (build 21+35-2513)
OpenJDK 64-Bit Server VM (build 21+35-2513, mixed mode, sharing)
"""
OPENJDK_11 = """openjdk version "11.0.2" 2019-01-15
OpenJDK Runtime Environment 18.9 (build 11.0.2+9)
OpenJDK 64-Bit Server VM 18.9 (build 11.0.2+9, mixed mode)
"""
WITH_TOOL_OPTIONS = "Picked up JAVA_TOOL_OPTIONS: -Xmx1g\n" + OPENJDK_17


@pytest.mark.parametrize(
    ("output", "major", "full"),
    [
        (OPENJDK_17, 17, "17.0.15"),
        (JAVA_8, 8, "1.8.0_392"),
        (OPENJDK_21, 21, "21"),
        (OPENJDK_11, 11, "11.0.2"),
        (WITH_TOOL_OPTIONS, 17, "17.0.15"),
        ('openjdk version "25-ea" 2025-09-16\n', 25, "25-ea"),
    ],
)
def test_parse_java_version(output, major, full):
    assert parse_java_version(output) == (major, full)


@pytest.mark.parametrize(
    "garbage",
    ["", "bash: java: command not found", 'version "abc"', "Error: could not create the VM"],
)
def test_parse_java_version_garbage(garbage):
    with pytest.raises(KafkaSetupError, match="cannot read a Java version"):
        parse_java_version(garbage)


@pytest.mark.parametrize(
    ("kafka", "java"), [("4.4.0", 17), ("4.0.0", 17), ("5.0.1", 17), ("3.9.0", 11), ("3.3.2", 11)]
)
def test_required_java_major(kafka, java):
    assert required_java_major(kafka) == java


def test_java_home_without_bin_java(tmp_path, monkeypatch):
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(KafkaSetupError) as info:
        java_runtime("4.4.0")
    assert f"JAVA_HOME={tmp_path}" in str(info.value)
    assert "bin/java" in str(info.value)


def test_no_java_anywhere(tmp_path, monkeypatch):
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(KafkaSetupError, match="no Java runtime found"):
        find_java()


def fake_java_home(root: Path, output: str) -> Path:
    """A JAVA_HOME whose bin/java prints `output` on stderr, as the real one does."""
    (root / "bin").mkdir(parents=True)
    java = root / "bin" / "java"
    java.write_text(f"#!/bin/sh\ncat >&2 <<'EOF'\n{output}EOF\n")
    java.chmod(0o755)
    return java


def test_java_runtime_with_a_recent_enough_java(tmp_path, monkeypatch):
    java = fake_java_home(tmp_path, OPENJDK_11)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    assert find_java() == java
    runtime = java_runtime("3.9.0")
    assert (runtime.executable, runtime.major, runtime.version) == (java, 11, "11.0.2")


@pytest.mark.parametrize(
    ("output", "kafka", "need"), [(OPENJDK_11, "4.4.0", 17), (JAVA_8, "3.9.0", 11)]
)
def test_java_runtime_too_old(tmp_path, monkeypatch, output, kafka, need):
    java = fake_java_home(tmp_path, output)
    monkeypatch.setenv("JAVA_HOME", str(tmp_path))
    with pytest.raises(KafkaSetupError) as info:
        java_runtime(kafka)
    message = str(info.value)
    assert f"Kafka {kafka} needs Java {need} or later" in message
    assert str(java) in message


def test_java_on_path_is_used_without_java_home(tmp_path, monkeypatch):
    java = fake_java_home(tmp_path, OPENJDK_21)
    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", str(java.parent) + os.pathsep + os.environ.get("PATH", ""))
    assert find_java() == java
    assert java_runtime("4.4.0").major == 21


def test_key_line_is_the_exception_of_the_first_error() -> None:
    from pytest_frida.kafka.errors import key_line

    log = """[t] INFO starting
[t] ERROR Unable to start acceptor for PLAINTEXT (kafka.network.DataPlaneAcceptor)
org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:1: \
Address already in use.
\tat kafka.network.Acceptor.openServerSocket(SocketServer.scala:736)
Caused by: java.net.BindException: Address already in use
[t] ERROR [BrokerServer id=0] Fatal error during broker startup. Prepare to shutdown
java.lang.RuntimeException: Received a fatal error
"""
    assert key_line(log) == (
        "org.apache.kafka.common.KafkaException: Socket server failed to bind to 127.0.0.1:1:"
        " Address already in use."
    )
    assert (
        key_line("a\nCaused by: java.io.IOException: disk\n\tat x") == "java.io.IOException: disk"
    )
    assert key_line("just a line") == "just a line"
    assert key_line("") == "(no log)"


def test_a_nodes_java_too_old_for_the_kafka_is_named() -> None:
    debian11 = 'openjdk version "11.0.20" 2023-07-18\nOpenJDK Runtime Environment (build ...)'
    assert too_old("4.4.0", debian11, "uvb-9") == (
        "uvb-9 has Java 11.0.20; Kafka 4.4.0 needs Java 17 or later"
    )
    assert too_old("3.9.1", debian11, "uvb-9") is None
    assert too_old("4.4.0", 'openjdk version "17.0.15" 2025-04-15', "uvb-9") is None
