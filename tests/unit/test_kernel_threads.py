"""Kernel threads' CPU read from /proc (measure.proc): a process is never one, and this
host's own kernel threads sum to a counter."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pytest_frida.measure.proc import PF_KTHREAD, parse_kernel_thread_cpu, read_kernel_threads

#: field 9 (flags) and fields 14, 15 (utime, stime), the name with a space and a bracket
KWORKER = "77 (kworker/1:1H-kblockd) I 2 0 0 0 -1 {flags} 0 0 0 0 300 700 0 0 0 -20 1 0 9"


def test_a_kernel_thread_gives_its_seconds_and_a_process_gives_none() -> None:
    assert parse_kernel_thread_cpu(KWORKER.format(flags=PF_KTHREAD | 0x40), 100) == 10.0
    assert parse_kernel_thread_cpu(KWORKER.format(flags=0x400100), 100) is None
    odd = f"5 (a) b) (c) S 1 5 5 0 -1 {PF_KTHREAD} 0 0 0 0 1 2 0 0"
    assert parse_kernel_thread_cpu(odd, 100) == pytest.approx(0.03)


def test_only_kernel_threads_are_summed(tmp_path: Path) -> None:
    for pid, flags in ((2, PF_KTHREAD), (77, PF_KTHREAD | 0x40), (900, 0x400100)):
        (tmp_path / str(pid)).mkdir()
        (tmp_path / str(pid) / "stat").write_text(KWORKER.format(flags=flags))
    (tmp_path / "self").mkdir()  # not a pid
    (tmp_path / "1000").mkdir()  # gone before its stat was read
    seconds = read_kernel_threads(tmp_path)["kernel_cpu_s"]
    assert seconds == pytest.approx(2 * (300 + 700) / os.sysconf("SC_CLK_TCK"))


def test_this_hosts_kernel_threads_are_read() -> None:
    first = read_kernel_threads()["kernel_cpu_s"]
    assert first > 0  # kthreadd's children have run since boot
