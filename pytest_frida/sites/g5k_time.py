"""Time on Grid'5000: dates as the testbed reads them (Paris time), its day-time usage
policy, and a job's walltime as OAR prints it."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")

#: Grid'5000 usage policy: 09:00-19:00 Paris time on working days is for short jobs
DAY_START, DAY_END = 9, 19


def reservation_start(date: str) -> dt.datetime:
    """An advance reservation's 'YYYY-MM-DD HH:MM:SS', read as Grid'5000 reads it: Paris
    time, whatever this machine's time zone."""
    return dt.datetime.strptime(date, "%Y-%m-%d %H:%M:%S").replace(tzinfo=PARIS)


def job_length(walltime_s: int) -> str:
    """A walltime as the usage policy's messages say it: 2h30."""
    return f"{walltime_s // 3600}h{walltime_s % 3600 // 60:02d}"


def daytime_warning(start: dt.datetime, walltime_s: int) -> str | None:
    """What breaks the testbed's day-time rules, or None. Day time is 09:00-19:00 Paris
    time, Monday to Friday, and jobs in it have limits: a job started then must end by
    19:00, however late it starts; a night or weekend job must end before the next
    working day's 09:00. (The simulation's OAR admission rule refuses exactly the jobs
    this warns of.)"""
    start = start.astimezone(PARIS)
    # added in UTC: a datetime in PARIS plus a timedelta adds wall-clock time, an hour
    # off across a clock change
    end = (start.astimezone(dt.UTC) + dt.timedelta(seconds=walltime_s)).astimezone(PARIS)
    if start.weekday() < 5 and DAY_START <= start.hour < DAY_END:
        day_end = start.replace(hour=DAY_END, minute=0, second=0, microsecond=0)
        if end > day_end:
            return (
                f"a {job_length(walltime_s)} job starting {start:%a %H:%M} Paris time runs"
                " past 19:00: day-time jobs must end by 19:00 (reserve for the night"
                " with --frida-reservation, or shorten --frida-walltime)"
            )
        return None
    morning = start.replace(hour=DAY_START, minute=0, second=0, microsecond=0)
    if morning <= start:
        morning += dt.timedelta(days=1)
    while morning.weekday() >= 5:
        morning += dt.timedelta(days=1)
    if end > morning:
        return (
            f"a {job_length(walltime_s)} job starting {start:%a %H:%M} Paris time runs into"
            f" {morning:%a} 09:00: night and weekend jobs must end before the next"
            " working day begins"
        )
    return None


def walltime_field_s(oarstat_full: str) -> int | None:
    """The `walltime` of `oarstat -f` output, in seconds: OAR 2.5 prints H:M:S (which
    execo reads), OAR 3 whole seconds (which execo leaves out)."""
    m = re.search(
        r"^\s*walltime = (?:(\d+):(\d{1,2}):(\d{1,2})|(\d+))\s*$", oarstat_full, re.MULTILINE
    )
    if not m:
        return None
    if m.group(4):
        return int(m.group(4))
    return int(m.group(1)) * 3600 + int(m.group(2)) * 60 + int(m.group(3))


def job_walltime_s(job_id: int, info: dict[str, Any]) -> int | None:
    """A job's walltime from execo's `get_oar_job_info`, else (OAR 3, whose seconds execo
    does not read) from `oarstat -f` read here."""
    if info.get("walltime"):
        return int(info["walltime"])
    from execo import Process

    proc = Process(
        f"oarstat -fj {job_id}",
        timeout=60,
        nolog_exit_code=True,
        nolog_error=True,
        nolog_timeout=True,
    ).run()
    return walltime_field_s(proc.stdout or "")
