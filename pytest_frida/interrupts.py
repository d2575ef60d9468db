"""Where a pytest session meets Ctrl-C, SIGTERM and SIGHUP (pytest hooks, registered by
the plugin).

runtimes.process turns the signals into a KeyboardInterrupt, defers it around cleanups and
remembers one that surfaced where exceptions are ignored. This module raises such a
swallowed interrupt at the next test boundary, counts it at session end, and keeps
pytest able to print the interrupt it catches (see tracebacks), so that a run ends as
interrupted, with its report, whenever the signal came.
"""

from __future__ import annotations

from collections.abc import Generator
from typing import Any

import pytest

from pytest_frida.runtimes.process import (
    interrupt_handled,
    pending_interrupt,
    raise_pending_interrupt,
)
from pytest_frida.tracebacks import make_printable


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    raise_pending_interrupt()  # an interrupt swallowed since the last test must stop here


@pytest.hookimpl(wrapper=True, trylast=True)  # innermost: before any verdict on the step
def pytest_runtest_call(item: pytest.Item) -> Generator[None, Any, Any]:
    """An interrupt that arrived during the test body comes first: its step's failure is
    its doing."""
    try:
        return (yield)
    finally:
        raise_pending_interrupt()


@pytest.hookimpl(tryfirst=True)  # before the terminal reporter formats it
def pytest_keyboard_interrupt(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    make_printable(excinfo)
    interrupt_handled()


def swallowed_interrupt() -> bool:
    """Whether an interrupt was swallowed during the last test, with no test boundary
    after it to raise it: the session still ends as interrupted."""
    return pending_interrupt() is not None
