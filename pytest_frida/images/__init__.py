"""Container images without a registry: build them here, copy them to nodes.

frida/base:bookworm   debootstrap + docker import
frida/kafka:<version> the resolved Kafka jars, apache/kafka's env contract
frida/agent:<version> this package and its client drivers
frida/monitoring:bookworm  Prometheus, its node exporter and InfluxDB from Debian
"""

from __future__ import annotations

from pytest_frida.version import __version__

BASE_IMAGE = "frida/base:bookworm"
AGENT_IMAGE = f"frida/agent:{__version__}"
MONITORING_IMAGE = "frida/monitoring:bookworm"
#: the label holding a hash of what went into an image, to tell a stale one
RECIPE_LABEL = "frida.recipe"
#: the label of a Kafka image that carries the JMX exporter: its version
EXPORTER_LABEL = "frida.jmx_exporter"


def kafka_image(version: str) -> str:
    return f"frida/kafka:{version}"
