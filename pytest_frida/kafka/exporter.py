"""Kafka's own metrics per broker, through the Prometheus JMX exporter java agent.

The agent (io.prometheus.jmx:jmx_prometheus_javaagent, from Maven Central into the same
cache as the Kafka jars) runs inside the broker's JVM and serves the MBeans named in
`INCLUDED` over HTTP on loopback. Only those MBeans are read at each scrape: a scrape of
every MBean of a broker with many topics costs the broker itself real CPU.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

from pytest_frida.kafka.distribution import cache_dir, cache_lock
from pytest_frida.kafka.errors import KafkaSetupError, key_line

EXPORTER_VERSION = "1.0.1"
EXPORTER_ARTIFACT = f"io.prometheus.jmx:jmx_prometheus_javaagent:{EXPORTER_VERSION}"
_MAVEN_TIMEOUT_S = 300
#: where frida/kafka holds the agent and its config (stacks/images/kafka/run starts it when
#: FRIDA_METRICS_PORT is set), so swarm brokers on any node serve the same figures
IMAGE_DIR = "/opt/jmx-exporter"
IMAGE_JAR = "jmx_prometheus_javaagent.jar"
IMAGE_CONFIG = "config.yml"
#: the port the exporter serves on inside a container
CONTAINER_PORT = 9404

#: the MBeans read at each scrape (measure.broker_metrics says what each becomes)
INCLUDED = (
    # the broker pool's own meter: a combined node's aggregate one counts the controller's
    # handlers too (KIP-1207: divided by both pools' threads from Kafka 4.2, mixed before)
    "kafka.server:type=KafkaRequestHandlerPool,name=BrokerRequestHandlerAvgIdlePercent",
    "kafka.network:type=SocketServer,name=NetworkProcessorAvgIdlePercent",
    "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=Produce",
    "kafka.network:type=RequestMetrics,name=RequestQueueTimeMs,request=Produce",
    "kafka.network:type=RequestMetrics,name=LocalTimeMs,request=Produce",
    "kafka.network:type=RequestMetrics,name=RemoteTimeMs,request=Produce",
    "kafka.network:type=RequestMetrics,name=ResponseSendTimeMs,request=Produce",
    "kafka.network:type=RequestMetrics,name=TotalTimeMs,request=FetchConsumer",
    "kafka.network:type=RequestChannel,name=RequestQueueSize",
    "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec",
    "kafka.server:type=BrokerTopicMetrics,name=BytesOutPerSec",
    "kafka.server:type=BrokerTopicMetrics,name=MessagesInPerSec",
    "kafka.server:type=ReplicaManager,name=UnderReplicatedPartitions",
    "kafka.server:type=ReplicaManager,name=IsrShrinksPerSec",
    # every log segment flush (fsync of the log and its indexes), wherever it runs: in a
    # produce request's append with log.flush.interval.messages=1, in the background else
    "kafka.log:type=LogFlushStats,name=LogFlushRateAndTimeMs",
    "java.lang:type=GarbageCollector,name=*",
)


#: what the exporter serves: each rule turns one attribute of the beans above into a
#: metric named by us (measure.broker_metrics reads these names); an attribute no rule
#: matches is not served, which keeps a scrape to about a hundred lines
RULES: tuple[tuple[str, str, dict[str, str]], ...] = (
    (
        "kafka.server<type=KafkaRequestHandlerPool, name=BrokerRequestHandlerAvgIdlePercent>"
        "<>Count",
        "frida_handler_idle_ns",
        {},
    ),
    (
        "kafka.network<type=SocketServer, name=NetworkProcessorAvgIdlePercent><>Value",
        "frida_network_idle",
        {},
    ),
    (
        "kafka.network<type=RequestMetrics, name=(\\w+), request=(\\w+)>"
        "<>(99thPercentile|Mean|Count)",
        "frida_request_time_ms",
        {"part": "$1", "request": "$2", "stat": "$3"},
    ),
    ("kafka.network<type=RequestChannel, name=RequestQueueSize><>Value", "frida_request_queue", {}),
    ("kafka.server<type=BrokerTopicMetrics, name=(\\w+)PerSec><>Count", "frida_topic_$1", {}),
    (
        "kafka.server<type=ReplicaManager, name=UnderReplicatedPartitions><>Value",
        "frida_under_replicated",
        {},
    ),
    ("kafka.server<type=ReplicaManager, name=IsrShrinksPerSec><>Count", "frida_isr_shrinks", {}),
    (
        "kafka.log<type=LogFlushStats, name=LogFlushRateAndTimeMs><>(Count|Mean):",
        "frida_log_flush_ms",
        {"stat": "$1"},
    ),
    (
        "java.lang<name=(.+), type=GarbageCollector><>CollectionTime",
        "frida_gc_time_ms",
        {"gc": "$1"},
    ),
)


def config_text() -> str:
    """The exporter's YAML: only the included MBeans, only the attributes RULES name."""
    names = "".join(f'  - "{name}"\n' for name in INCLUDED)
    rules = ""
    for pattern, name, labels in RULES:
        # cache: a bean attribute's match is remembered (no pattern here reads a value)
        rules += f"  - pattern: '{pattern}'\n    name: {name}\n    type: UNTYPED\n    cache: true\n"
        if labels:
            rules += "    labels:\n" + "".join(f'      {k}: "{v}"\n' for k, v in labels.items())
    return f"lowercaseOutputName: false\nincludeObjectNames:\n{names}rules:\n{rules}"


def resolve_agent() -> Path:
    """The agent's jar, fetched with Maven once into the cache."""
    target = cache_dir() / f"jmx-exporter-{EXPORTER_VERSION}"
    jar = target / f"jmx_prometheus_javaagent-{EXPORTER_VERSION}.jar"
    if jar.is_file():
        return jar
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaSetupError(
            f"the JMX exporter {EXPORTER_VERSION} is not in the cache {target.parent} and"
            " Maven (`mvn`) is not on PATH to fetch it; install Maven, or turn the broker"
            " metrics off with --frida-monitor=off"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with cache_lock(target.parent / f"jmx-exporter-{EXPORTER_VERSION}.lock"):
        if jar.is_file():
            return jar
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        cmd = [
            mvn,
            "-B",
            "-q",
            "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
            f"-Dartifact={EXPORTER_ARTIFACT}",
            f"-DoutputDirectory={staging}",
        ]
        started = time.monotonic()
        try:
            proc = subprocess.run(
                cmd,
                capture_output=True,
                text=True,
                check=False,
                timeout=_MAVEN_TIMEOUT_S,
                cwd=staging,
            )
        except subprocess.TimeoutExpired as exc:
            raise KafkaSetupError(
                f"Maven did not fetch {EXPORTER_ARTIFACT} within {_MAVEN_TIMEOUT_S}s"
            ) from exc
        if proc.returncode != 0 or not (staging / jar.name).is_file():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
            raise KafkaSetupError(f"Maven could not fetch {EXPORTER_ARTIFACT}:\n{tail}")
        (staging / ".complete").write_text(f"fetched in {time.monotonic() - started:.1f}s\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return jar


def agent_or_reason() -> tuple[Path | None, str | None]:
    """The agent's jar, or None and why it cannot be had (a site then reads no Kafka
    figures and says so, rather than fail its run)."""
    try:
        return resolve_agent(), None
    except KafkaSetupError as exc:
        return None, f"the JMX exporter could not be had: {key_line(str(exc))}"


def metrics_url(host: str, port: int) -> str:
    """Where an exporter serving on host:port answers."""
    return f"http://{host}:{port}/metrics"


def agent_flag(jar: Path, host: str, port: int, config: Path) -> str:
    """The JVM flag that starts the exporter on host:port with `config`."""
    return f"-javaagent:{jar}={host}:{port}:{config}"
