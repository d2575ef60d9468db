"""The SLO grammar: valid clauses parse and round-trip, bad ones name themselves."""

from __future__ import annotations

import operator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.measure.slo import (
    COUNT_METRICS,
    LATENCY_METRICS,
    Clause,
    ClauseVerdict,
    Slo,
    SloError,
    parse_slo,
)

OPS = {"<=": operator.le, "<": operator.lt, ">=": operator.ge, ">": operator.gt, "==": operator.eq}
UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
ALIASES = {"p999": "p99.9", "lost": "loss", "duplicated": "duplicates"}

op_st = st.sampled_from(sorted(OPS))
space = st.sampled_from(["", " ", "  "])


@st.composite
def decimal_text(draw: st.DrawFn, max_int: int = 10**6, max_frac_digits: int = 4) -> str:
    whole = draw(st.integers(0, max_int))
    digits = draw(st.integers(0, max_frac_digits))
    if digits == 0:
        return str(whole)
    frac = draw(st.integers(0, 10**digits - 1))
    return f"{whole}.{frac:0{digits}d}"


@st.composite
def latency_clause(draw: st.DrawFn) -> tuple[str, str, str, float]:
    metric = draw(st.sampled_from([*LATENCY_METRICS, "p999"]))
    op = draw(op_st)
    value = draw(decimal_text())
    unit = draw(st.sampled_from(sorted(UNIT_MS)))
    s1, s2, s3 = draw(space), draw(space), draw(space)
    text = f"{metric}{s1}{op}{s2}{value}{s3}{unit}"
    return text, ALIASES.get(metric, metric), op, float(value) * UNIT_MS[unit]


@st.composite
def count_clause(draw: st.DrawFn) -> tuple[str, str, str, float]:
    metric = draw(st.sampled_from([*COUNT_METRICS, "lost", "duplicated"]))
    op = draw(op_st)
    value = draw(st.integers(0, 10**9))
    text = f"{metric}{draw(space)}{op}{draw(space)}{value}"
    return text, ALIASES.get(metric, metric), op, float(value)


@st.composite
def delivered_clause(draw: st.DrawFn) -> tuple[str, str, str, float]:
    """Ratios and percentages of 0 or >= 0.0001, at most 6 significant digits.

    (The bounds keep the generated text short; any ratio round-trips, see the tests below.)
    """
    op = draw(op_st)
    if draw(st.booleans()):
        pct = draw(st.one_of(st.just(0), st.integers(10, 100_000)))  # 0.010% .. 100.000%
        text_value = f"{pct // 1000}.{pct % 1000:03d}%"
        threshold = round(pct / 1000 / 100.0, 12)
    else:
        ratio = draw(st.one_of(st.just(0), st.integers(10, 100_000)))  # 0.00010 .. 1.00000
        text_value = f"{ratio // 100_000}.{ratio % 100_000:05d}"
        threshold = float(text_value)
    return f"delivered{draw(space)}{op}{draw(space)}{text_value}", "delivered", op, threshold


any_clause = st.one_of(latency_clause(), count_clause(), delivered_clause())


def _key(c: Clause) -> tuple[str, str, float]:
    return c.metric, c.op, c.threshold


@settings(max_examples=150, deadline=None)
@given(
    clauses=st.lists(any_clause, min_size=1, max_size=6),
    seps=st.lists(st.sampled_from([",", ", ", " and ", " , "]), min_size=6, max_size=6),
    upper=st.lists(st.booleans(), min_size=6, max_size=6),
)
def test_generated_clauses_parse_and_round_trip(clauses, seps, upper):
    parts = [text.upper() if up else text for (text, *_), up in zip(clauses, upper, strict=False)]
    text = parts[0] + "".join(sep + part for sep, part in zip(seps, parts[1:], strict=False))
    slo = parse_slo(text)
    assert [_key(c) for c in slo.clauses] == [(m, o, t) for _, m, o, t in clauses]
    again = parse_slo(str(slo))
    assert [_key(c) for c in again.clauses] == [_key(c) for c in slo.clauses]
    assert [c.text for c in again.clauses] == [c.text for c in slo.clauses]
    assert str(again) == str(slo)


@pytest.mark.parametrize(
    "text",
    ["p99<=1s", "p99<=1000ms", "p99<=1000000us", "p99 <= 1.0 s", "p99<=1000.0ms"],
)
def test_unit_conversion_one_second(text):
    (clause,) = parse_slo(text).clauses
    assert clause.threshold == 1000.0
    assert clause.metric == "p99"


@settings(max_examples=100)
@given(st.integers(0, 10**6))
def test_unit_conversion_scales_exactly(n):
    s = parse_slo(f"max<{n}s").clauses[0].threshold
    ms = parse_slo(f"max<{n * 1000}ms").clauses[0].threshold
    us = parse_slo(f"max<{n * 1_000_000}us").clauses[0].threshold
    assert s == ms == us == n * 1000.0


def test_aliases_and_percentages_normalise():
    slo = parse_slo("p999<=5ms and lost==0 and duplicated<=2, delivered>=99.9%")
    assert [c.metric for c in slo.clauses] == ["p99.9", "loss", "duplicates", "delivered"]
    assert slo.clauses[3].threshold == pytest.approx(0.999, abs=1e-15)
    assert str(slo) == "p99.9<=5ms, loss==0, duplicates<=2, delivered>=0.999"


@pytest.mark.parametrize(
    ("text", "offending", "hint"),
    [
        ("p99<=250ms, latency<=5ms", "latency<=5ms", "unknown metric"),
        ("p99<=250", "p99<=250", "unit"),
        ("loss==0, p99<=250kg", "p99<=250kg", "unit"),
        ("p99<=250ms, loss<=1.5", "loss<=1.5", "whole number"),
        ("duplicates==2x", "duplicates==2x", "whole number"),
        ("delivered>=100.1%", "delivered>=100.1%", "between 0 and 1"),
        ("delivered>=1.5", "delivered>=1.5", "between 0 and 1"),
        ("delivered>=99ms", "delivered>=99ms", "percentage"),
        ("p99<=250ms, loss=0", "loss=0", "does not parse"),
        ("p99 <= -5ms", "p99 <= -5ms", "does not parse"),
        ("p99=<250ms", "p99=<250ms", "does not parse"),
    ],
)
def test_invalid_clauses_name_the_offending_text(text, offending, hint):
    with pytest.raises(SloError) as info:
        parse_slo(text)
    message = str(info.value)
    assert offending in message
    assert hint in message
    assert "\n" not in message


@pytest.mark.parametrize("text", ["", "   ", "\t"])
def test_empty_slo_is_rejected(text):
    with pytest.raises(SloError, match="empty SLO"):
        parse_slo(text)


def test_non_string_is_rejected():
    with pytest.raises(SloError, match="empty SLO"):
        parse_slo(None)  # type: ignore[arg-type]


@pytest.mark.parametrize("text", [",", " , ", "and", ", and ,"])
def test_separator_only_slo_is_rejected(text):
    with pytest.raises(SloError):
        parse_slo(text)


@pytest.mark.parametrize("text", ["delivered>=99.99999%", "delivered>=0.1234567"])
def test_delivered_round_trip_keeps_precision(text):
    slo = parse_slo(text)
    assert parse_slo(str(slo)).clauses[0].threshold == slo.clauses[0].threshold


@pytest.mark.parametrize("text", ["delivered>=0.001%", "delivered>0.00005"])
def test_delivered_small_ratio_text_is_parseable(text):
    slo = parse_slo(text)
    assert parse_slo(str(slo)).clauses[0].threshold == slo.clauses[0].threshold


@settings(max_examples=100)
@given(op=op_st, threshold=st.floats(0, 1e6), measured=st.floats(0, 1e6))
def test_clause_holds_applies_its_operator(op, threshold, measured):
    clause = Clause("p99", op, threshold, f"p99{op}{threshold}ms")
    assert clause.holds(measured) is OPS[op](measured, threshold)
    assert ClauseVerdict(clause, measured).passed is OPS[op](measured, threshold)
    assert ClauseVerdict(clause, None).passed is False


def test_evaluate_and_describe():
    slo = parse_slo("p99<=250ms, loss==0, delivered>=99.9%, max<1s")
    verdicts = slo.evaluate({"p99": 300.0, "loss": 0, "delivered": 1.0})
    assert [v.clause.metric for v in verdicts] == ["p99", "loss", "delivered", "max"]
    assert [v.passed for v in verdicts] == [False, True, True, False]
    assert verdicts[0].describe() == "p99<=250ms: measured 300ms [VIOLATED]"
    assert verdicts[1].describe() == "loss==0: measured 0 [ok]"
    assert verdicts[3].measured is None
    assert verdicts[3].describe() == "max<1s: measured not measured [VIOLATED]"


def test_boundaries_of_each_operator():
    at = {"p99": 250.0}
    assert parse_slo("p99<=250ms").evaluate(at)[0].passed
    assert not parse_slo("p99<250ms").evaluate(at)[0].passed
    assert parse_slo("p99>=0.25s").evaluate(at)[0].passed
    assert not parse_slo("p99>250000us").evaluate(at)[0].passed
    assert parse_slo("p99==250ms").evaluate(at)[0].passed


def test_slo_str_is_normalised_text():
    slo = parse_slo("  P99 <= 250 MS   and LOSS == 0 ")
    assert isinstance(slo, Slo)
    assert str(slo) == slo.text == "p99<=250ms, loss==0"
