#!/usr/bin/env python3
"""chrony on a simulated node (linked as chronyd and chronyc in the nodes' PATH).

`chronyd` starts "the daemon"; `chronyc` answers as chrony 4 does (`200 OK`, `506 Cannot
talk to daemon`, the `waitsync` and `tracking` lines). The node's clock is its libfaketime
offset in the testbed's skew file: `makestep` steps it to the reference (the offset becomes
+0, which every process of the node reads within a second), and `tracking` reports the
remaining error. Nothing here touches this machine's real clock, which the nodes share.
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
REFERENCE = "0A90FEFE (ntp.sophia.grid5000.fr)"


def offset_s() -> float:
    spec = CLOCK.read_text().strip() if CLOCK.exists() else ""
    return float(spec or 0)


def tracking() -> str:
    now = offset_s()
    last = json.loads(STATE.read_text()).get("last_offset", 0.0) if STATE.exists() else 0.0
    return (f"Reference ID    : {REFERENCE}\n"
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
            "Leap status     : Normal\n")


def chronyc(args: list[str]) -> int:
    words = [a for a in args if a != "-a"]
    command = " ".join(words).split()
    if not RUNNING.exists():
        print("506 Cannot talk to daemon", file=sys.stderr)
        return 1
    if command[:1] == ["burst"]:
        print("200 OK")
    elif command[:1] == ["waitsync"]:
        print(f"try: 1, refid: {REFERENCE.split()[0]}, correction: {-offset_s():.9f},"
              " skew: 0.017")
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
    print(f"fake_chrony: called as {tool!r}; link it as chronyd or chronyc", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
