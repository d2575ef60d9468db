"""Command lines that run Kafka from its jars: format storage, start a server, run a tool.

They are plain argv lists so any runtime (local process, SSH, container) can run them.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from pytest_frida.kafka.distribution import KafkaDistribution

DEFAULT_HEAP = "1G"
_JVM_FLAGS = (
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)


def _logging_flag(dist: KafkaDistribution, config: Path) -> str:
    key = "log4j2.configurationFile" if dist.uses_log4j2 else "log4j.configuration"
    value = str(config) if dist.uses_log4j2 else f"file:{config}"
    return f"-D{key}={value}"


def format_storage(
    java: Path, dist: KafkaDistribution, properties: Path, cluster_id: str, log4j: Path
) -> list[str]:
    """`kafka-storage format` for a static quorum (no --standalone)."""
    return [
        str(java),
        "-Xmx256m",
        _logging_flag(dist, log4j),
        "-cp",
        dist.classpath,
        "kafka.tools.StorageTool",
        "format",
        "-t",
        cluster_id,
        "-c",
        str(properties),
        "--ignore-formatted",
    ]


def kafka_server(
    java: Path,
    dist: KafkaDistribution,
    properties: Path,
    log4j: Path,
    heap: str = DEFAULT_HEAP,
    extra_flags: Sequence[str] = (),
) -> list[str]:
    """The broker JVM, as bin/kafka-server-start.sh would run it (`extra_flags`: JVM flags
    such as a java agent)."""
    return [
        str(java),
        f"-Xms{heap}",
        f"-Xmx{heap}",
        *_JVM_FLAGS,
        *extra_flags,
        _logging_flag(dist, log4j),
        "-cp",
        dist.classpath,
        "kafka.Kafka",
        str(properties),
    ]


def kafka_tool(java: Path, dist: KafkaDistribution, main_class: str, *args: str) -> list[str]:
    """One of Kafka's own tools (ProducerPerformance, EndToEndLatency, ...)."""
    return [str(java), "-Xmx512m", "-cp", dist.classpath, main_class, *args]
