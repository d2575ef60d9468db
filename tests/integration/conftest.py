"""Helpers for tests that run real pytest sessions against a real local Kafka broker."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from helpers.leaks import frida_temp_dirs, kafka_pids


@pytest.fixture
def leak_check() -> Iterator[None]:
    """Fails the test when it leaves a broker, an agent or a broker data dir behind."""
    before_pids, before_dirs = kafka_pids(), frida_temp_dirs()
    yield
    left = kafka_pids() - before_pids
    dirs = frida_temp_dirs() - before_dirs
    assert not left, f"processes left running: {sorted(left)}"
    assert not dirs, f"broker data directories left behind: {sorted(dirs)}"
