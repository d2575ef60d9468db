"""Live progress draws after pytest's text and erases itself, leaving pytest's text alone."""

from __future__ import annotations

from pytest_frida.progress import TerminalProgress


def test_progress_saves_and_restores_the_cursor_and_clears() -> None:
    out: list[str] = []
    progress = TerminalProgress(out.append, width=120)
    progress("1.0/12s sent=10 received=9 p99=3.1ms")
    progress.clear()
    first, last = out
    assert first.startswith("\033[K\0337")  # erase old text, save cursor
    assert first.endswith("\0338")  # ...and put the cursor back for pytest
    assert "sent=10" in first
    assert last == "\033[K"


def test_progress_is_cut_to_the_terminal() -> None:
    out: list[str] = []
    TerminalProgress(out.append, width=40)("x" * 200)
    assert out[0].count("x") == 20
