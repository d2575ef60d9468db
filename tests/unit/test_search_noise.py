"""`frida bench --search-noise`: the real search against a simulated knee."""

from __future__ import annotations

from pytest_frida.bench.search_noise import SearchNoise, simulate


def test_a_sharp_knee_is_confirmed_every_time_within_a_count() -> None:
    noise = simulate(x50=33.0, scale=0.3, searches=30)
    assert len(noise.limits) == 30
    assert set(noise.limits) <= {32, 33}
    assert noise.held >= 27
    assert 8 <= noise.steps_mean <= 20
    assert "30 of 30 confirmed a limit" in noise.describe()


def test_a_wide_knee_scatters_the_limits() -> None:
    sharp = simulate(x50=33.0, scale=0.5, searches=60)
    wide = simulate(x50=33.0, scale=3.0, searches=60)
    assert max(wide.limits) - min(wide.limits) > max(sharp.limits) - min(sharp.limits)
    assert (wide.triples_within(10.0) or 0.0) < (sharp.triples_within(10.0) or 0.0)


def test_three_limits_agree_when_their_spread_is_within_the_share() -> None:
    noise = SearchNoise(33.0, 1.5, 6, (30, 32, 33, 30, 34, 36), (), 0, 12.0)
    assert noise.triples_within(10.0) == 0.5  # 30..33 is 10%, 30..36 is 20%
    assert noise.triples_within(25.0) == 1.0
    assert SearchNoise(33.0, 1.5, 2, (30, 31), (), 0, 12.0).triples_within() is None
