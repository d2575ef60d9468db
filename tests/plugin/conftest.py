"""Shared helpers for the plugin tests: every test drives an inner pytest session with
`pytester`; none of them starts a Kafka broker."""

from __future__ import annotations

import contextlib

import pytest

# hypothesis's pytest plugin imports hypothesis in its terminal summary. pytester's
# in-process runs forget modules first imported by the inner session, so every inner run
# would import hypothesis again (about a second each); importing it once here avoids that.
with contextlib.suppress(ImportError):
    import hypothesis.internal.observability  # noqa: F401
# the same for matplotlib (the HTML report's plots), which also breaks when re-imported
# into a process that still holds its compiled parts from the first import
import pytest_frida.report.plots  # noqa: F401

#: An inner conftest that makes any attempt to start a broker visible: its site (through
#: the pytest_frida_make_site hook) is the real one, whose start writes BROKER_STARTED and
#: fails; a --frida-plan preview still asks the real site what it would do.
NO_BROKER_CONFTEST = """
from pathlib import Path

import pytest

from pytest_frida.sites import create_site


class _RefusingSite:
    def __init__(self, real, run_dir):
        self._real = real
        self._run_dir = run_dir
        self.notify = None

    def plan_lines(self):
        return self._real.plan_lines()

    def start(self):
        Path(__file__).with_name("BROKER_STARTED").write_text(str(self._run_dir))
        raise RuntimeError("a plugin test tried to start a broker")

    def stop(self):
        pass


@pytest.hookimpl(tryfirst=True)
def pytest_frida_make_site(settings, run_dir, run_id):
    return _RefusingSite(create_site(settings, run_dir, run_id), run_dir)
"""

CAPACITY_TEST = """
import pytest


@pytest.mark.capacity(producers=[1, 10, 50], rate=20, slo="p99<=250ms, loss==0")
def test_cap(frida_producers):
    assert frida_producers in (1, 10, 50)
"""


@pytest.fixture
def no_broker(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester whose inner sessions record (and refuse) any broker start."""
    pytester.makeconftest(NO_BROKER_CONFTEST)
    return pytester


@pytest.fixture
def capacity_test() -> str:
    """Source of a test file with one capacity test over producers 1, 10 and 50."""
    return CAPACITY_TEST
