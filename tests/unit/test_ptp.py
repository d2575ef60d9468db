"""ptpd's statistics read, and the script that starts it on a node: no network."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from pytest_frida.runtimes.ptp import PtpState, parse_statistics, start_script

# ptpd 2.3.1's statistics file, as a slave on a veth wrote it
STATS = """# Timestamp, State, Clock ID, One Way Delay, Offset From Master, Slave to Master, \
Master to Slave, Observed Drift, Last packet Received, One Way Delay Mean, One Way Delay \
Std Dev, Offset From Master Mean, Offset From Master Std Dev, Observed Drift Mean, Observed \
Drift Std Dev, raw delayMS, raw delaySM
2026-12-03 17:35:37.122761, init,
2026-12-03 17:35:37.224614, lstn_init,  1
2026-12-03 17:36:39.224774, slv, f66cc4fffec3d90c(unknown)/1,  0.000038531, -0.000013494,  \
0.000031790,  0.000008085, 0.000000000, S, 0.000000000, 0, 0.000000000, 0, 0, 0,  \
0.000008085,  0.000031790
"""


def test_the_last_line_gives_state_offset_and_delay_in_ms() -> None:
    assert parse_statistics(STATS) == PtpState("slv", -0.013494, 0.038531)
    # before it follows a master: a state and no figures
    listening = "\n".join(STATS.splitlines()[:3])
    assert parse_statistics(listening) == PtpState("lstn_init", None, None)
    assert parse_statistics("") is None
    assert parse_statistics(STATS.splitlines()[0]) is None  # the header alone


def test_ptpd_runs_as_master_or_slave_on_the_route_to_the_master() -> None:
    master = start_script("sudo-g5k", "10.144.0.9", True, "/tmp/frida-ptpd-r-uvb-9.stats")
    slave = start_script(None, "10.144.0.9", False, "/tmp/frida-ptpd-r-uvb-10.stats")
    assert "ip -o route get 10.144.0.9" in slave
    assert master.rstrip().endswith(
        'exec $S ptpd -i "$dev" -M -C -L -S /tmp/frida-ptpd-r-uvb-9.stats')
    assert slave.rstrip().endswith(
        'exec $S ptpd -i "$dev" -s -C -L -S /tmp/frida-ptpd-r-uvb-10.stats')
    assert "S=sudo-g5k" in master and "S='sudo -n'" in slave  # root through the site
    assert "apt-get update" in slave


def _own_addresses() -> dict[str, str]:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[3].split("/")[0]: line.split()[1] for line in out.splitlines()}


def test_the_master_listens_on_the_interface_holding_its_address(tmp_path: Path) -> None:
    """`ip route get` names `lo` for a node's own address, and a master on `lo` is heard by
    nobody: the script asks which interface holds the address instead. Run here, with a
    `ptpd` that only prints its arguments."""
    addresses = {a: dev for a, dev in _own_addresses().items() if dev != "lo"}
    assert addresses, "this machine has no IPv4 address outside lo"
    address, dev = next(iter(addresses.items()))
    fake = tmp_path / "ptpd"
    fake.write_text('#!/bin/sh\necho "$@"\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    for master, wanted in ((True, dev), (False, "lo")):  # a slave on the master itself: lo
        script = start_script("env", address, master, str(tmp_path / "stats"))
        done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, env=env,
                              timeout=30, check=False)
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[:2] == ["-i", wanted], done.stdout
