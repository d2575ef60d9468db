"""One narrow seam per client library: create producers and a consumer, nothing more."""

from __future__ import annotations

from pytest_frida.workload.drivers.base import ClientDriver


def load_driver(name: str) -> ClientDriver:
    """The driver for --frida-client `name`."""
    if name == "kafka-python":
        from pytest_frida.workload.drivers.kafka_python import KafkaPythonDriver

        return KafkaPythonDriver()
    raise ValueError(f"unknown client {name!r}; accepted: kafka-python")
