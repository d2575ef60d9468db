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

#: An inner conftest that makes any attempt to start a broker visible: it replaces the
#: site factory the session uses, so starting a cluster writes BROKER_STARTED and fails.
NO_BROKER_CONFTEST = '''
from pathlib import Path

import pytest_frida.session as _session

_original_create_site = _session.create_site


def _refuse_site(settings, run_dir, run_id):
    Path(__file__).with_name("BROKER_STARTED").write_text(str(run_dir))
    raise RuntimeError("a plugin test tried to start a broker")


def pytest_configure(config):
    _session.create_site = _refuse_site


def pytest_unconfigure(config):
    _session.create_site = _original_create_site
'''

CAPACITY_TEST = '''
import pytest


@pytest.mark.capacity(producers=[1, 10, 50], rate=20, slo="p99<=250ms, loss==0")
def test_cap(frida_producers):
    assert frida_producers in (1, 10, 50)
'''


@pytest.fixture
def no_broker(pytester: pytest.Pytester) -> pytest.Pytester:
    """A pytester whose inner sessions record (and refuse) any broker start."""
    pytester.makeconftest(NO_BROKER_CONFTEST)
    return pytester


@pytest.fixture
def capacity_test() -> str:
    """Source of a test file with one capacity test over producers 1, 10 and 50."""
    return CAPACITY_TEST
