"""Repository-wide pytest configuration (the plugin itself is loaded by its entry point).

Tests under tests/integration start real Kafka brokers; they are marked `integration`
here so `pytest tests -m "not integration"` gives a quick run without Java.
"""

from __future__ import annotations

from pathlib import Path

import pytest

# the plugin and integration tests drive whole pytest sessions
pytest_plugins = ["pytester"]

_INTEGRATION = Path(__file__).parent / "tests" / "integration"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if _INTEGRATION in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.integration)
