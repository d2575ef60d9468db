"""ptpd's statistics read, and the script that starts it on a node: no network."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from pytest_frida.runtimes.ptp import (
    PtpDomain,
    PtpState,
    parse_statistics,
    run_domain,
    start_script,
)
from pytest_frida.runtimes.ssh import SshSettings

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
    assert parse_statistics(STATS) == PtpState(
        "slv", "f66cc4fffec3d90c(unknown)/1", -0.013494, 0.038531
    )
    # before it follows a master: a state and no figures
    listening = "\n".join(STATS.splitlines()[:3])
    assert parse_statistics(listening) == PtpState("lstn_init", "1", None, None)
    assert parse_statistics("") is None
    assert parse_statistics(STATS.splitlines()[0]) is None  # the header alone


def test_ptpd_runs_as_master_or_slave_on_the_route_to_the_master() -> None:
    master = start_script(
        "sudo-g5k", "10.144.0.9", True, "/tmp/frida-ptpd-r-uvb-9.stats", run_domain("r")
    )
    slave = start_script(
        None, "10.144.0.9", False, "/tmp/frida-ptpd-r-uvb-10.stats", run_domain("r")
    )
    assert "ip -o route get 10.144.0.9" in slave
    domain = run_domain("r")
    assert 4 <= domain <= 127 and run_domain("r") == domain != run_domain("another run")
    # ptpd writes its own pid: the root prefix in front of it may fork
    assert (
        f"""exec $S sh -c 'echo $$ > "$0"; exec "$@"' /tmp/frida-ptpd-r-uvb-9.stats.pid"""
        f""" ptpd -i "$dev" -M -d {domain} \\\n  -C -L -S /tmp/frida-ptpd-r-uvb-9.stats""" in master
    ), master
    assert f'ptpd -i "$dev" -s -d {domain} \\\n  -C -L -S /tmp/frida-ptpd-r-uvb-10.stats' in slave
    assert "S=sudo-g5k" in master and "S='sudo -n'" in slave  # root through the site
    assert "apt-get update" in slave


def _own_addresses() -> dict[str, str]:
    out = subprocess.run(
        ["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True
    ).stdout
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
        stats = tmp_path / "stats"
        script = start_script("env", address, master, str(stats), 9)
        done = subprocess.run(
            ["sh", "-c", script], capture_output=True, text=True, env=env, timeout=30, check=False
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.split()[:4] == ["-i", wanted, "-M" if master else "-s", "-d"]
        # the pid file names the process that ran ptpd (here the fake, which has exited)
        assert int((tmp_path / "stats.pid").read_text()) > 1


MASTER_CLOCK = "3aaacefffedca123(unknown)/1"


class _Domain(PtpDomain):
    """ptpd's decisions over given statistics lines and exit codes: no ssh."""

    def __init__(self, states: dict[str, PtpState | None], exited: dict[str, str]) -> None:
        super().__init__(SshSettings(), None, "r", Path("/nonexistent"))
        self.master = "uvb-9"
        self.states, self.exits = states, exited

    def _state(self, host: str) -> tuple[PtpState | None, str | None]:
        return self.states.get(host), None

    def _exited(self, host: str) -> str | None:
        return self.exits.get(host)


def _line(state: str, clock: str = MASTER_CLOCK) -> PtpState:
    return PtpState(state, clock, 0.01, 0.02)


def test_a_master_is_synchronised_only_while_it_runs_as_master() -> None:
    assert _Domain({"uvb-9": _line("mst")}, {}).read("uvb-9")["synchronised"] is True
    passive = _Domain({"uvb-9": _line("pass")}, {}).read("uvb-9")
    assert passive["synchronised"] is False and "state pass" in str(passive["problem"])
    # its statistics still end in mst, but its pid is gone
    dead = _Domain({"uvb-9": _line("mst")}, {"uvb-9": "pid 77 no longer runs"}).read("uvb-9")
    assert dead["synchronised"] is False
    assert "ptpd has gone: pid 77 no longer runs" in str(dead["problem"])


def test_a_slave_is_synchronised_only_while_following_our_master() -> None:
    ours = _Domain({"uvb-10": _line("slv")}, {})
    assert ours.read("uvb-10", MASTER_CLOCK)["synchronised"] is True
    other = _Domain({"uvb-10": _line("slv", "0011223344556677(unknown)/1")}, {})
    record = other.read("uvb-10", MASTER_CLOCK)
    assert record["synchronised"] is False and "not our master's" in str(record["problem"])
    # our master not (yet) master: a slave following something cannot be checked
    assert ours.read("uvb-10", None)["synchronised"] is False
    gone = _Domain({"uvb-10": _line("slv")}, {"uvb-9": "pid 7 no longer runs"}).read(
        "uvb-10", MASTER_CLOCK
    )
    assert gone["synchronised"] is False and "master uvb-9 has gone" in str(gone["problem"])
    # the host name each node looked up for the clock is not part of its identity
    renamed = _Domain({"uvb-10": _line("slv", "3aaacefffedca123(uvb-9)/1")}, {})
    assert renamed.read("uvb-10", MASTER_CLOCK)["synchronised"] is True


def test_waiting_ends_at_once_when_the_master_has_exited(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_sleep(_: float) -> None:
        raise AssertionError("waited for a master that has gone")

    monkeypatch.setattr("pytest_frida.runtimes.ptp.time.sleep", no_sleep)
    domain = _Domain(
        {"uvb-9": None, "uvb-10": _line("lstn_init", "")}, {"uvb-9": "pid 7 no longer runs"}
    )
    records = domain.wait(["uvb-9", "uvb-10"], lambda _: None)
    assert not records["uvb-9"]["synchronised"] and not records["uvb-10"]["synchronised"]
