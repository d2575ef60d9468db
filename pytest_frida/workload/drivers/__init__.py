"""Client drivers, one per library, behind the interface in `base`."""

from __future__ import annotations

import warnings

from pytest_frida.workload.drivers.base import ClientDriver

CLIENTS = ("confluent-kafka", "kafka-python")


def load_driver(name: str) -> ClientDriver:
    """The driver for --frida-client `name` (imports the library only when chosen)."""
    if name == "kafka-python":
        with warnings.catch_warnings():  # its protocol schemas use deprecated importlib APIs
            warnings.simplefilter("ignore", DeprecationWarning)
            from pytest_frida.workload.drivers.kafka_python import KafkaPythonDriver

        return KafkaPythonDriver()
    if name == "confluent-kafka":
        try:
            from pytest_frida.workload.drivers.confluent import ConfluentDriver
        except ImportError as exc:
            raise ValueError(
                "--frida-client=confluent-kafka needs the confluent-kafka package:"
                " pip install confluent-kafka"
            ) from exc
        return ConfluentDriver()
    raise ValueError(f"unknown client {name!r}; accepted: {', '.join(CLIENTS)}")
