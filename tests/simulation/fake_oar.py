#!/usr/bin/env python3
"""Fake OAR commands (oarsub, oarstat, oardel, oarprint) printing what Grid'5000's OAR 2.5
prints today (the "# "-prefixed messages and `oarstat -f` field names of the g5k14+ builds),
so that execo_g5k's real parsing code runs on them.

One script, dispatched on the name it is called by (symlinks on PATH). The "scheduler" is a
JSON file named by $FRIDA_FAKE_OAR_STATE:
    {"nodes": ["uvb-9.sophia.grid5000.fr", ...], "cluster": "uvb", "cores_per_node": 2,
     "start_after_s": 1.0, "mode": "normal" | "refuse" | "never_start", "jobs": {...},
     "dead": [node, ...], "production_clusters": [name, ...], "oar_version": "2.5" | "3",
     "admission": {"day_max_walltime_h": 2}, "now": "2026-12-07 10:00:00",
     "reservations": "refuse", "reservation_suggestion": "2026-12-07 21:00:00"}
A job waits `start_after_s`, then runs on the first free nodes; `refuse` answers as OAR
2.5.10 does when no resources could ever match (stderr "# There are not enough resources
for your request", then "# Error: please verify your job submission syntax.", nothing on
stdout, exit code 8: since OAR commit 0e9fa7d3, 2022, oarsub prints no negative
OAR_JOB_ID unless asked to be verbose); `never_start` leaves jobs Waiting. As on the
testbed, a dead node is never handed out (a job that needs it waits for ever), and a
cluster of the production queue matches no resource of the default queue: submitted
without `-q production` it is refused; with it, it waits (its nodes are not simulated).
Times are printed in Europe/Paris wall-clock time, as OAR does on Grid'5000; OAR 3 prints
`oarstat -f` walltimes in seconds where 2.5 prints H:M:S. `submit_gate` (a path) makes
oarsub slow: it holds after creating the job and before printing its id, until that file
exists.

`admission` turns on the usage policy as an admission rule: a job starting (now, or at
its advance reservation's start) 09:00-19:00 Paris time on a working day (Monday to
Friday) must end by 19:00 and, if `day_max_walltime_h` is given, last no longer; a job
starting at night or in a week-end must end by the next working day's 09:00. Whether
Grid'5000's own rules refuse all of this at submission is not public: the simulation
takes the harsher reading, and French public holidays are working days to it. A job is
refused as OAR refuses when a rule `die`s: the rule's message on stderr, no OAR_JOB_ID,
exit code 254 (OAR::IO's add_micheline_job returns -2, which oarsub passes to Perl's
exit). Real rules print informative "[ADMISSION RULE] ..." lines on stdout; one is printed
on every submission. The "Walltime too big" wording is OAR's sample rule's; the others are
OAR-style, NOT Grid'5000's confirmed text (its rules are not public): frida must quote,
never parse, them.
`now` (Paris time) is the clock of the admission rule only, so tests do not depend on
when they run.

`reservations: "refuse"` makes every advance reservation (`-r`) fail validation as OAR's
meta-scheduler fails one with no room: OAR_JOB_ID is printed, then
"# Reservation not valid --> KO (This reservation could run at <date>)" on stdout, the job
is in state Error with that message, and oarsub exits 10. The date is
`reservation_suggestion`, else the asked start plus two hours.
"""

from __future__ import annotations

import fcntl
import json
import os
import random
import re
import shlex
import sys
import time
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

PARIS = ZoneInfo("Europe/Paris")
FIRST_JOB_ID = 1894417
#: Grid'5000's day time, Paris hours of working days, kept for short jobs
DAY_START, DAY_END = 9, 19
#: oarsub's exit codes: a rule died (Perl's exit(-2)), an advance reservation was refused,
#: the submission failed (OAR_JOB_ID <= 0)
EXIT_ADMISSION, EXIT_RESERVATION_KO, EXIT_REFUSED = 254, 10, 8


@contextmanager
def _state() -> Any:
    path = Path(os.environ["FRIDA_FAKE_OAR_STATE"])
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        state = json.loads(path.read_text())
        state.setdefault("jobs", {})
        _advance(state)
        yield state
        path.write_text(json.dumps(state, indent=1))


def _paris(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, PARIS).strftime("%Y-%m-%d %H:%M:%S")


def _from_paris(text: str) -> float:
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=PARIS).timestamp()


def _walltime_text(seconds: int) -> str:
    return f"{seconds // 3600}:{seconds % 3600 // 60}:{seconds % 60}"


def _advance(state: dict[str, Any]) -> None:
    """Start waiting jobs whose time has come, end running jobs past their walltime."""
    now = time.time()
    busy = {n for j in state["jobs"].values() if j["state"] == "Running" for n in j["nodes"]}
    busy.update(state.get("dead", []))
    for job in sorted(state["jobs"].values(), key=lambda j: j["id"]):
        if (
            job["state"] == "Waiting"
            and state.get("mode") != "never_start"
            and job["queue"] != "production"
            and now >= job["start_at"]
        ):
            free = [n for n in state["nodes"] if n not in busy]
            if len(free) >= job["wanted_nodes"]:
                job["nodes"] = free[: job["wanted_nodes"]]
                busy.update(job["nodes"])
                job["state"], job["start_time"] = "Running", job["start_at"]
        if job["state"] == "Running" and now >= job["start_time"] + job["walltime"]:
            job["state"], job["stop_time"] = "Error", job["start_time"] + job["walltime"]


def _parse_walltime(text: str) -> int | None:
    m = re.fullmatch(r"(\d+)(?::(\d+))?(?::(\d+))?", text)
    if not m:
        return None
    h, mi, s = (int(g) if g else 0 for g in m.groups())
    return h * 3600 + mi * 60 + s


#: oarsub's options with a value that the simulation keeps, and those it reads past
_OARSUB_VALUES = {"-l": "resources", "-n": "name", "-q": "queue", "-r": "reservation"}
_OARSUB_IGNORED = ("-p", "-d", "--project", "-i")


def _oarsub_args(args: list[str]) -> dict[str, Any]:
    parsed: dict[str, Any] = {
        "resources": "",
        "types": [],
        "name": "",
        "queue": "default",
        "reservation": None,
        "command": "",
    }
    it = iter(args)
    for arg in it:
        if arg in _OARSUB_VALUES:
            parsed[_OARSUB_VALUES[arg]] = next(it)
        elif arg == "-t":
            parsed["types"].append(next(it))
        elif arg in _OARSUB_IGNORED:
            next(it)
        elif arg != "-k":
            parsed["command"] = arg
    return parsed


def _admission_clock(state: dict[str, Any]) -> float:
    """The admission rule's now: the state's `now` (Paris time) when set, so that tests
    do not depend on when they run."""
    return _from_paris(state["now"]) if state.get("now") else time.time()


def _next_working_morning(begin: datetime) -> datetime:
    """09:00 Paris time of the first working day after `begin` (Monday to Friday)."""
    day = begin.date() + timedelta(days=1 if begin.hour >= DAY_START else 0)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, DAY_START, tzinfo=PARIS)


def _admission_refusal(state: dict[str, Any], start: float, walltime: int) -> str | None:
    """What the usage-policy rule `die`s with for a job starting at `start`, or None: a
    day-time job (09:00-19:00 on working days) must end by 19:00, a night or week-end job
    by the next working day's 09:00."""
    rules = state.get("admission")
    if rules is None:
        return None
    begin = datetime.fromtimestamp(start, PARIS)
    end = start + walltime  # in seconds since the epoch: a clock change is no hour lost
    if begin.weekday() >= 5 or not DAY_START <= begin.hour < DAY_END:
        morning = _next_working_morning(begin)
        if end > morning.timestamp():
            return (
                "[ADMISSION RULE] Error: a night or week-end job must end by the next"
                f" working day's 09:00 ({morning:%Y-%m-%d %H:%M:%S}), this one would end at"
                f" {_paris(end)}"
            )
        return None
    limit_h = rules.get("day_max_walltime_h")
    if limit_h is not None and walltime > int(limit_h) * 3600:
        return (
            "[ADMISSION RULE] Error: Walltime too big for this job, it is limited to"
            f" {limit_h} hours"
        )
    if end > begin.replace(hour=DAY_END, minute=0, second=0, microsecond=0).timestamp():
        return (
            "[ADMISSION RULE] Error: a job starting in day time (09:00-19:00 on working"
            f" days) must end by 19:00, this one would end at {_paris(end)};"
            " use an advance reservation for the night or the week-end"
        )
    return None


def _refuse_reservation(state: dict[str, Any], job: dict[str, Any], start: float) -> str:
    """Fail an advance reservation's validation as OAR's meta-scheduler does when it has
    no room: the job goes to Error with the start it could have."""
    suggested = state.get("reservation_suggestion") or _paris(start + 2 * 3600)
    job["state"] = "Error"
    job["message"] = f"This reservation could run at {suggested}"
    return str(job["message"])


#: how long a held oarsub waits for its gate at most (a test that never opens it fails)
GATE_WAIT_S = 300.0


def _hold_at_gate(gate: str | None) -> None:
    """With `submit_gate`, a slow oarsub: the job exists in OAR, its id not yet printed,
    until the file `gate` exists (`<gate>.waiting` says it is there)."""
    if not gate:
        return
    Path(f"{gate}.waiting").touch()
    deadline = time.monotonic() + GATE_WAIT_S
    while not Path(gate).exists() and time.monotonic() < deadline:
        time.sleep(0.05)


def oarsub(args: list[str]) -> int:
    parsed = _oarsub_args(args)
    resources, types, name = parsed["resources"], parsed["types"], parsed["name"]
    queue, reservation, command = parsed["queue"], parsed["reservation"], parsed["command"]
    walltime = 3600
    wanted = 1
    for part in resources.split(","):
        if part.startswith("walltime="):
            seconds = _parse_walltime(part.removeprefix("walltime="))
            if seconds is None:
                print(f"# Error: cannot recognize -- ,{part} -- resource", file=sys.stderr)
                return 18
            walltime = seconds
        else:
            m = re.search(r"(?:nodes|host)=(\d+)", part)
            if m:
                wanted = int(m.group(1))
    start_at = time.time()
    if reservation is not None:
        try:
            start_at = (
                datetime.strptime(reservation, "%Y-%m-%d %H:%M:%S")
                .replace(tzinfo=PARIS)
                .timestamp()
            )
        except ValueError:
            print(
                "# Error: syntax error in <start date> for the -r or --reservation option."
                " The date must be in the format YYYY-MM-DD hh:mm:ss",
                file=sys.stderr,
            )
            return 7
    with _state() as state:
        if state.get("admission") is not None:
            print("[ADMISSION RULE] Modify resource description with type constraints")
            refusal = _admission_refusal(
                state, start_at if reservation is not None else _admission_clock(state), walltime
            )
            if refusal:
                print(f"{refusal}\n", file=sys.stderr)  # OAR warns "$@\n": die's text ends in \n
                return EXIT_ADMISSION
        cluster = re.search(r"cluster\s*=\s*'([^']+)'", resources)
        production = state.get("production_clusters", [])
        in_queue = production if queue == "production" else [state.get("cluster")]
        if (
            state.get("mode") == "refuse"
            or (queue != "production" and wanted > len(state["nodes"]))
            or (cluster and cluster.group(1) not in in_queue)
        ):
            # OAR 2.5.10: OAR::IO warns the reason and gives job id -5; oarsub prints an
            # OAR_JOB_ID only when it is positive (or with -v), then its own error
            print("# There are not enough resources for your request", file=sys.stderr)
            print("# Error: please verify your job submission syntax.", file=sys.stderr)
            return EXIT_REFUSED
        job_id = FIRST_JOB_ID + len(state["jobs"])
        state["jobs"][str(job_id)] = {
            "id": job_id,
            "name": name,
            "state": "Waiting",
            "queue": queue,
            "types": types,
            "wanted_nodes": wanted,
            "walltime": walltime,
            "nodes": [],
            "submission_time": time.time(),
            "command": command,
            "start_at": max(start_at, time.time()) + float(state.get("start_after_s", 1.0)),
            "resources": resources,
            "reservation": reservation,
        }
        ko = (
            _refuse_reservation(state, state["jobs"][str(job_id)], start_at)
            if reservation is not None and state.get("reservations") == "refuse"
            else None
        )
    _hold_at_gate(state.get("submit_gate"))
    print(f"OAR_JOB_ID={job_id}")
    if reservation is not None:  # oarsub prints these on stdout, as it prints the job id
        print("# Advance reservation request: waiting for validation...")
        if ko is not None:
            print(f"# Reservation not valid --> KO ({ko})")
            return EXIT_RESERVATION_KO
        print("# Reservation valid --> OK")
    return 0


def _job_arg(args: list[str]) -> str | None:
    for i, arg in enumerate(args):
        if arg.startswith("-") and "j" in arg and len(arg) > 2 and arg[-1] == "j":
            return args[i + 1] if i + 1 < len(args) else None
        if arg == "-j":
            return args[i + 1] if i + 1 < len(args) else None
    return None


def _message(job: dict[str, Any]) -> str:
    """oarstat's `message`: the scheduler's last word on the job."""
    if job.get("message"):
        return str(job["message"])
    if job["state"] == "Waiting":
        return "FIFO scheduling OK"
    return f"R={2 * len(job['nodes'])},W={_walltime_text(job['walltime'])},J=B"


def _full(job: dict[str, Any], oar_version: str) -> str:
    lines = [f"id: {job['id']}"]
    fields = [
        ("array_id", job["id"]),
        ("array_index", 1),
        ("name", job["name"]),
        ("project", "default"),
        ("owner", os.environ.get("USER", "root")),
        ("state", job["state"]),
        (
            "wanted_resources",
            f"-l \"{{type = 'default'}}/host={job['wanted_nodes']},"
            f'walltime={_walltime_text(job["walltime"])}" ',
        ),
        ("types", ", ".join(job["types"])),
        ("dependencies", ""),
        ("assigned_resources", "+".join(str(10 * i + 1) for i in range(len(job["nodes"])))),
        ("assigned_hostnames", "+".join(sorted(job["nodes"]))),
        ("queue", job["queue"]),
        ("command", job["command"]),
        ("launching_directory", os.getcwd()),
        ("stdout_file", f"OAR.{job['id']}.stdout"),
        ("stderr_file", f"OAR.{job['id']}.stderr"),
        ("type", "PASSIVE"),
        ("properties", "maintenance = 'NO'"),
        ("reservation", "Scheduled" if job["reservation"] else "None"),
        ("walltime", job["walltime"] if oar_version == "3" else _walltime_text(job["walltime"])),
        ("submission_time", _paris(job["submission_time"])),
    ]
    if job.get("start_time"):
        fields.append(("start_time", _paris(job["start_time"])))
    if job.get("stop_time"):
        fields.append(("stop_time", _paris(job["stop_time"])))
    fields += [
        ("cpuset_name", f"{os.environ.get('USER', 'root')}_{job['id']}"),
        ("initial_request", f"oarsub -l {job['resources']}"),
        ("message", _message(job)),
        (
            "scheduled_start",
            _paris(job["start_at"]) if job["state"] == "Waiting" else "no prediction",
        ),
        ("resubmit_job_id", 0),
        ("events", ""),
    ]
    lines += [f"    {key} = {value}" for key, value in fields]
    return "\n".join(lines) + "\n\n"


def oarstat(args: list[str]) -> int:
    job_id = _job_arg(args)
    flags = "".join(a[1:] for a in args if a.startswith("-") and not a.startswith("--"))
    with _state() as state:
        jobs = state["jobs"]
        cluster = state.get("cluster", "")
        cores = int(state.get("cores_per_node", 2))
        if job_id is None:  # oarstat / oarstat -u: the table of current jobs
            current = [j for j in jobs.values() if j["state"] in ("Waiting", "Running")]
            if current:
                print("Job id     Name           User           Submission Date     S Queue")
                print("---------- -------------- -------------- ------------------- - ----------")
            for j in current:
                print(
                    f"{j['id']:<10} {j['name'][:14]:<14} {os.environ.get('USER', 'root'):<14}"
                    f" {_paris(j['submission_time'])} {j['state'][0]} {j['queue']:<10}"
                )
            return 0
        job = jobs.get(str(job_id))
        if job is None:
            return 0  # OAR prints nothing for an unknown job
        if "s" in flags:
            print(f"{job['id']}: {job['state']}")
        elif "p" in flags:
            for n, node in enumerate(job["nodes"]):
                for core in range(cores):
                    props = [
                        ("network_address", node),
                        ("host", node),
                        ("cluster", cluster),
                        ("core", str(n * cores + core)),
                        ("cpu", str(n)),
                        ("type", "default"),
                    ]
                    random.shuffle(props)
                    print(" " + " , ".join(f"{k} = '{v}'" for k, v in props) + " ")
        elif "f" in flags:
            sys.stdout.write(_full(job, str(state.get("oar_version", "2.5"))))
    return 0


def oardel(args: list[str]) -> int:
    code = 0
    with _state() as state:
        for job_id in (a for a in args if a.isdigit()):
            job = state["jobs"].get(job_id)
            if job is None:
                print(f"Deleting the job = {job_id} ...ERROR.")
                print(f"Cannot frag {job_id} ; You are not the right user.", file=sys.stderr)
                code = 1
            elif job["state"] in ("Error", "Terminated"):
                print(f"Deleting the job = {job_id} ...ERROR.")
                print(f"Cannot frag {job_id} ; This job was already killed.", file=sys.stderr)
                code = 6
            else:
                print(f"Deleting the job = {job_id} ...REGISTERED.")
                print(f"The job(s) [ {job_id} ] will be deleted in the near future.")
                job["state"], job["stop_time"] = "Error", time.time()
    return code


def oarprint(args: list[str]) -> int:
    if not args or "-f" not in args:
        print("Usage: oarprint <key property name> [-f <file>|-] ...", file=sys.stderr)
        return 1
    prop = args[0]
    seen: dict[str, None] = {}
    for line in sys.stdin:
        pairs = dict(re.findall(r"(\w+) = '([^']*)'", line))
        if pairs and prop not in pairs:
            print(f"/usr/bin/oarprint: Unknown property '{prop}'", file=sys.stderr)
            return 255
        if prop in pairs:
            seen.setdefault(pairs[prop])
    values = list(seen)
    random.shuffle(values)  # real oarprint prints hosts in no particular order
    for value in values:
        print(value)
    return 0


def main() -> int:
    tool = Path(sys.argv[0]).name
    args = sys.argv[1:]
    if len(args) == 1 and " " in args[0]:  # called through a shell with one string
        args = shlex.split(args[0])
    commands = {"oarsub": oarsub, "oarstat": oarstat, "oardel": oardel, "oarprint": oarprint}
    if tool not in commands:
        print(
            f"fake_oar: called as {tool!r}; link it as one of {', '.join(commands)}",
            file=sys.stderr,
        )
        return 2
    with open(Path(os.environ["FRIDA_FAKE_OAR_STATE"]).with_suffix(".log"), "a") as log:
        log.write(shlex.join([tool, *args]) + "\n")
    return commands[tool](args)


if __name__ == "__main__":
    sys.exit(main())
