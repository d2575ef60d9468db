"""Marks of the OAR jobs live runs hold: what `frida g5k jobs --delete` must keep."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from pytest_frida.sites import job_marks


@pytest.fixture(autouse=True)
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    return tmp_path


def test_a_live_run_of_this_machine_holds_its_job_until_it_unmarks_it() -> None:
    assert job_marks.holder(42) is None
    assert job_marks.mark(42) is None
    assert job_marks.holder(42) == f"pid {os.getpid()}"
    job_marks.unmark(42)
    assert job_marks.holder(42) is None


def test_a_dead_runs_mark_counts_for_nothing() -> None:
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead = int(done.stdout)
    job_marks.marks_dir().mkdir(parents=True)
    (job_marks.marks_dir() / f"7.{socket.gethostname()}.{dead}").touch()
    assert job_marks.holder(7) is None


def test_a_mark_from_another_machine_is_held_since_it_cannot_be_checked() -> None:
    job_marks.marks_dir().mkdir(parents=True)
    (job_marks.marks_dir() / "9.fsophia.example.17").touch()
    assert job_marks.holder(9) == "fsophia.example pid 17 (another machine: not checked from here)"
    assert job_marks.holder(90) is None  # job 90 is not job 9


def test_two_runs_sharing_a_job_each_keep_their_own_mark() -> None:
    job_marks.marks_dir().mkdir(parents=True)
    other = job_marks.marks_dir() / f"5.{socket.gethostname()}.1"  # pid 1: always alive
    other.touch()
    job_marks.mark(5)
    job_marks.unmark(5)  # this run ends; the other still holds the job
    assert other.exists() and job_marks.holder(5) == "pid 1"


def test_a_mark_that_cannot_be_written_is_said(home: Path) -> None:
    (home / ".frida").write_text("a file where the marks' directory should be")
    problem = job_marks.mark(3)
    assert problem is not None and problem.startswith("job 3 could not be marked as this run's")


def test_a_mark_written_by_an_earlier_version_still_holds_its_job() -> None:
    job_marks.marks_dir().mkdir(parents=True)
    (job_marks.marks_dir() / "11").write_text(f"{socket.gethostname()} {os.getpid()}\n")
    assert job_marks.holder(11) == f"pid {os.getpid()}"
    (job_marks.marks_dir() / "12").write_text("fnancy 99\n")
    assert job_marks.holder(12) == "fnancy pid 99 (another machine: not checked from here)"
