"""Frames without a line number get the line the interpreter was last on in them."""

from __future__ import annotations

import sys
import types

import pytest

from pytest_frida.tracebacks import make_printable, with_line_numbers


def _stopped_here() -> types.FrameType:
    try:
        return sys._getframe()
    finally:
        pass  # Python 3.11 copies this block; the copy has no line of its own


def _without_line(tb_next: types.TracebackType | None = None) -> types.TracebackType:
    frame = _stopped_here()
    offset = next(start for start, _, line in frame.f_code.co_lines() if line is None)
    tb = types.TracebackType(tb_next, frame, offset, -1)  # -1: looked up from the offset
    assert tb.tb_lineno is None
    return tb


def _raised() -> types.TracebackType:
    try:
        raise ValueError("x")
    except ValueError as exc:
        assert exc.__traceback__ is not None  # noqa: PT017 (narrows the type, tests nothing)
        return exc.__traceback__


def test_frames_keep_their_order_and_get_the_line_before() -> None:
    good = _raised()
    bad = _without_line(tb_next=good)
    fixed = with_line_numbers(bad)
    assert fixed is not None and fixed.tb_next is not None
    assert fixed.tb_frame is bad.tb_frame and fixed.tb_lasti == bad.tb_lasti
    first, last = _stopped_here.__code__.co_firstlineno, _without_line.__code__.co_firstlineno
    assert first < fixed.tb_lineno < last  # a line of the function that stopped
    assert fixed.tb_next.tb_frame is good.tb_frame
    assert fixed.tb_next.tb_lineno == good.tb_lineno
    assert fixed.tb_next.tb_next is None


def test_a_traceback_with_every_line_is_left_alone() -> None:
    good = _raised()
    assert with_line_numbers(good) is good
    assert with_line_numbers(None) is None


def test_interrupt_and_its_context_become_printable() -> None:
    context = ValueError("during the step").with_traceback(_without_line())
    interrupt = KeyboardInterrupt("received signal 15").with_traceback(_without_line())
    interrupt.__context__ = context
    excinfo = pytest.ExceptionInfo.from_exception(interrupt)
    with pytest.raises(TypeError):
        excinfo.getrepr()  # what pytest's terminal reporter does with it
    make_printable(excinfo)
    text = str(excinfo.getrepr())
    assert "KeyboardInterrupt: received signal 15" in text
    assert "ValueError: during the step" in text
