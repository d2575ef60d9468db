"""Clock offsets from ping-pong samples, and when a cross-host latency can be trusted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pytest_frida.measure.clocks import ClockOffset, judge, offset_from_samples
from pytest_frida.runtimes.clock_sync import chrony_script, parse_tracking

MS = 1_000_000


def test_offset_uses_the_fastest_round_trip() -> None:
    # host 500 ms ahead; the first sample's reply was slow one way
    samples = [(0, 530 * MS, 40 * MS), (100 * MS, 601 * MS, 102 * MS)]
    off = offset_from_samples("h", samples)
    assert off.offset_ms == pytest.approx(500.0)
    assert off.uncertainty_ms == pytest.approx(1.0)


@given(st.integers(-10**9, 10**9), st.integers(0, 10**7), st.integers(0, 10**7))
def test_true_offset_lies_within_the_uncertainty(offset: int, out: int, back: int) -> None:
    t1 = 10**12
    t_agent = t1 + out + offset           # agent stamps after the ping travelled `out`
    t4 = t1 + out + back                  # and the pong travelled `back`
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
    assert got == {"reference": "C0248F82 (time.example.org)", "system_time_ms": -0.017432,
                   "last_offset_ms": 0.011451}
    fast = parse_tracking(TRACKING.replace("slow of NTP", "fast of NTP"))
    assert fast["system_time_ms"] == 0.017432
    with pytest.raises(ValueError, match="no 'System time' line"):
        parse_tracking("506 Cannot talk to daemon\n")


def test_chrony_script_runs_root_commands_through_the_site_prefix() -> None:
    g5k = chrony_script("sudo-g5k")
    assert g5k.startswith("set -e\nS=sudo-g5k\n")
    assert "$S chronyc -a makestep" in g5k and g5k.rstrip().endswith("chronyc tracking")
    assert "S='sudo -n'" in chrony_script(None)  # elsewhere: sudo, unless already root
