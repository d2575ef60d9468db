"""Live progress of a running step, drawn after pytest's own text on the current line.

The text is written with the cursor saved and restored (ESC 7 / ESC 8) and erased before
the next update, so pytest keeps writing where it was. Only on a terminal, never under
`-q` and never in CI logs (where a carriage-return animation is just noise).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from typing import Any

import pytest

ProgressFn = Callable[[str], None]
_SAVE, _RESTORE, _ERASE = "\0337", "\0338", "\033[K"


class TerminalProgress:
    def __init__(self, write: Callable[[str], Any], width: int) -> None:
        self._write = write
        self._width = width

    def __call__(self, text: str) -> None:
        room = max(0, min(self._width // 2, 70))
        self._write(f"{_ERASE}{_SAVE}  [{text[:room]}]{_RESTORE}")

    def clear(self) -> None:
        self._write(_ERASE)


def terminal_progress(config: pytest.Config) -> TerminalProgress | None:
    """A progress writer for this session, or None where progress must stay quiet."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None or config.get_verbosity() < 0 or os.environ.get("CI"):
        return None
    if not getattr(reporter, "isatty", False):
        return None

    capture = config.pluginmanager.get_plugin("capturemanager")

    def write(text: str) -> None:
        # a test's output is being captured while the step runs: step around it, as
        # pytest's live logging does
        if capture is None:
            reporter.write(text, flush=True)
            return
        with capture.global_and_fixture_disabled():
            reporter.write(text, flush=True)

    return TerminalProgress(write, shutil.get_terminal_size().columns)


def terminal_notes(config: pytest.Config) -> Callable[[str], None]:
    """Whole lines for the terminal (or CI log) as long work proceeds, e.g. a reservation
    waiting to start; silent under -q."""
    reporter = config.pluginmanager.get_plugin("terminalreporter")
    capture = config.pluginmanager.get_plugin("capturemanager")
    if reporter is None or config.get_verbosity() < 0:
        return lambda line: None

    def write(line: str) -> None:
        if capture is None:
            reporter.write_line(line, flush=True)
            return
        with capture.global_and_fixture_disabled():
            reporter.ensure_newline()
            reporter.write_line(line, flush=True)

    return write
