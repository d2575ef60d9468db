"""Which OAR jobs a live run holds: a run marks each job it submits or is given
(`~/.frida/live-jobs/<job id>.<host>.<pid>`, one file per holder, so two runs sharing a
job through --frida-job-id each keep their own) and removes its mark when it releases the
job, so that `frida g5k jobs --delete` deletes what dead runs left and never the job of a
run still going. A mark by a process of this machine that is gone (a run killed with -9)
counts for nothing. A mark from another machine cannot be checked from here (a Grid'5000
home is shared by a site's frontend and nodes), so it counts as held: `--force` deletes it.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def marks_dir() -> Path:
    return Path.home() / ".frida" / "live-jobs"


def _own_mark(job_id: int) -> Path:
    return marks_dir() / f"{job_id}.{socket.gethostname()}.{os.getpid()}"


def mark(job_id: int) -> str | None:
    """Mark `job_id` as held by this process; the reason when the mark could not be
    written (the run goes on, unprotected from `frida g5k jobs --delete`)."""
    try:
        marks_dir().mkdir(parents=True, exist_ok=True)
        _own_mark(job_id).touch()
    except OSError as exc:
        return (
            f"job {job_id} could not be marked as this run's in {marks_dir()} ({exc}):"
            " `frida g5k jobs --delete` would not know that a live run holds it"
        )
    return None


def unmark(job_id: int) -> None:
    """Remove this process's mark of `job_id` (others' marks stay)."""
    with contextlib.suppress(OSError):
        _own_mark(job_id).unlink(missing_ok=True)


def holder(job_id: int) -> str | None:
    """Who holds `job_id`, e.g. "pid 4242" or "fsophia pid 17 (another machine)", or None
    when no mark names a live process of this machine or a process of another."""
    try:
        marks = sorted(marks_dir().glob(f"{job_id}.*"))
    except OSError:
        return None
    here = socket.gethostname()
    legacy = marks_dir() / str(job_id)  # one file per job, "host pid", by earlier versions
    with contextlib.suppress(OSError, ValueError):
        host, pid_text = legacy.read_text().split()
        marks.insert(0, legacy.with_name(f"{job_id}.{host}.{int(pid_text)}"))
    for path in marks:
        host, _, pid_text = path.name[len(f"{job_id}.") :].rpartition(".")
        if not pid_text.isdigit() or not host:
            continue
        if host != here:
            return f"{host} pid {pid_text} (another machine: not checked from here)"
        if _alive(int(pid_text)):
            return f"pid {pid_text}"
    return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, someone else's process: still a live holder
    return True
