"""Cumulative resource counters of a process, a cgroup and a block device, from the
kernel's own text files.

Every parser takes the file's text, so a reader on another host (over ssh) or in a
container's cgroup hands over the same text and gets the same figures. Counters are
cumulative (CPU seconds, bytes, milliseconds busy); turning two readings into rates is
measure.resources' job. A figure a file does not give is left out, never set to zero.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

#: clock ticks per second of /proc/<pid>/stat's utime and stime
CLOCK_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def parse_pid_stat(text: str, ticks: int = CLOCK_TICKS) -> dict[str, float]:
    """CPU seconds (user + system) from /proc/<pid>/stat. The command name in brackets may
    hold spaces and brackets of its own, so fields are counted after its last ')'."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime and stime are fields 14 and 15
    return {"cpu_s": (int(rest[11]) + int(rest[12])) / ticks}


#: the flag /proc/<pid>/stat's ninth field carries for a kernel thread
PF_KTHREAD = 0x00200000


def parse_kernel_thread_cpu(text: str, ticks: int = CLOCK_TICKS) -> float | None:
    """A kernel thread's CPU seconds from its /proc/<pid>/stat, None for a process: the
    journal, writeback and softirq threads that do a process's I/O and networking run
    under no process of their own."""
    rest = text[text.rindex(")") + 2 :].split()
    # rest[6] is field 9 (flags)
    if not int(rest[6]) & PF_KTHREAD:
        return None
    return (int(rest[11]) + int(rest[12])) / ticks


def read_kernel_threads(proc: Path = Path("/proc")) -> dict[str, float]:
    """The CPU seconds of every kernel thread of this host (`kernel_cpu_s`), summed. A
    thread that exits takes its seconds along, which resources reads as a counter going
    backwards and drops for that interval."""
    total = 0.0
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            seconds = parse_kernel_thread_cpu((entry / "stat").read_text())
            if seconds is not None:
                total += seconds
    return {"kernel_cpu_s": total}


def parse_pid_status(text: str) -> dict[str, float]:
    """Resident memory in bytes from /proc/<pid>/status (VmRSS, in kB)."""
    for line in text.splitlines():
        if line.startswith("VmRSS:"):
            return {"rss_bytes": float(int(line.split()[1]) * 1024)}
    return {}


def parse_pid_io(text: str) -> dict[str, float]:
    """Bytes the process caused to be read from and written to storage (/proc/<pid>/io)."""
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    out = {}
    for key, name in (("read_bytes", "read_bytes"), ("write_bytes", "write_bytes")):
        if key in fields:
            out[name] = float(int(fields[key]))
    return out


def parse_diskstats(text: str, major: int, minor: int) -> dict[str, float]:
    """One device's line of /proc/diskstats: milliseconds the device was busy (io_ticks,
    whose rate is its utilisation), sectors written (512 bytes each), and flush requests
    completed (kernels 5.5 and later), the fsyncs that reached the device."""
    for line in text.splitlines():
        fields = line.split()
        if len(fields) >= 14 and fields[0] == str(major) and fields[1] == str(minor):
            out = {
                "disk_busy_ms": float(fields[12]),
                "disk_written_bytes": float(int(fields[9]) * 512),
            }
            if len(fields) >= 20:
                out["disk_flushes"] = float(fields[18])
            return out
    return {}


def parse_cgroup_cpu(text: str, version: int) -> dict[str, float]:
    """CPU seconds of a cgroup: v2's cpu.stat (usage_usec) or v1's cpuacct.usage (ns)."""
    if version == 1:
        return {"cpu_s": int(text.strip()) / 1e9}
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "usage_usec":
            return {"cpu_s": int(value) / 1e6}
    return {}


def parse_cgroup_memory(text: str) -> dict[str, float]:
    """Memory in use by a cgroup, page cache included (memory.current or
    memory.usage_in_bytes): a container's figure, not a process's resident set."""
    return {"memory_bytes": float(int(text.strip()))}


def read_process(pid: int) -> dict[str, float]:
    """The counters of local process `pid`; raises OSError when it is gone. /proc/<pid>/io
    needs the right to trace the process: without it, storage bytes are left out."""
    base = Path(f"/proc/{pid}")
    out = parse_pid_stat((base / "stat").read_text())
    out.update(parse_pid_status((base / "status").read_text()))
    with contextlib.suppress(OSError):
        out.update(parse_pid_io((base / "io").read_text()))
    return out


def device_of(path: Path) -> tuple[int, int] | None:
    """(major, minor) of the block device holding `path`; None for a file system without
    one (tmpfs, overlay's upper layer in memory)."""
    dev = os.stat(path).st_dev
    major, minor = os.major(dev), os.minor(dev)
    return None if major == 0 else (major, minor)


def read_disk(device: tuple[int, int]) -> dict[str, float]:
    """The counters of a local block device (empty when /proc/diskstats lacks it)."""
    return parse_diskstats(Path("/proc/diskstats").read_text(), *device)


def cgroup_paths(text: str) -> dict[str, str]:
    """/proc/<pid>/cgroup as controller -> path; "" is the v2 (unified) hierarchy."""
    out = {}
    for line in text.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, path = parts
        for controller in controllers.split(",") if controllers else [""]:
            out[controller] = path.lstrip("/")
    return out


def _first_readable(candidates: list[Path]) -> str | None:
    for candidate in candidates:
        try:
            return candidate.read_text()
        except OSError:
            continue
    return None


def read_cgroup(pid: int, root: Path = Path("/sys/fs/cgroup")) -> dict[str, float]:
    """CPU seconds and memory of the cgroup process `pid` is in (a container's, seen from
    its host): v1's cpuacct and memory controllers where mounted, else v2's files. A
    figure whose file cannot be read is left out; OSError when the process is gone."""
    paths = cgroup_paths(Path(f"/proc/{pid}/cgroup").read_text())
    out: dict[str, float] = {}
    if "cpuacct" in paths:
        rel = paths["cpuacct"]
        text = _first_readable(
            [
                root / mount / rel / "cpuacct.usage"
                for mount in ("cpuacct", "cpu,cpuacct", "cpuacct,cpu")
            ]
        )
        if text is not None:
            out.update(parse_cgroup_cpu(text, 1))
    elif "" in paths:
        text = _first_readable(
            [root / paths[""] / "cpu.stat", root / "unified" / paths[""] / "cpu.stat"]
        )
        if text is not None:
            out.update(parse_cgroup_cpu(text, 2))
    if "memory" in paths:
        text = _first_readable([root / "memory" / paths["memory"] / "memory.usage_in_bytes"])
    elif "" in paths:
        text = _first_readable([root / paths[""] / "memory.current"])
    else:
        text = None
    if text is not None:
        out.update(parse_cgroup_memory(text))
    return out
