"""An interrupt whose KeyboardInterrupt Python swallows still ends the run as interrupted.

A signal handler's exception surfaces wherever the main thread is when the handler runs.
In a `__del__`, a weakref callback or logging's at-fork hook (run after every subprocess
fork) Python only prints "Exception ignored" and goes on. SIGTERM during a docker step
was lost that way: the step then failed on agents the handler had already stopped, and
the run ended as a failure with Ctrl-C ignored from then on.
"""

from __future__ import annotations

import pytest

SWALLOWING = """
import os
import signal

from pytest_frida.runtimes.process import install_exit_handlers

# Ctrl-C as in a terminal: a shell that starts us in the background ignores SIGINT
signal.signal(signal.SIGINT, signal.default_int_handler)
install_exit_handlers()  # what a run does once it has a cluster to clean up


class Swallowing:
    def __del__(self):
        os.kill(os.getpid(), signal.{sig})
        for _ in range(10_000):  # the handler runs in here: its exception is ignored
            pass


def test_first():
    Swallowing()
    open("after-signal", "w").close()  # the body went on: the interrupt was swallowed


def test_second():
    open("second-ran", "w").close()
"""


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_swallowed_interrupt_still_interrupts(pytester: pytest.Pytester, sig: str) -> None:
    pytester.makepyfile(test_suite=SWALLOWING.format(sig=sig))
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    assert (pytester.path / "after-signal").exists()  # the swallowing really happened
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()[-2000:]
    assert not (pytester.path / "second-ran").exists()  # no further test ran
    result.stdout.fnmatch_lines(["*KeyboardInterrupt*"])
