"""What this agent process has used so far: CPU time and peak memory (getrusage)."""

from __future__ import annotations

import resource


def cpu_seconds() -> float:
    """User and system CPU time of this process, every thread included."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def max_rss_mib() -> float:
    """The largest resident set this process has had (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
