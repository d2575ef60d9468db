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
from pytest_frida.kafka.errors import KafkaSetupError

EXPORTER_VERSION = "1.0.1"
EXPORTER_ARTIFACT = f"io.prometheus.jmx:jmx_prometheus_javaagent:{EXPORTER_VERSION}"
_MAVEN_TIMEOUT_S = 300

#: the MBeans read at each scrape (measure.broker_metrics says what each becomes)
INCLUDED = (
    "kafka.server:type=KafkaRequestHandlerPool,name=RequestHandlerAvgIdlePercent",
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
    "java.lang:type=GarbageCollector,name=*",
)


def config_text() -> str:
    """The exporter's YAML: the default metric format, only the included MBeans."""
    names = "".join(f'  - "{name}"\n' for name in INCLUDED)
    return f"lowercaseOutputName: false\nincludeObjectNames:\n{names}"


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
            " metrics off with --frida-broker-metrics=off")
    target.parent.mkdir(parents=True, exist_ok=True)
    with cache_lock(target.parent / f"jmx-exporter-{EXPORTER_VERSION}.lock"):
        if jar.is_file():
            return jar
        staging = target.with_name(target.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        cmd = [mvn, "-B", "-q",
               "org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy",
               f"-Dartifact={EXPORTER_ARTIFACT}", f"-DoutputDirectory={staging}"]
        started = time.monotonic()
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False,
                                  timeout=_MAVEN_TIMEOUT_S, cwd=staging)
        except subprocess.TimeoutExpired as exc:
            raise KafkaSetupError(f"Maven did not fetch {EXPORTER_ARTIFACT} within"
                                  f" {_MAVEN_TIMEOUT_S}s") from exc
        if proc.returncode != 0 or not (staging / jar.name).is_file():
            tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-10:])
            raise KafkaSetupError(f"Maven could not fetch {EXPORTER_ARTIFACT}:\n{tail}")
        (staging / ".complete").write_text(f"fetched in {time.monotonic() - started:.1f}s\n")
        shutil.rmtree(target, ignore_errors=True)
        staging.rename(target)
    return jar


def agent_flag(jar: Path, host: str, port: int, config: Path) -> str:
    """The JVM flag that starts the exporter on host:port with `config`."""
    return f"-javaagent:{jar}={host}:{port}:{config}"
