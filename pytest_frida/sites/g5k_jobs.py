"""This user's frida jobs on the Grid'5000 site of this frontend, listed and deleted on
request (`frida g5k jobs [--delete]`): a run that died without its cleanup (a killed
frontend session, a lost laptop) leaves nothing reserved for long.

A job is frida's when its name starts with `frida-`, the name every run gives its jobs
(`--frida-job-name` changes it; `--prefix` finds those). A job that a run still going on
this machine holds is listed but not deleted (see job_marks). OAR runs here, through
execo, as for the runs themselves.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pytest_frida.sites import job_marks
from pytest_frida.sites.g5k_execo import load_execo
from pytest_frida.sites.g5k_time import PARIS, job_walltime_s

JOB_PREFIX = "frida-"


@dataclass(frozen=True)
class OarJob:
    job_id: int
    name: str
    state: str
    #: Unix time it started (None: not yet)
    started: float | None
    walltime_s: int | None

    def describe(self, now: float) -> str:
        line = f"{self.job_id}  {self.name}  {self.state}"
        if self.started is not None:
            line += f", started {dt.datetime.fromtimestamp(self.started, PARIS):%Y-%m-%d %H:%M}"
            if self.walltime_s is not None:
                left = max(0, int(self.started + self.walltime_s - now))
                line += f" Paris time, {left // 3600}h{left % 3600 // 60:02d} left"
        return line


def frida_jobs(prefix: str = JOB_PREFIX) -> list[OarJob]:
    """The current user's waiting and running jobs whose name starts with `prefix`."""
    g5k = load_execo()
    jobs = []
    for job_id, frontend in g5k.get_current_oar_jobs(abort_on_error=True):
        info = g5k.get_oar_job_info(job_id, frontend)
        name = str(info.get("name") or "")
        if not name.startswith(prefix) or info.get("state") not in (
            "Waiting",
            "Running",
            "Launching",
            "toLaunch",
            "Hold",
        ):
            continue
        walltime = job_walltime_s(int(job_id), info)
        jobs.append(
            OarJob(
                int(job_id),
                name,
                str(info.get("state")),
                float(info["start_date"]) if info.get("start_date") else None,
                int(walltime) if walltime else None,
            )
        )
    return sorted(jobs, key=lambda j: j.job_id)


def delete_jobs(jobs: Sequence[OarJob], say: Callable[[str], None], force: bool = False) -> None:
    """`oardel` each job, saying so; a job a live run on this machine holds is kept (and
    said to be) unless `force`."""
    if not force:
        holders = {j.job_id: job_marks.holder(j.job_id) for j in jobs}
        for job in jobs:
            if holders[job.job_id] is not None:
                say(
                    f"kept {job.job_id} ({job.name}): a live run holds it"
                    f" ({holders[job.job_id]}); --force deletes it too"
                )
        jobs = [j for j in jobs if holders[j.job_id] is None]
    if not jobs:
        return
    g5k = load_execo()
    with contextlib.redirect_stdout(io.StringIO()):
        g5k.oardel([(job.job_id, None) for job in jobs])
    for job in jobs:
        say(f"deleted {job.job_id} ({job.name})")
