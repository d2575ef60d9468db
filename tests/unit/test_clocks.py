"""Clock offsets from ping-pong samples, and when a cross-host latency can be trusted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.measure.clocks import ClockOffset, judge, offset_from_samples
from pytest_frida.runtimes.clock_sync import chrony_script, parse_sync_output, parse_tracking

MS = 1_000_000


def test_offset_uses_the_fastest_round_trip() -> None:
    # host 500 ms ahead; the first sample's reply was slow one way
    samples = [(0, 530 * MS, 40 * MS), (100 * MS, 601 * MS, 102 * MS)]
    off = offset_from_samples("h", samples)
    assert off.offset_ms == pytest.approx(500.0)
    assert off.uncertainty_ms == pytest.approx(1.0)


@given(st.integers(-(10**9), 10**9), st.integers(0, 10**7), st.integers(0, 10**7))
def test_true_offset_lies_within_the_uncertainty(offset: int, out: int, back: int) -> None:
    t1 = 10**12
    t_agent = t1 + out + offset  # agent stamps after the ping travelled `out`
    t4 = t1 + out + back  # and the pong travelled `back`
    got = offset_from_samples("h", [(t1, t_agent, t4)])
    assert abs(got.offset_ms * MS - offset) <= got.uncertainty_ms * MS + 1


def _off(host: str, ms: float, unc: float = 0.5) -> ClockOffset:
    return ClockOffset(host, ms, unc, 15)


def test_skew_is_untrusted_without_correction_and_trusted_with_it() -> None:
    before = {"c": _off("c", 0), "p1": _off("p1", 0.2), "p2": _off("p2", 500)}
    after = {"c": _off("c", 0.1), "p1": _off("p1", 0.3), "p2": _off("p2", 500.5)}
    raw = judge("c", ["p1", "p2"], before, after, corrected=False, latency_bound_ms=250)
    assert not raw.trusted and raw.error_ms > 500 and "p2 vs c" in raw.detail
    fixed = judge("c", ["p1", "p2"], before, after, corrected=True, latency_bound_ms=250)
    assert fixed.trusted and fixed.error_ms < 2


def test_drift_during_the_step_counts_even_when_corrected() -> None:
    before = {"c": _off("c", 0), "p": _off("p", 0)}
    after = {"c": _off("c", 0), "p": _off("p", 40)}
    assert not judge("c", ["p"], before, after, True, 250).trusted  # 41 ms > 25 ms


def test_without_a_latency_clause_nothing_is_withheld() -> None:
    before = {"c": _off("c", 0), "p": _off("p", 900)}
    assert judge("c", ["p"], before, before, False, None).trusted


TRACKING = """Reference ID    : C0248F82 (time.example.org)
Stratum         : 4
Ref time (UTC)  : Thu Dec 03 10:20:23 2026
System time     : 0.000017432 seconds slow of NTP time
Last offset     : +0.000011451 seconds
RMS offset      : 0.000032218 seconds
Frequency       : 13.307 ppm slow
Leap status     : Normal
"""


def test_chrony_tracking_is_read_into_milliseconds() -> None:
    got = parse_tracking(TRACKING)
    assert got == {
        "reference": "C0248F82 (time.example.org)",
        "system_time_ms": -0.017432,
        "last_offset_ms": 0.011451,
    }
    fast = parse_tracking(TRACKING.replace("slow of NTP", "fast of NTP"))
    assert fast["system_time_ms"] == 0.017432
    with pytest.raises(ValueError, match="no 'System time' line"):
        parse_tracking("506 Cannot talk to daemon\n")


def test_chrony_script_runs_root_commands_through_the_site_prefix() -> None:
    g5k = chrony_script("sudo-g5k")
    assert g5k.startswith("set -e\nS=sudo-g5k\n")
    assert "$S chronyc -a makestep" in g5k and g5k.rstrip().endswith("chronyc tracking")
    assert "S='sudo -n'" in chrony_script(None)  # elsewhere: sudo, unless already root


NTPQ_RV = """associd=0 status=0615 leap_none, sync_ntp, 1 event, clock_sync,
version="ntpd 4.2.8p15@1.3728-o Wed Sep 23 11:46:38 UTC 2020 (1)",
processor="x86_64", system="Linux/5.10.0-23-amd64", leap=00, stratum=3,
precision=-23, rootdelay=0.612, rootdisp=14.310, refid=172.16.143.1,
reftime=e8c1d2a4.5d5b0000  Thu, Oct  5 2023 10:00:04.364,
clock=e8c1d2f0.b4b1c2d3  Thu, Oct  5 2023 10:01:20.705, peer=12345, tc=10,
mintc=3, offset=-0.028114, frequency=-12.345, sys_jitter=0.012345,
clk_jitter=0.021, clk_wander=0.002, tai=37, leapsec=201701010000,
expire=202312280000
"""


def test_a_nodes_ntpd_is_read_not_replaced() -> None:
    script = chrony_script("sudo-g5k")
    assert script.index("ntpq -c rv") < script.index("apt-get")  # asked first
    assert "apt-get update" in script  # a fresh node's package lists are stale
    got = parse_sync_output("frida-daemon: ntpd\n" + NTPQ_RV)
    # ntpd's offset is the reference's: this clock is 0.028 ms fast
    assert got == {
        "daemon": "ntpd",
        "synchronised": True,
        "reference": "172.16.143.1",
        "system_time_ms": 0.028114,
        "stratum": 3,
    }
    lost = parse_sync_output(
        "frida-daemon: ntpd\n"
        + NTPQ_RV.replace("leap_none, sync_ntp", "leap_alarm, sync_unspec").replace(
            "leap=00", "leap=11"
        )
    )
    assert lost["synchronised"] is False and "not synchronised" in str(lost["problem"])
    # an ntpd that follows only its own undisciplined clock measures its offset from itself
    local = parse_sync_output(
        "frida-daemon: ntpd\n"
        + NTPQ_RV.replace("sync_ntp", "sync_local")
        .replace("172.16.143.1", "LOCL")
        .replace("stratum=3", "stratum=10")
    )
    assert local["synchronised"] is False
    assert "following its own local clock (refid LOCL)" in str(local["problem"])
    unset = parse_sync_output("frida-daemon: ntpd\n" + NTPQ_RV.replace("stratum=3", "stratum=16"))
    assert unset["synchronised"] is False and "stratum 16" in str(unset["problem"])


def test_a_chrony_without_a_source_is_not_called_synchronised() -> None:
    synced = parse_sync_output("frida-daemon: chrony\nfrida-waitsync: ok\n" + TRACKING)
    assert synced["synchronised"] is True and synced["daemon"] == "chrony"
    lost = parse_sync_output(
        "frida-daemon: chrony\nfrida-waitsync: no source to follow within 30 s\n"
        + TRACKING.replace("Leap status     : Normal", "Leap status     : Not synchronised")
    )
    assert lost["synchronised"] is False
    assert lost["problem"] == (
        "chrony found no source to follow within 30 s; chrony is not synchronised"
    )
