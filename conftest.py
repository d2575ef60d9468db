"""Repository-wide pytest configuration (the plugin itself is loaded by its entry point).

Tests under tests/integration start real Kafka brokers; they are marked `integration`
here so `pytest tests -m "not integration"` gives a quick run without Java. Tests under
tests/containers also need a Docker daemon and are marked `docker` as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# the plugin and integration tests drive whole pytest sessions
pytest_plugins = ["pytester"]

_INTEGRATION = Path(__file__).parent / "tests" / "integration"
_CONTAINERS = Path(__file__).parent / "tests" / "containers"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        parents = Path(str(item.path)).parents
        if _INTEGRATION in parents:
            item.add_marker(pytest.mark.integration)
        if _CONTAINERS in parents:
            item.add_marker(pytest.mark.integration)
            item.add_marker(pytest.mark.docker)
