"""Repository-wide pytest configuration (the plugin itself is loaded by its entry point).

Markers by need, from the test's folder (README's table lists the selections):
tests/integration start real Kafka brokers (`integration`); tests/containers also need a
Docker daemon (`integration`, `docker`); tests/simulation also need root, network
namespaces and sshd (`integration`, `docker`, `simulation`). `pytest tests -m "not
integration"` is the quick run without Java.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# the plugin and integration tests drive whole pytest sessions
pytest_plugins = ["pytester"]

_INTEGRATION = Path(__file__).parent / "tests" / "integration"
_CONTAINERS = Path(__file__).parent / "tests" / "containers"
_SIMULATION = Path(__file__).parent / "tests" / "simulation"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parents = Path(str(item.path)).parents
        if _INTEGRATION in parents:
            item.add_marker(pytest.mark.integration)
        if _CONTAINERS in parents:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.docker)
        if _SIMULATION in parents:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.docker)
            item.add_marker(pytest.mark.simulation)
