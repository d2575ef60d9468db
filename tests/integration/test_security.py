"""Nothing of a local run listens beyond loopback."""

from __future__ import annotations

from pathlib import Path

import pytest

SUITE = r'''
import os
import subprocess
import time

import pytest

def _listening(pid):
    """Local addresses of the TCP sockets process `pid` listens on, from /proc."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    found = []
    for table, width in (("/proc/net/tcp", 8), ("/proc/net/tcp6", 32)):
        with open(table) as fh:
            next(fh)
            for line in fh:
                parts = line.split()
                local, state, inode = parts[1], parts[3], parts[9]
                if state == "0A" and inode in inodes:  # LISTEN
                    found.append(local)
    return found


def test_brokers_listen_on_loopback_only(frida_cluster):
    # a cluster answers once its brokers registered; a broker's own client listener can
    # open a moment later on a loaded machine, so the sockets are read until every
    # broker and controller port is there (bounded: never a pass on fewer)
    deadline = time.monotonic() + 60
    while True:
        pids = subprocess.run(["pgrep", "-f", "kafka.Kafka"], capture_output=True,
                              text=True).stdout.split()
        addresses = [a for pid in pids for a in _listening(pid)]
        if len(addresses) >= 2 * len(frida_cluster.brokers) or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert pids
    assert len(addresses) >= 2 * len(frida_cluster.brokers)  # broker and controller ports
    loopback = {"0100007F", "0000000000000000FFFF00000100007F"}  # 127.0.0.1, v4 or v4-in-v6
    for address in addresses:
        host = address.split(":")[0]
        assert host in loopback, f"a broker listens on {address} (not 127.0.0.1)"
'''


def test_local_site_listens_on_loopback_only(
    pytester: pytest.Pytester, tmp_path: Path, leak_check: None
) -> None:
    pytester.makepyfile(test_listen=SUITE)
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--frida-brokers=2", f"--frida-report-dir={tmp_path}", timeout=200
    )
    result.assert_outcomes(passed=1)
