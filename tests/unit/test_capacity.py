"""The capacity limit from steps, and the search that finds it in few steps."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pytest_frida.measure.result import StepResult
from pytest_frida.measure.slo import parse_slo
from pytest_frida.measure.trials import MOST_TRIALS, Trials
from pytest_frida.report.capacity import base_test_id, capacity_limit, limits_by_test
from pytest_frida.search import CapacitySearch, SearchSpecError, knee_next, parse_search


def step(producers: int, verdict: str, test: str = "t.py::test_x") -> StepResult:
    s = StepResult(
        test=f"{test}[producers={producers}]",
        producers=producers,
        rate_per_producer=1,
        duration_s=1,
        warmup_s=0,
        message_size=64,
        partitions=1,
        slo="p99<=1s",
    )
    s.verdict = verdict
    return s


@pytest.mark.parametrize(
    ("verdicts", "status", "limit", "first_fail"),
    [
        ({1: "pass", 10: "pass", 50: "fail"}, "bracketed", 10, 50),
        ({1: "pass", 10: "pass"}, "not_reached", 10, None),
        ({1: "fail", 10: "fail"}, "below_range", None, 1),
        ({1: "pass", 10: "fail", 50: "pass"}, "noisy", 1, 10),
        ({1: "generator_bound"}, "no_data", None, None),
        # generator-bound and error steps never decide
        ({1: "pass", 10: "generator_bound", 50: "error", 100: "fail"}, "bracketed", 1, 100),
    ],
)
def test_limit_from_verdicts(
    verdicts: dict[int, str], status: str, limit: int | None, first_fail: int | None
) -> None:
    got = capacity_limit("t", [step(n, v) for n, v in verdicts.items()])
    assert (got.status, got.limit, got.first_fail) == (status, limit, first_fail)
    assert got.describe()


def test_a_count_goes_by_the_majority_of_its_trials() -> None:
    got = capacity_limit(
        "t",
        [step(5, "pass"), step(10, "pass"), step(10, "fail"), step(10, "fail"), step(5, "pass")],
    )
    assert (got.status, got.limit, got.first_fail) == ("confirmed", 5, 10)
    assert "passes at 5 (2 of 2), fails at 10 (2 of 3)" in got.describe()
    once = capacity_limit("t", [step(5, "pass"), step(10, "fail")])
    assert once.status == "bracketed" and "not confirmed" in once.describe()


def test_steps_that_disagreed_around_a_confirmed_limit_are_said() -> None:
    # today's third run of the host-limit search: 30 confirmed, yet single steps passed
    # up to 36 and one failed at 32
    trials = {30: "pp", 32: "pff", 34: "pff", 36: "pff", 38: "f", 40: "f"}
    got = capacity_limit(
        "t", [step(n, {"p": "pass", "f": "fail"}[v]) for n, vs in trials.items() for v in vs]
    )
    assert (got.status, got.limit, got.mixed) == ("confirmed", 30, (32, 36))
    assert "steps both passed and failed from 32 to 36 producers" in got.describe()
    assert got.to_dict()["mixed"] == (32, 36)
    # every step agreeing with its count's majority: nothing to say
    clean = capacity_limit("t", [step(5, "pass"), step(5, "pass"), step(6, "fail")])
    assert clean.mixed is None and "both passed and failed" not in clean.describe()
    # a lone minority failure below the limit shows too
    low = capacity_limit(
        "t", [step(n, v) for n, v in [(4, "pass"), (4, "fail"), (4, "pass"), (6, "fail")]]
    )
    assert low.mixed == (4, 4)
    # a minority at the bracket's own ends is in the bracket's words already
    ends = capacity_limit(
        "t", [step(n, v) for n, v in [(38, "pass")] * 2 + [(40, "pass")]] + [step(40, "fail")] * 2
    )
    assert ends.mixed == (40, 40) and "fails at 40 (2 of 3)" in ends.describe()
    assert "both passed and failed" not in ends.describe()


def test_a_limit_says_where_half_of_all_its_steps_pass() -> None:
    trials = {4: "p", 16: "p", 24: "p", 30: "pp", 32: "pff", 34: "pff", 36: "pff", 38: "f"}
    got = capacity_limit(
        "t", [step(n, {"p": "pass", "f": "fail"}[v]) for n, vs in trials.items() for v in vs]
    )
    assert got.pass_point is not None
    assert 30.0 < got.pass_point.estimate < 36.0
    assert f"; half the steps pass at {got.pass_point.estimate:.1f} producers" in got.describe()
    assert got.to_dict()["pass_point"]["estimate"] == got.pass_point.estimate
    # not reached: nothing failed, nothing to place
    reached = capacity_limit("t", [step(4, "pass"), step(8, "pass")])
    assert reached.pass_point is None and "half the steps" not in reached.describe()
    assert reached.to_dict()["pass_point"] is None


def test_a_tied_count_decides_nothing() -> None:
    got = capacity_limit("t", [step(5, "pass"), step(10, "pass"), step(10, "fail")])
    assert got.status == "not_reached" and got.limit == 5


def test_limits_group_steps_by_test_without_the_producer_parameter() -> None:
    steps = [step(1, "pass", "a.py::t"), step(2, "fail", "a.py::t"), step(1, "pass", "b.py::u")]
    assert [lim.test for lim in limits_by_test(steps)] == ["a.py::t", "b.py::u"]
    assert base_test_id("a.py::t[producers=5]") == "a.py::t"
    assert base_test_id("a.py::t[x-producers=5-y]") == "a.py::t[x-y]"
    assert base_test_id("a.py::t[search=1:100:10%]") == "a.py::t"


@pytest.mark.parametrize("text", ["", "5", "0:10", "10:5", "1:100:0", "1:100:100%", "a:b"])
def test_bad_search_specs(text: str) -> None:
    with pytest.raises(SearchSpecError):
        parse_search(text)


def run_search(
    spec: str, true_limit: int, one_offs: frozenset[int] = frozenset()
) -> tuple[CapacitySearch, list[int]]:
    """A search against a hidden limit; the counts in `one_offs` get the wrong verdict
    the first time they run (a transient), the right one after."""
    search = CapacitySearch(parse_search(spec))
    tried: list[int] = []
    while (count := search.next_count()) is not None:
        right = "pass" if count <= true_limit else "fail"
        wrong = "fail" if right == "pass" else "pass"
        search.record(count, wrong if count in one_offs and count not in tried else right)
        tried.append(count)
        assert len(tried) <= search.budget
    return search, tried


def assert_bracketed(search: CapacitySearch, true_limit: int, tol: int, pct: str) -> None:
    assert search.stopped is not None and search.stopped.startswith("confirmed"), search.stopped
    assert search.last_pass is not None and search.first_fail is not None
    assert search.last_pass <= true_limit < search.first_fail
    gap = search.first_fail - search.last_pass
    allowed = max(1.0, search.last_pass * tol / 100) if pct else tol
    assert gap <= max(1, allowed)
    for end in (search.last_pass, search.first_fail):
        assert search.trials.confirmed(end)


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 5000), st.integers(1, 50), st.sampled_from(["%", ""]))
def test_search_brackets_the_true_limit_within_tolerance(
    true_limit: int, tol: int, pct: str
) -> None:
    search, tried = run_search(f"1:4000:{tol}{pct}", true_limit)
    if true_limit >= 4000:
        assert search.last_pass == 4000 and search.first_fail is None
        return
    assert_bracketed(search, true_limit, tol, pct)
    # each end measured twice, every other count once
    assert len(tried) == len(set(tried)) + 2


@settings(max_examples=300, deadline=None)
@given(
    st.integers(2, 3000),
    st.integers(5, 30),
    st.sampled_from(["%", ""]),
    st.frozensets(st.integers(1, 4000), max_size=3),
    st.data(),
)
def test_one_off_failures_do_not_move_the_limit(
    true_limit: int, tol: int, pct: str, others: frozenset[int], data: st.DataObject
) -> None:
    # transients anywhere, the bracket's own ends included
    near = data.draw(st.frozensets(st.integers(max(1, true_limit - 3), true_limit + 3), max_size=2))
    search, _ = run_search(f"1:4000:{tol}{pct}", true_limit, others | near)
    assert_bracketed(search, true_limit, tol, pct)


def test_a_pass_above_a_failure_is_noise_not_a_limit() -> None:
    noisy = capacity_limit(
        "t",
        [
            step(4, "pass"),
            step(4, "pass"),
            step(8, "fail"),
            step(8, "fail"),
            step(16, "pass"),
            step(16, "pass"),
        ],
    )
    assert noisy.status == "noisy" and noisy.spread == (8, 16)
    assert "no limit claimed above 4" in noisy.describe()


def test_search_moves_up_past_too_few_samples_while_probing() -> None:
    search = CapacitySearch(parse_search("1:100"))
    search.record(1, "insufficient")
    assert search.next_count() == 2
    search.record(2, "pass")
    search.record(4, "insufficient")  # once a count judged, undecided steps stop it
    assert search.next_count() is None


def test_search_uses_fewer_steps_than_a_fine_sweep() -> None:
    _, tried = run_search("1:2000:5%", 537)
    sweep = len(range(25, 2001, 25))  # a sweep fine enough for 5% at ~500
    assert len(tried) < sweep / 4


def test_search_stops_on_an_undecided_step() -> None:
    search = CapacitySearch(parse_search("1:100"))
    search.record(1, "pass")
    search.record(2, "error")
    assert search.next_count() is None
    assert search.stopped is not None and "error" in search.stopped


@settings(max_examples=200, deadline=None)
@given(st.integers(1, 300), st.integers(2, 400))
def test_a_harness_bound_step_caps_the_search_below_it(true_limit: int, ceiling: int) -> None:
    """The harness cannot drive `ceiling` producers or more (generator-bound, which judges
    nothing): the search goes on below it, confirming the broker's limit when it lies
    there, else stopping at "at least" a pass within tolerance of the ceiling, and never
    runs a count at or above the ceiling twice."""
    search = CapacitySearch(parse_search("4:1000:10%"))
    tried: list[int] = []
    while (count := search.next_count()) is not None:
        if count >= ceiling:
            verdict = "generator_bound"
        else:
            verdict = "pass" if count <= true_limit else "fail"
        search.record(count, verdict)
        tried.append(count)
        assert len(tried) <= search.budget
    # each count the harness could not drive ran once: it lowered the ceiling
    above = [n for n in tried if n >= ceiling]
    assert len(above) == len(set(above))
    assert search.stopped is not None
    if search.stopped.startswith("confirmed"):
        assert search.last_pass is not None and search.first_fail is not None
        assert search.last_pass <= true_limit < search.first_fail < ceiling
    elif ceiling <= 4:
        assert search.stopped.startswith("the harness could not drive")
    elif true_limit < 4:
        assert search.stopped.startswith("below range")
    else:
        assert search.stopped.startswith("harness-bound"), search.stopped
        lo = search.last_pass
        assert lo is not None and lo <= true_limit and lo < ceiling
        assert search.ceiling is not None and search.ceiling >= ceiling
        assert search.ceiling - lo <= 1 or search.spec.close_enough(lo, search.ceiling)
        assert search.trials.confirmed(lo)


def test_the_main_jobs_generator_bound_probe_is_searched_below() -> None:
    """README's main job on a quiet run: 4, 8, 16 and 32 passed and 64 was
    generator-bound; the search went no further. It now bisects below 64."""
    search = CapacitySearch(parse_search("4:64:10%"))
    for count, verdict in [(4, "pass"), (8, "pass"), (16, "pass"), (32, "pass")]:
        search.record(count, verdict)
    search.record(64, "generator_bound")
    assert search.next_count() == 48 and search.ceiling == 64


def test_search_below_range_is_confirmed_first() -> None:
    search, tried = run_search("10:100", 5)
    assert tried == [10, 10] and search.stopped is not None and "below range" in search.stopped


def lossy(producers: int) -> StepResult:
    s = step(producers, "fail")
    s.verdicts = parse_slo("loss==0").evaluate({"loss": 5})
    return s


def test_a_count_that_lost_messages_is_never_outvoted() -> None:
    steps = [
        step(10, "pass"),
        step(10, "pass"),
        lossy(20),
        step(20, "pass"),
        step(20, "pass"),
        step(40, "fail"),
        step(40, "fail"),
    ]
    got = capacity_limit("t", steps)
    assert (got.status, got.limit, got.first_fail) == ("confirmed", 10, 20)
    # nor fitted away: the passes at 20 would put half the steps passing above it
    assert got.pass_point is None and "half the steps pass at" not in got.describe()
    assert "no point where half the steps pass: messages lost or the cluster gone at 20" in (
        got.describe()
    )
    # a loss above the bracket is named too: the bracket's ends do not say it
    above = capacity_limit("t", [*steps[:2], step(20, "fail"), step(20, "fail"), lossy(40)])
    assert "messages lost or the cluster gone at 40 producers" in above.describe(), above
    honest = capacity_limit("t", [s if s.producers != 20 else step(20, "fail") for s in steps])
    assert honest.pass_point is not None
    trials = Trials.of(s.trial() for s in steps)
    assert trials.confirmed(20) and trials.verdict(20) == "fail"


def test_a_sweep_resolves_ties_first_and_caps_every_count() -> None:
    trials = Trials.of([(10, "pass"), (10, "fail"), (20, "fail"), (20, "fail")])
    # 10 split 1:1 gets its deciding trial before anything else
    assert knee_next(trials, {10: 2, 20: 2}, 20) == 10
    # a count that keeps deciding nothing stops after MOST_TRIALS steps of any kind
    undecided = Trials.of([(20, "fail")])
    assert knee_next(undecided, {20: 1}, 20) == 20
    assert knee_next(undecided, {20: MOST_TRIALS}, 20) is None
    # a pass above a confirmed failure is measured again before anything is claimed
    above = Trials.of([(10, "pass"), (10, "pass"), (20, "fail"), (20, "fail"), (40, "pass")])
    assert knee_next(above, {10: 2, 20: 2, 40: 1}, 40) == 40


def test_the_clusters_first_step_does_not_decide_what_saturated_first() -> None:
    def attributed(producers: int, resource: str | None, primed: float | None = None) -> StepResult:
        s = step(producers, "pass")
        s.primed_s = primed
        s.attribution = {
            "party": "host" if resource else None,
            "resource": resource,
            "sentence": f"{resource} 95% busy" if resource else "inconclusive",
        }
        return s

    limit = capacity_limit(
        "t",
        [attributed(4, "host CPU", primed=5.0), attributed(8, None), attributed(16, "host CPU")],
    )
    assert limit.saturation is not None
    assert limit.saturation.startswith(
        "host CPU saturated first, from 16 producers (the cluster's first step is left out"
    )
    assert "it said host CPU" in limit.saturation
    # a first step that agrees with the later ones changes nothing, and alone it counts
    same = capacity_limit("t", [attributed(4, None, primed=5.0), attributed(8, "host CPU")])
    assert same.saturation == "host CPU saturated first, from 8 producers"
    alone = capacity_limit("t", [attributed(4, "host CPU", primed=5.0)])
    assert alone.saturation == "host CPU saturated first, from 4 producers"


def test_a_limit_whose_steps_place_no_pass_point_says_so() -> None:
    """Two counts far apart, each with a dissenting step: the steps cannot tell where half
    pass, and the report says that rather than print nothing."""
    outcomes = [(1, "pass"), (1, "fail"), (1, "pass"), (40, "fail"), (40, "pass"), (40, "fail")]
    steps = [step(n, verdict) for n, verdict in outcomes]
    got = capacity_limit("t", steps)
    assert (got.status, got.limit, got.pass_point) == ("confirmed", 1, None)
    assert "place no point where half of them pass" in got.describe(), got.describe()
