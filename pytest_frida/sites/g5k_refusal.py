"""Why `oarsub` gave no job, from what it printed, said in one line.

OAR's reasons are quoted, never interpreted: an admission rule's wording is the site's
own. Only what OAR itself defines is read (oarsub of OAR 2.5.10):

- the `OAR_JOB_ID=` line, printed for a created job; a negative one (`OAR_JOB_ID=-5`
  when no resource matches, printed only with -v, or by an oarsub older than OAR commit
  0e9fa7d3 of 2022, Grid'5000's early 2.5.10 builds included) is no job;
- the exit code of a submission an admission rule refused (OAR::IO returns -2, which
  oarsub passes to Perl's exit: 254); the rule's `die` text is its last word;
- OAR's own messages, each a line starting with `# ` (`# There are not enough resources
  for your request`, then `# Error: please verify your job submission syntax.` and exit
  code 8);
- the line oarsub prints when its meta-scheduler cannot place an advance reservation,
  `# Reservation not valid --> KO (<why>)` (exit code 10), after which OAR puts the job
  in Error itself. <why> may name the start OAR could give (`This reservation could run
  at YYYY-MM-DD hh:mm:ss`, in the site's time, Paris time on Grid'5000), or be `Reservation
  too old` (the reservation's window had already ended by OAR's clock).

oarsub runs in a pty under execo, so its stderr may arrive merged into stdout; and over
ssh, the ssh client's own warnings ("Warning: Permanently added ...") come with it. Those
are the client's, never OAR's reason, and are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

#: oarsub's exit code when an admission rule refused the job
ADMISSION_EXIT = 254
#: the reason OAR's meta-scheduler gives a reservation whose window is already over
TOO_OLD = "Reservation too old"

_JOB_ID = re.compile(r"^OAR_JOB_ID=(-?\d+)\s*$", re.MULTILINE)
_KO = re.compile(r"Reservation not valid --> KO \((.*)\)\s*$", re.MULTILINE)
_DATE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d")
#: what OpenSSH's client says on its own stderr that is never the remote command's answer
#: (its errors, "ssh: connect to host ...", are kept: then they are the reason)
_SSH_CLIENT = re.compile(
    r"^(?:Warning: Permanently added .* to the list of known hosts\.?"
    r"|Pseudo-terminal will not be allocated because stdin is not a terminal\.?"
    r"|(?:Shared )?[Cc]onnection to \S+ closed(?: by remote host)?\.?"
    r"|Warning: No xauth data.*"
    r"|\*\* .*)$"
)


@dataclass(frozen=True)
class Refusal:
    """What a failed `oarsub` said."""

    #: OAR's own words, in one line
    reason: str
    #: the job OAR created before refusing it (an advance reservation it could not place)
    job_id: int | None = None
    #: an admission rule refused the job, before any was created
    by_admission: bool = False
    #: an advance reservation OAR could not place (OAR leaves its job in Error)
    reservation_ko: bool = False
    #: the start OAR offers instead, as OAR prints it (Paris time on Grid'5000)
    could_start: str | None = None
    #: oarsub gave no answer within this many seconds and was stopped (None: it answered)
    timed_out_s: float | None = None


def _lines(text: str) -> list[str]:
    """The non-empty lines of `text`, without the ssh client's own."""
    lines = (line.strip() for line in text.splitlines())
    return [line for line in lines if line and not _SSH_CLIENT.match(line)]


def _quote(lines: list[str]) -> str:
    return "; ".join(line.lstrip("#").strip() for line in lines)


def exit_status(exit_code: int | None) -> int | None:
    """A process's exit status from execo's `exit_code`, which is the raw status of
    waitpid (254 << 8 for an exit with 254)."""
    if exit_code is None or exit_code <= 0xFF:
        return exit_code
    return exit_code >> 8


def _said(stdout: str, stderr: str) -> list[str]:
    """OAR's reason: its stderr when it came apart; from a merged stream, every `# ` line
    (OAR's own messages) and the last line when it is none (a rule's `die`)."""
    apart = _lines(stderr)
    if apart:
        return apart
    merged = [line for line in _lines(stdout) if not _JOB_ID.match(line)]
    said = [line for line in merged if line.startswith("#")]
    if merged and not merged[-1].startswith("#"):
        said.append(merged[-1])
    return said


def read_refusal(
    stdout: str, stderr: str, exit_code: int | None, timed_out_s: float | None = None
) -> Refusal:
    """The refusal in a failed oarsub's output; `exit_code` as execo gives it;
    `timed_out_s` when execo stopped oarsub at its timeout (its `timeouted`)."""
    job = _JOB_ID.search(stdout)
    job_id = int(job.group(1)) if job and int(job.group(1)) > 0 else None
    if timed_out_s is not None:
        return Refusal(_quote(_said(stdout, stderr)), job_id, timed_out_s=timed_out_s)
    ko = _KO.search(stdout)
    if ko:
        date = _DATE.search(ko.group(1))
        return Refusal(
            ko.group(1).strip(),
            job_id,
            reservation_ko=True,
            could_start=date.group(0) if date else None,
        )
    return Refusal(
        _quote(_said(stdout, stderr)),
        job_id,
        by_admission=exit_status(exit_code) == ADMISSION_EXIT,
    )


def refusal_message(refusal: Refusal, request: str, reserved: str | None) -> str:
    """The one line that says `refusal` of `request` (resources and walltime), asked to
    start at `reserved` (Paris time) or as soon as possible. A job OAR created is said
    deleted (the caller deletes it), except after a reservation OAR could not place,
    which OAR itself ends in Error."""
    reason = refusal.reason or "no reason"
    deleted = f"; OAR job {refusal.job_id} was deleted" if refusal.job_id is not None else ""
    if refusal.timed_out_s is not None:
        said = f" (it had said: {refusal.reason})" if refusal.reason else ""
        return (
            f"oarsub did not answer within {refusal.timed_out_s:.0f}s and was stopped"
            f" ({request}){said}: OAR may be overloaded or unreachable; try again later"
            f"{deleted}"
        )
    if refusal.reservation_ko:
        in_error = (
            f"; OAR ended job {refusal.job_id} in Error (nothing is held)"
            if refusal.job_id is not None
            else ""
        )
        if refusal.could_start:
            advice = (
                f" (Paris time): ask for that start with"
                f" --frida-reservation='{refusal.could_start}'"
            )
        elif refusal.reason == TOO_OLD:
            advice = (
                ": by OAR's clock that start and walltime are already over; ask for a"
                " start in the future (--frida-reservation, Paris time)"
            )
        else:
            advice = ": pick another start, or ask for fewer nodes"
        return (
            f"OAR could not place the advance reservation ({request}) at {reserved}"
            f" Paris time: {reason}{advice}{in_error}"
        )
    if refusal.by_admission:
        return f"OAR's admission rules refused the job ({request}): {reason}{deleted}"
    return f"OAR refused the reservation ({request}): {reason}{deleted}"
