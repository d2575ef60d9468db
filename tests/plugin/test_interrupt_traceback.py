"""An interrupt whose traceback has a frame without a line number still ends the run as
interrupted, with its report.

Python 3.11 gives such a frame when a signal handler's exception surfaces on an
instruction that belongs to no source line (a `finally` block's copy, a loop's jump).
pytest's report of the interrupt then fails on `None - 1` and the run exits 1
("internal error") instead of 2; CI saw it once at the broker's start.
"""

from __future__ import annotations

import pytest

WITHOUT_LINE = """
import sys
import types


def where_it_stopped():
    try:
        return sys._getframe()
    finally:
        pass


def test_interrupted():
    frame = where_it_stopped()
    offset = next(start for start, _, line in frame.f_code.co_lines() if line is None)
    tb = types.TracebackType(None, frame, offset, -1)  # -1: looked up from the offset
    assert tb.tb_lineno is None  # the frame pytest cannot show
    raise KeyboardInterrupt("received signal 2").with_traceback(tb)


def test_after():
    open("after-ran", "w").close()
"""


def test_interrupt_without_line_number_is_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=WITHOUT_LINE)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", timeout=60)
    assert result.ret == pytest.ExitCode.INTERRUPTED, result.stdout.str()[-2000:]
    assert not (pytester.path / "after-ran").exists()
    result.stdout.fnmatch_lines(["*KeyboardInterrupt: received signal 2*"])
    result.stdout.no_fnmatch_line("*TypeError*")
