"""What this machine's kernel can do for network faults."""

from __future__ import annotations

import os
import subprocess


def netem_supported() -> bool:
    """Whether this kernel has the netem qdisc (some VM kernels are built without it)."""
    name = f"frida-netem-probe-{os.getpid()}"
    if subprocess.run(["ip", "netns", "add", name], capture_output=True).returncode != 0:
        return False
    try:
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                name,
                "tc",
                "qdisc",
                "add",
                "dev",
                "lo",
                "root",
                "netem",
                "delay",
                "1ms",
            ],
            capture_output=True,
        )
        return done.returncode == 0
    finally:
        subprocess.run(["ip", "netns", "del", name], capture_output=True)
