"""Which OAR jobs a live run on this machine holds: a run marks each job it submits
(`~/.frida/live-jobs/<job id>`: host name and pid) and removes the mark when it releases
the job, so that `frida g5k jobs --delete` deletes what dead runs left and never the job
of a run still going. A mark whose process is gone (a run killed with -9) counts for
nothing; a run on another machine is not seen from here.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path


def marks_dir() -> Path:
    return Path.home() / ".frida" / "live-jobs"


def mark(job_id: int) -> None:
    """Mark `job_id` as held by this process."""
    with contextlib.suppress(OSError):  # a mark is a courtesy: never fail a run for it
        marks_dir().mkdir(parents=True, exist_ok=True)
        (marks_dir() / str(job_id)).write_text(f"{socket.gethostname()} {os.getpid()}\n")


def unmark(job_id: int) -> None:
    with contextlib.suppress(OSError):
        (marks_dir() / str(job_id)).unlink(missing_ok=True)


def holder(job_id: int) -> int | None:
    """The pid of a live process on this machine that marked `job_id`, else None."""
    try:
        host, pid_text = (marks_dir() / str(job_id)).read_text().split()
        pid = int(pid_text)
    except (OSError, ValueError):
        return None
    if host != socket.gethostname():
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid  # alive, someone else's process: still a live holder
    return pid
