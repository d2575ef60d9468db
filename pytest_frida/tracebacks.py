"""Tracebacks pytest can print.

Python 3.11 leaves a frame's line number unset (`tb_lineno is None`) when an exception
surfaces on an instruction that belongs to no source line: a signal handler's
KeyboardInterrupt can land on a `finally` block's copy or a loop's jump. pytest's report of
the interrupt then fails on `None - 1`, and a Ctrl-C'd run ends as an internal error
instead of as interrupted, without its interrupt report.
"""

from __future__ import annotations

from types import CodeType, TracebackType

import pytest


def _line_before(code: CodeType, offset: int) -> int:
    """The source line of the nearest instruction at or before `offset` that has one: the
    line the interpreter was last on in that frame (the `def` line if none is)."""
    line = code.co_firstlineno
    for start, _end, lineno in code.co_lines():
        if start > offset:
            break
        if lineno is not None:
            line = lineno
    return line


def with_line_numbers(tb: TracebackType | None) -> TracebackType | None:
    """`tb` itself if every frame has a line number, else the same frames with one each."""
    entries: list[TracebackType] = []
    while tb is not None:
        entries.append(tb)
        tb = tb.tb_next
    if all(entry.tb_lineno is not None for entry in entries):
        return entries[0] if entries else None
    rebuilt: TracebackType | None = None
    for entry in reversed(entries):
        line = entry.tb_lineno
        if line is None:
            line = _line_before(entry.tb_frame.f_code, entry.tb_lasti)
        rebuilt = TracebackType(rebuilt, entry.tb_frame, entry.tb_lasti, line)
    return rebuilt


def make_printable(excinfo: pytest.ExceptionInfo[BaseException]) -> None:
    """Give every frame of `excinfo`, and of the exceptions chained to it, a line number,
    in place, so that pytest can print the report."""
    seen: set[int] = set()
    pending: list[BaseException] = [excinfo.value]
    while pending:
        exc = pending.pop()
        if id(exc) in seen:
            continue
        seen.add(id(exc))
        exc.__traceback__ = with_line_numbers(exc.__traceback__)
        pending.extend(e for e in (exc.__cause__, exc.__context__) if e is not None)
    tb = with_line_numbers(excinfo.tb)
    if tb is not excinfo.tb and tb is not None:
        excinfo.traceback = type(excinfo.traceback)(tb)
