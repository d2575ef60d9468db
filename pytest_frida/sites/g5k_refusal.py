"""Why `oarsub` gave no job, from what it printed, said in one line.

OAR's reasons are quoted, never interpreted: an admission rule's wording is the site's
own. Only what OAR itself defines is read: the `OAR_JOB_ID=` line, the exit code of a
submission an admission rule refused (OAR::IO returns -2, which oarsub passes to Perl's
exit: 254), and the line oarsub prints when its meta-scheduler cannot place an advance
reservation, `Reservation not valid --> KO (<why>)`, whose <why> may name the start OAR
could give (`This reservation could run at YYYY-MM-DD hh:mm:ss`, in the site's time,
Paris time on Grid'5000).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: oarsub's exit code when an admission rule refused the job
ADMISSION_EXIT = 254

_JOB_ID = re.compile(r"^OAR_JOB_ID=(\d+)\s*$", re.MULTILINE)
_KO = re.compile(r"Reservation not valid --> KO \((.*)\)\s*$", re.MULTILINE)
_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")


@dataclass(frozen=True)
class Refusal:
    """What a failed `oarsub` said."""

    #: OAR's own words, in one line
    reason: str
    #: the job OAR created before refusing it (an advance reservation it could not place)
    job_id: int | None = None
    #: an admission rule refused the job, before any was created
    by_admission: bool = False
    #: an advance reservation OAR could not place
    reservation_ko: bool = False
    #: the start OAR offers instead, as OAR prints it (Paris time on Grid'5000)
    could_start: str | None = None


def _lines(text: str) -> list[str]:
    return [line.strip().lstrip("# ").strip() for line in text.splitlines() if line.strip()]


def exit_status(exit_code: int | None) -> int | None:
    """A process's exit status from execo's `exit_code`, which is the raw status of
    waitpid (254 << 8 for an exit with 254)."""
    if exit_code is None or exit_code <= 0xFF:
        return exit_code
    return exit_code >> 8


def read_refusal(stdout: str, stderr: str, exit_code: int | None) -> Refusal:
    """The refusal in a failed oarsub's output; `exit_code` as execo gives it. oarsub warns
    its reasons on stderr; when stderr is merged into stdout (a pty over ssh), its last
    line is OAR's last word."""
    job = _JOB_ID.search(stdout)
    job_id = int(job.group(1)) if job else None
    ko = _KO.search(stdout)
    if ko:
        date = _DATE.search(ko.group(1))
        return Refusal(
            ko.group(1).strip(),
            job_id,
            reservation_ko=True,
            could_start=date.group(0) if date else None,
        )
    said = _lines(stderr) or [
        line for line in _lines(stdout)[-1:] if not line.startswith("OAR_JOB_ID=")
    ]
    return Refusal(" ".join(said), job_id, by_admission=exit_status(exit_code) == ADMISSION_EXIT)


def refusal_message(refusal: Refusal, request: str, reserved: str | None) -> str:
    """The one line that says `refusal` of `request` (resources and walltime), asked to
    start at `reserved` (Paris time) or as soon as possible."""
    reason = refusal.reason or "no reason"
    deleted = f"; OAR job {refusal.job_id} was deleted" if refusal.job_id is not None else ""
    if refusal.reservation_ko:
        if refusal.could_start:
            advice = (
                f" (Paris time): ask for that start with"
                f" --frida-reservation='{refusal.could_start}'"
            )
        else:
            advice = ": pick another start, or ask for fewer nodes"
        return (
            f"OAR could not place the advance reservation ({request}) at {reserved}"
            f" Paris time: {reason}{advice}{deleted}"
        )
    if refusal.by_admission:
        return f"OAR's admission rules refused the job ({request}): {reason}{deleted}"
    return f"OAR refused the reservation ({request}): {reason}{deleted}"
