"""Brokers on other machines: one shell command prints the kernel's files, the same
parsers read them, and what a node cannot give is said, never zero."""

from __future__ import annotations

import os
import shlex
import subprocess

from pytest_frida.measure.sampler import STAMP
from pytest_frida.runtimes.node_monitor import (
    IO_ABSENT,
    IO_UNPARSED,
    IO_UNREADABLE,
    NodeBroker,
    NodeBrokerMonitor,
    files_of,
    parse_reading,
    reading_script,
)


def run_here(host: str, command: str, timeout: float) -> str:
    """The node is this machine: the reading script runs in a local shell."""
    return subprocess.run(
        ["sh", "-c", command], capture_output=True, text=True, timeout=timeout, check=True
    ).stdout


def test_a_reading_of_a_real_process_parses_into_counters(tmp_path) -> None:
    broker = NodeBroker("here", f"echo {os.getpid()}", shlex.quote(str(tmp_path)))
    process, node, disk, problems = parse_reading(run_here("here", reading_script(broker), 10))
    assert process["cpu_s"] > 0 and process["rss_bytes"] > 0
    assert process["node_cores"] == len(os.sched_getaffinity(0))  # the cores it may use
    assert node["host_total_ticks"] >= node["host_busy_ticks"] > 0
    # tmp_path may sit on an overlay or tmpfs that /proc/diskstats does not list: then
    # it is said, and the disk is left out rather than zero
    assert disk or problems == ["its data directory's disk is not in the node's /proc/diskstats"]


def test_the_container_script_reads_the_cgroup_this_machine_puts_a_process_in() -> None:
    # this test's own process stands for a container's: its cgroup, v1 or v2
    broker = NodeBroker("here", f"echo {os.getpid()}", "/", container=True)
    done = subprocess.run(
        ["sh", "-c", reading_script(broker)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    _, files = files_of(done.stdout)
    assert any(path.endswith(("/cpuacct.usage", "/cpu.stat")) for path in files), done.stderr
    process, _, _, problems = parse_reading(done.stdout)
    assert process["cpu_s"] > 0 and "broker process" not in " ".join(problems)


def test_a_known_pid_is_kept_while_its_process_lives() -> None:
    broker = NodeBroker("here", "echo 1", "/")
    alive = files_of(run_here("here", reading_script(broker, os.getpid()), 10))[0]
    assert alive["pid"] == str(os.getpid())  # not asked again
    gone = files_of(run_here("here", reading_script(broker, 2**22 + 1), 10))[0]
    assert gone["pid"] == "1"  # that pid is no process: found again


def test_a_broker_that_is_not_running_is_named_and_the_node_still_read() -> None:
    broker = NodeBroker("here", "true", "/")
    process, node, _, problems = parse_reading(run_here("here", reading_script(broker), 10))
    assert process == {} and node  # no broker figures, not even its node's cores
    assert problems[0] == "no broker process on its node (stopped, or not started)"


def test_a_containers_cgroup_counts_over_its_process() -> None:
    stat = "4242 (java) S 1 " + " ".join(["0"] * 10) + " 150 50 " + " ".join(["0"] * 30)
    text = "\n".join(
        [
            "@pid 4242",
            "@dev 8 0",
            f"/proc/4242/stat:{stat}",
            "/proc/4242/status:VmRSS:\t  2048 kB",
            "/proc/4242/io:read_bytes: 10",
            "/proc/4242/io:write_bytes: 20",
            "/sys/fs/cgroup/system.slice/docker-ab.scope/cpu.stat:usage_usec 3500000",
            "/sys/fs/cgroup/system.slice/docker-ab.scope/cpu.stat:user_usec 3000000",
            "/sys/fs/cgroup/system.slice/docker-ab.scope/memory.current:734003200",
            "/proc/stat:cpu  100 0 50 800 0 0 0 0 0 0",
            "/proc/stat:cpu0 50 0 25 400 0 0 0 0 0 0",
            "/proc/stat:cpu1 50 0 25 400 0 0 0 0 0 0",
            "/proc/stat:intr 1 2 3",
            "/proc/diskstats:   8       0 sda 1 0 2 3 4 0 80 5 0 700 900 0 0 0 0 6 7",
        ]
    )
    process, node, disk, problems = parse_reading(text)
    assert process["cpu_s"] == 3.5  # the cgroup's, every process of the container
    assert process["memory_bytes"] == 734003200 and process["rss_bytes"] == 2048 * 1024
    assert process["write_bytes"] == 20 and process["node_cores"] == 2
    # a cpuset (or an OAR core reservation) is the broker's ceiling, not the node's cores
    pinned, _, _, _ = parse_reading(
        text.replace(
            "VmRSS:\t  2048 kB", "VmRSS:\t  2048 kB\n/proc/4242/status:Cpus_allowed_list:\t0-2,7"
        )
    )
    assert pinned["node_cores"] == 4
    assert node == {"host_busy_ticks": 150.0, "host_total_ticks": 950.0}
    assert disk == {"disk_busy_ms": 700.0, "disk_written_bytes": 80 * 512.0, "disk_flushes": 6.0}
    assert problems == []
    assert files_of("@a x\n/p:1\n/p:2") == ({"a": "x"}, {"/p": "1\n2"})


def test_the_monitor_stamps_sources_and_says_what_it_could_not_read(tmp_path) -> None:
    brokers = {
        0: NodeBroker("here", f"echo {os.getpid()}", shlex.quote(str(tmp_path))),
        1: NodeBroker("gone", "true", "/"),
    }

    def run(host: str, command: str, timeout: float) -> str:
        if host == "gone":
            raise OSError("ssh: connect to host gone port 22: Connection refused")
        return run_here(host, command, timeout)

    monitor = NodeBrokerMonitor(run, brokers, {}, "--frida-monitor=off")
    read = monitor.read()
    assert read["broker-0"]["cpu_s"] > 0 and STAMP in read["broker-0"]
    assert "host here" in read and "broker-1" not in read
    problems = monitor.take_problems()
    assert problems["broker-1 node"].startswith("gone did not answer: ssh: connect")
    assert problems["broker-0 Kafka metrics"] == "--frida-monitor=off"


def test_a_broker_of_another_user_is_said_to_have_no_storage_bytes() -> None:
    """The login cannot read /proc/<pid>/io of a process it does not own (Kafka's image
    runs the broker as appuser): grep goes past it, and the monitor says so, under the
    name the local monitor uses, rather than leave the figure out in silence."""
    broker = NodeBroker("node", "echo 4242", "/")
    stat = "4242 (java) S 1 " + " ".join(["0"] * 10) + " 150 50 " + " ".join(["0"] * 30)
    text = f"@pid 4242\n@dev 8 0\n/proc/4242/stat:{stat}\n/proc/stat:cpu  1 0 1 8 0 0 0 0 0 0\n"
    process, _, _, problems = parse_reading(text)
    assert process["cpu_s"] > 0 and "write_bytes" not in process
    assert problems[0] == IO_UNREADABLE
    # the same reading without the file, or with a file that held nothing, says that
    assert parse_reading(text.replace("@dev", "@io absent\n@dev"))[3][0] == IO_ABSENT
    read = text.replace("/proc/stat:", "/proc/4242/io:rchar: 5\n/proc/stat:")
    assert parse_reading(read)[3][0] == IO_UNPARSED
    monitor = NodeBrokerMonitor(lambda host, command, timeout: text, {0: broker}, {}, "off")
    assert "write_bytes" not in monitor.read()["broker-0"]
    said = monitor.take_problems()
    assert said["broker-0 storage bytes"] == f"node: {IO_UNREADABLE}", said
    assert "broker-0" not in said  # the broker itself was read


def test_a_source_that_failed_only_outside_the_window_is_not_missing(monkeypatch) -> None:
    monitor = NodeBrokerMonitor(run_here, {}, {})
    clock = iter([100.0, 101.0, 110.0])
    monkeypatch.setattr("pytest_frida.runtimes.monitor.time.time", lambda: next(clock))
    monitor.note("broker-0 Kafka metrics", "the exporter did not answer")  # warm-up, 100 s
    monitor.note("disk", "no block device")  # 101 s
    monitor.note("disk", "no block device")  # 110 s, inside the window
    assert monitor.take_problems((105.0, 115.0)) == {"disk": "no block device"}
    assert monitor.take_problems() == {}  # taken: the next step starts clean
