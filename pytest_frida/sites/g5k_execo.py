"""execo as frida runs it: imported on first use (it installs signal handlers at import),
with its logging and its reference API threads kept quiet, so that a failure is said once,
in one line, as a `ReservationError`."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from pytest_frida.errors import FridaSetupError


class ReservationError(FridaSetupError):
    """OAR or the reference API refused, or the job never started."""


#: how long a failed API read waits for execo's threads still fetching
API_THREADS_JOIN_S = 30.0


@contextlib.contextmanager
def quiet_api_threads() -> Iterator[None]:
    """execo reads the reference API on threads of its own, and when the first read fails
    it leaves the others running, to fail later as tracebacks at exit; the failure is
    reported once, as our one-line error, instead. Those threads are waited for (boundedly)
    before errors of threads are shown again."""
    before = set(threading.enumerate())
    previous = threading.excepthook

    def hook(args: Any) -> None:  # only the threads started inside are silenced
        if args.thread in before:
            previous(args)

    threading.excepthook = hook
    try:
        yield
    finally:
        try:
            deadline = time.monotonic() + API_THREADS_JOIN_S
            for thread in set(threading.enumerate()) - before:
                thread.join(max(0.0, deadline - time.monotonic()))
        finally:  # a Ctrl-C while joining still gives errors of threads back
            threading.excepthook = previous


def load_execo() -> Any:
    """execo_g5k, imported on first use (execo installs signal handlers at import), with
    its logging silenced: failures are reported by us, in one line."""
    try:
        import execo_g5k
        from execo.log import logger as execo_logger
    except ImportError as exc:  # execo is a dependency; a broken install says so in a line
        raise FridaSetupError(
            f"execo cannot be imported ({exc}): reinstall pytest-frida"
            " (pip install pytest-frida) in this environment"
        ) from exc

    execo_logger.setLevel(logging.CRITICAL)  # failures are reported by us, in one line
    return execo_g5k
