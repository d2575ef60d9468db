#!/usr/bin/env python3
"""Time daemons on a simulated node: chrony (linked as chronyd and chronyc in the nodes'
PATH) and the ntpd that Grid'5000's nodes run (linked as ntpq).

`chronyd` starts "the daemon"; `chronyc` answers as chrony 4 does (`200 OK`, `506 Cannot
talk to daemon`, the `waitsync` and `tracking` lines). The node's clock is its libfaketime
offset in the testbed's skew file: `makestep` steps it to the reference (the offset becomes
+0, which every process of the node reads within a second), and `tracking` reports the
remaining error. A node whose chrony reaches no source (the testbed's `chrony-nosource-NODE`
file) never synchronises: `waitsync` gives up, `makestep` changes nothing, `tracking` says
"Not synchronised". A node runs ntpd when the testbed's `ntpd-NODE` file exists (holding
"synced" or "alarm"): `ntpq -c rv` answers as ntp 4.2.8 does, with the node's offset;
without it, ntpq cannot reach a daemon (and exits 0, as the real one does). Nothing here
touches this machine's real clock, which the nodes share.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

WORK = Path(os.environ["FRIDA_SIM_DIR"])
SHORT = os.environ["FRIDA_SIMULATED_NODE"].split(".", 1)[0]
CLOCK = WORK / f"skew-{SHORT}"
RUNNING = WORK / f"chronyd-{SHORT}.running"
STATE = WORK / f"chrony-{SHORT}.json"
NO_SOURCE = WORK / f"chrony-nosource-{SHORT}"
NTPD = WORK / f"ntpd-{SHORT}"
REFERENCE = "0A90FEFE (ntp.sophia.grid5000.fr)"


def offset_s() -> float:
    spec = CLOCK.read_text().strip() if CLOCK.exists() else ""
    return float(spec or 0)


def tracking() -> str:
    now = offset_s()
    last = json.loads(STATE.read_text()).get("last_offset", 0.0) if STATE.exists() else 0.0
    lost = NO_SOURCE.exists()
    return (
        f"Reference ID    : {'00000000 ()' if lost else REFERENCE}\n"
        "Stratum         : 3\n"
        "Ref time (UTC)  : Tue Dec 01 16:00:00 2026\n"
        f"System time     : {abs(now):.9f} seconds {'fast' if now >= 0 else 'slow'} of NTP"
        " time\n"
        f"Last offset     : {last:+.9f} seconds\n"
        "RMS offset      : 0.000021456 seconds\n"
        "Frequency       : 2.113 ppm slow\n"
        "Residual freq   : +0.001 ppm\n"
        "Skew            : 0.017 ppm\n"
        "Root delay      : 0.000254123 seconds\n"
        "Root dispersion : 0.000512345 seconds\n"
        "Update interval : 2.0 seconds\n"
        f"Leap status     : {'Not synchronised' if lost else 'Normal'}\n"
    )


def ntpq(args: list[str]) -> int:
    if not NTPD.exists():  # ntp 4.2.8's ntpq says so and still exits 0
        print("ntpq: read: Connection refused", file=sys.stderr)
        return 0
    if args != ["-c", "rv"]:
        print(f"fake ntpq: only -c rv is simulated, not {args}", file=sys.stderr)
        return 1
    synced = NTPD.read_text().strip() == "synced"
    status = (
        "0615 leap_none, sync_ntp, 1 event, clock_sync"
        if synced
        else "c618 leap_alarm, sync_unspec, 1 event, no_sys_peer"
    )
    sys.stdout.write(
        f"associd=0 status={status},\n"
        'version="ntpd 4.2.8p15@1.3728-o Wed Sep 23 11:46:38 UTC 2020 (1)",\n'
        f'processor="x86_64", system="Linux/5.10.0-23-amd64", leap={"00" if synced else "11"},'
        f" stratum={3 if synced else 16},\n"
        "precision=-23, rootdelay=0.612, rootdisp=14.310,"
        f" refid={'172.16.143.1' if synced else 'INIT'},\n"
        "reftime=e8c1d2a4.5d5b0000  Thu, Oct  5 2023 10:00:04.364,\n"
        "clock=e8c1d2f0.b4b1c2d3  Thu, Oct  5 2023 10:01:20.705, peer=12345, tc=10,\n"
        f"mintc=3, offset={-offset_s() * 1000:.6f}, frequency=-12.345, sys_jitter=0.012345,\n"
        "clk_jitter=0.021, clk_wander=0.002, tai=37, leapsec=201701010000,\n"
        "expire=202312280000\n"
    )
    return 0


def chronyc(args: list[str]) -> int:
    words = [a for a in args if a != "-a"]
    command = " ".join(words).split()
    if not RUNNING.exists():
        print("506 Cannot talk to daemon", file=sys.stderr)
        return 1
    if command[:1] == ["burst"]:
        print("200 OK")
    elif command[:1] == ["waitsync"]:
        if NO_SOURCE.exists():
            print("try: 1, refid: 00000000, correction: 0.000000000, skew: 0.000")
            return 1
        print(f"try: 1, refid: {REFERENCE.split()[0]}, correction: {-offset_s():.9f}, skew: 0.017")
    elif command[:1] == ["makestep"] and NO_SOURCE.exists():
        print("200 OK")  # nothing to step to
    elif command[:1] == ["makestep"]:
        stepped = -offset_s()
        if CLOCK.exists() and CLOCK.read_text().strip():
            CLOCK.write_text("+0\n")  # the node's clock now follows the reference
        STATE.write_text(json.dumps({"last_offset": stepped}))
        print("200 OK")
    elif command[:1] == ["tracking"]:
        sys.stdout.write(tracking())
    else:
        print(f"Unrecognized command: {' '.join(command)}", file=sys.stderr)
        return 1
    return 0


def main() -> int:
    tool = Path(sys.argv[0]).name
    if tool == "chronyd":
        RUNNING.touch()
        return 0
    if tool == "chronyc":
        return chronyc(sys.argv[1:])
    if tool == "ntpq":
        return ntpq(sys.argv[1:])
    print(f"fake_chrony: called as {tool!r}; link it as chronyd, chronyc or ntpq", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
