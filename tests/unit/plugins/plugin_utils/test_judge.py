"""The canary judge: Mann-Whitney U against scipy, and the judge's pass / fail / inconclusive rules."""
from __future__ import annotations

import itertools
import json
import math
import statistics
import time
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from scipy.stats import mannwhitneyu
from scipy.stats._mannwhitneyu import _mwu_choose_method  # scipy's own "auto" rule, to check ours against

from ansible_collections.liftoff.release.plugins.plugin_utils.judge import (
    ALTERNATIVES,
    Judgement,
    MannWhitney,
    _exact_sf,
    _p_text,
    _u_counts,
    choose_method,
    judge,
    mann_whitney_u,
    significance_level,
)

PROPERTY = settings(max_examples=300, deadline=None, derandomize=True)
REL = 1e-9

alternatives = st.sampled_from(ALTERNATIVES)


def tied(max_size: int, min_size: int = 1) -> st.SearchStrategy[list[float]]:
    """Small integers: ties within and across samples are common."""
    return st.lists(st.integers(0, 6).map(float), min_size=min_size, max_size=max_size)


def spread(max_size: int, min_size: int = 1) -> st.SearchStrategy[list[float]]:
    """Wide-ranging floats: ties are rare."""
    return st.lists(st.floats(min_value=-1e6, max_value=1e6, allow_nan=False), min_size=min_size, max_size=max_size)


def scipy_p(x: list[float], y: list[float], alternative: str, method: str = "auto") -> float:
    return float(mannwhitneyu(x, y, alternative=alternative, method=method).pvalue)


def assert_agrees(x: list[float], y: list[float], alternative: Any) -> MannWhitney:
    ours = mann_whitney_u(x, y, alternative)
    theirs = mannwhitneyu(x, y, alternative=alternative, method="auto")
    assert ours.u == pytest.approx(float(theirs.statistic), rel=REL, abs=0)
    assert (ours.n_x, ours.n_y) == (len(x), len(y))
    if math.isnan(theirs.pvalue):
        # scipy's two-sided z is 0/0 when every value is the same; ours says "no evidence".
        assert alternative == "two-sided" and len(set(x + y)) == 1 and ours.p_value == 1.0
    else:
        assert ours.p_value == pytest.approx(float(theirs.pvalue), rel=REL, abs=0)
    return ours


# --------------------------------------------------------------------------- mann_whitney_u vs scipy

@PROPERTY
@given(tied(12), tied(12), alternatives)
def test_agrees_with_scipy_small_with_ties(x: list[float], y: list[float], alternative: Any) -> None:
    assert_agrees(x, y, alternative)


@PROPERTY
@given(spread(12), spread(12), alternatives)
def test_agrees_with_scipy_small_without_ties(x: list[float], y: list[float], alternative: Any) -> None:
    assert_agrees(x, y, alternative)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(st.one_of(tied(150, 30), spread(150, 30)), st.one_of(tied(150, 30), spread(150, 30)), alternatives)
def test_agrees_with_scipy_large(x: list[float], y: list[float], alternative: Any) -> None:
    assert_agrees(x, y, alternative)


@settings(max_examples=100, deadline=None, derandomize=True)
@given(spread(8), spread(400, 30), alternatives, st.booleans())
def test_agrees_with_scipy_one_small_one_large(small: list[float], large: list[float], alternative: Any,
                                               swap: bool) -> None:
    x, y = (large, small) if swap else (small, large)
    assert_agrees(x, y, alternative)


@PROPERTY
@given(st.one_of(tied(20), spread(20)), st.one_of(tied(20), spread(20)), alternatives)
def test_method_is_scipys_auto_choice(x: list[float], y: list[float], alternative: Any) -> None:
    ours = mann_whitney_u(x, y, alternative)
    has_ties = len(set(x + y)) < len(x + y)
    assert ours.method == _mwu_choose_method(len(x), len(y), has_ties)
    assert ours.method == choose_method(len(x), len(y), has_ties)
    # and the p-value is the one scipy's named method gives, not merely the auto one
    theirs = scipy_p(x, y, alternative, ours.method)
    assert ours.p_value == (1.0 if math.isnan(theirs) else pytest.approx(theirs, rel=REL, abs=0))


@pytest.mark.parametrize(("n_x", "n_y", "ties", "method"), [
    (3, 5000, False, "exact"),       # only ONE sample needs to be small
    (8, 8, False, "exact"),
    (8, 200, False, "exact"),
    (9, 9, False, "asymptotic"),     # both above 8
    (2, 2, True, "asymptotic"),      # any tie, however small the samples
])
def test_scipy_auto_rule(n_x: int, n_y: int, ties: bool, method: str) -> None:
    x = [float(i) for i in range(n_x)]
    y = [i + 0.5 for i in range(n_y)]
    if ties:
        y[0] = x[0]
    result = assert_agrees(x, y, "two-sided")
    assert result.method == method == _mwu_choose_method(n_x, n_y, ties)


def test_exact_with_one_huge_sample_is_fast_and_right() -> None:
    x = [i * 7.5 + 0.25 for i in range(8)]
    y = [float(i) for i in range(5000)]
    start = time.perf_counter()
    for alternative in ALTERNATIVES:
        assert assert_agrees(x, y, alternative).method == "exact"
    assert time.perf_counter() - start < 5.0  # generous for a loaded CI machine; ~0.2 s here


@pytest.mark.parametrize(("n1", "n2"), [(1, 1), (1, 5), (2, 3), (3, 3), (4, 6), (5, 5), (6, 4)])
def test_u_distribution_matches_brute_force(n1: int, n2: int) -> None:
    counts = [0] * (n1 * n2 + 1)
    for xs in itertools.combinations(range(n1 + n2), n1):  # x's ranks among n1 + n2 distinct values
        counts[sum(xs) - n1 * (n1 - 1) // 2] += 1
    assert _u_counts(n1, n2, n1 * n2) == counts
    assert _u_counts(n2, n1, n1 * n2) == counts
    assert sum(counts) == math.comb(n1 + n2, n1)


@pytest.mark.parametrize(("n1", "n2"), [(50, 50), (30, 50), (8, 50)])
def test_exact_distribution_fast_at_fifty(n1: int, n2: int) -> None:
    x = [2.0 * i for i in range(n1)]
    y = [2.0 * i + 1.0 + (n1 // 3) for i in range(n2)]
    u = round(mann_whitney_u(x, y, "greater").u)
    start = time.perf_counter()
    for k in (0, u, n1 * n2 // 2, n1 * n2 // 2 + 1, n1 * n2 - u, n1 * n2):
        ours = _exact_sf(k, n1, n2)
        assert 0.0 <= ours <= 1.0
    assert time.perf_counter() - start < 5.0  # ~0.3 s here; a naive recursion takes minutes
    assert _exact_sf(u, n1, n2) == pytest.approx(scipy_p(x, y, "greater", "exact"), rel=REL, abs=0)


def test_textbook_value() -> None:
    # scipy's docstring example (Mann and Whitney 1947): U = 17, exact two-sided p = 0.1111...
    males = [19, 22, 16, 29, 24]
    females = [20, 11, 17, 12]
    result = mann_whitney_u(males, females, "two-sided")
    assert (result.u, result.method) == (17.0, "exact")
    assert result.p_value == pytest.approx(0.1111111111111111, rel=REL)


def test_all_values_equal() -> None:
    for alternative in ALTERNATIVES:
        result = mann_whitney_u([2.0] * 5, [2.0] * 7, alternative)
        assert (result.u, result.p_value, result.method) == (17.5, 1.0, "asymptotic")


@pytest.mark.parametrize(("x", "y", "match"), [
    ([], [1.0], r"x must hold at least one value"),
    ([1.0], [], r"y must hold at least one value"),
    ([1.0, math.nan], [1.0], r"x\[1\] must be a finite number, got nan"),
    ([1.0], [math.inf], r"y\[0\] must be a finite number, got inf"),
    ([1.0], [2.0, -math.inf], r"y\[1\] must be a finite number, got -inf"),
    ([1.0, "2"], [1.0], r"x\[1\] must be a number, got '2'"),
    ([True], [1.0], r"x\[0\] must be a number, got True"),
])
def test_mann_whitney_rejects_bad_samples(x: list[Any], y: list[Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        mann_whitney_u(x, y, "two-sided")


def test_mann_whitney_rejects_bad_alternative() -> None:
    with pytest.raises(ValueError, match=r"alternative must be one of greater, less, two-sided, got 'bigger'"):
        mann_whitney_u([1.0], [2.0], "bigger")  # type: ignore[arg-type]


# --------------------------------------------------------------------------- the judge

BASELINE = [100.0 + (i * 7) % 11 for i in range(20)]      # latency around 105 ms
REGRESSED = [150.0 + (i * 5) % 13 for i in range(20)]     # around 156 ms


def test_clear_regression_fails() -> None:
    j = judge(REGRESSED, BASELINE, direction="increase")
    assert j.outcome == "fail"
    assert j.p_value is not None and j.p_value < 1e-6
    assert j.effect == pytest.approx((j.canary_median - j.baseline_median) / j.baseline_median)  # type: ignore[operator]
    assert (j.n_canary, j.n_baseline, j.direction, j.confidence) == (20, 20, "increase", 0.95)
    assert j.reason.startswith("fail: the canary is significantly higher than the baseline")
    for text in ("median 155.5 vs 105", "+48.1%", "p=", "< 0.05", "95% confidence", "20 canary and 20 baseline"):
        assert text in j.reason


def test_identical_passes() -> None:
    for direction in ("increase", "decrease", "either"):
        j = judge(BASELINE, list(BASELINE), direction=direction)
        assert (j.outcome, j.effect) == ("pass", 0.0)
        assert j.p_value is not None and j.p_value >= 0.5
        assert j.reason.startswith("pass: the canary is not significantly")


def test_all_zero_passes() -> None:
    j = judge([0.0] * 10, [0.0] * 10, direction="increase")
    assert (j.outcome, j.p_value, j.effect) == ("pass", 1.0, 0.0)
    assert "baseline median is 0" in j.reason


def test_improvement_passes_when_increase_is_bad() -> None:
    j = judge(BASELINE, REGRESSED, direction="increase")
    assert j.outcome == "pass"
    assert j.effect is not None and j.effect < 0
    assert j.p_value is not None and j.p_value > 0.99
    # the same data fails when a decrease is the bad way (say, throughput)
    assert judge(BASELINE, REGRESSED, direction="decrease").outcome == "fail"


def test_either_fails_both_ways() -> None:
    assert judge(REGRESSED, BASELINE, direction="either").outcome == "fail"
    assert judge(BASELINE, REGRESSED, direction="either").outcome == "fail"
    assert judge(BASELINE, BASELINE, direction="either").outcome == "pass"


def test_effect_below_min_effect_passes_even_when_significant() -> None:
    baseline = [100.0 + 0.01 * i for i in range(30)]
    canary = [103.0 + 0.01 * i for i in range(30)]  # +3%, no overlap at all
    j = judge(canary, baseline, direction="increase", min_effect=0.05)
    assert j.outcome == "pass"
    assert j.p_value is not None and j.p_value < 1e-9
    assert j.reason.startswith("pass: the canary is significantly higher than the baseline")
    assert "short of the 5% minimum effect" in j.reason
    assert judge(canary, baseline, direction="increase", min_effect=0.02).outcome == "fail"
    # a 3% drop is no "decrease" failure under a 5% floor either
    assert judge(baseline, canary, direction="decrease", min_effect=0.05).outcome == "pass"
    assert judge(baseline, canary, direction="decrease", min_effect=0.02).outcome == "fail"


@pytest.mark.parametrize(("canary", "baseline"), [
    ([500.0, 600.0], BASELINE),           # a huge regression on 2 samples is still too little data
    (BASELINE, [100.0, 101.0]),
    ([], BASELINE),
    ([], []),
    ([100.0, 100.0], [100.0, 100.0]),     # identical, but too little data never passes
])
def test_too_few_samples_is_inconclusive(canary: list[float], baseline: list[float]) -> None:
    j = judge(canary, baseline, direction="increase")
    assert j.outcome == "inconclusive"
    assert (j.p_value, j.u) == (None, None)
    assert (j.n_canary, j.n_baseline) == (len(canary), len(baseline))
    assert f"only {len(canary)} canary and {len(baseline)} baseline samples" in j.reason
    assert "at least 3 of each" in j.reason
    assert (j.canary_median is None) == (not canary)
    json.dumps(j.to_dict(), allow_nan=False)


def test_min_samples_is_honoured() -> None:
    assert judge(REGRESSED[:5], BASELINE[:5], direction="increase", min_samples=6).outcome == "inconclusive"
    assert judge(REGRESSED[:1], BASELINE[:1], direction="increase", min_samples=1).outcome == "pass"  # p = 0.5


def test_baseline_median_zero_uses_absolute_difference() -> None:
    baseline = [0.0] * 8 + [0.01, 0.02]        # error ratio: mostly clean
    canary = [0.2, 0.25, 0.3, 0.22, 0.0, 0.18, 0.21, 0.3, 0.26, 0.24]
    j = judge(canary, baseline, direction="increase")
    assert j.outcome == "fail"
    assert j.baseline_median == 0.0
    assert j.effect == pytest.approx(j.canary_median)
    assert "median 0.23 vs 0 (+0.23 absolute: the baseline median is 0, so no percentage)" in j.reason
    assert "minimum effect 0 (absolute)" not in j.reason and "the 0 (absolute) minimum effect" in j.reason
    # min_effect is then an absolute floor
    j = judge(canary, baseline, direction="increase", min_effect=0.5)
    assert j.outcome == "pass" and "short of the 0.5 (absolute) minimum effect" in j.reason


def test_exact_p_at_the_significance_level_is_not_significant() -> None:
    # 3 vs 3 without ties: the smallest exact one-sided p is 1/20 = 0.05, and 1 - 0.95 != 0.05 in floats.
    assert significance_level(0.95) == 0.05
    j = judge([4.0, 5.0, 6.0], [1.0, 2.0, 3.0], direction="increase")
    assert (j.outcome, j.p_value) == ("pass", 0.05)
    assert "p=0.05 (failing needs p < 0.05 at 95% confidence" in j.reason


def test_reason_never_rounds_p_across_the_level() -> None:
    assert _p_text(0.0123456, 0.05) == "0.0123"
    assert _p_text(0.049996, 0.05) == "0.049996"  # not "0.05" next to "< 0.05"
    assert _p_text(0.05, 0.05) == "0.05"
    assert _p_text(3.3218958e-08, 0.05) == "3.32e-08"
    j = judge([7.0, 10.0, 12.0, 21.0, 24.0, 28.0, 32.0, 35.0, 35.0],
              [7.0, 8.0, 10.0, 13.0, 13.0, 13.0, 13.0, 16.0, 21.0], direction="increase")
    assert j.outcome == "fail" and "p=0.0499 < 0.05 at 95% confidence" in j.reason


@pytest.mark.parametrize(("kwargs", "match"), [
    ({"direction": "up"}, r"direction must be one of increase, decrease, either \(the way that is bad\), got 'up'"),
    ({"confidence": 0}, r"confidence must be a number strictly between 0 and 1 \(e\.g\. 0\.95\), got 0"),
    ({"confidence": 1.0}, r"confidence must be .* got 1\.0"),
    ({"confidence": 95}, r"confidence must be .* got 95"),
    ({"confidence": True}, r"confidence must be .* got True"),
    ({"confidence": "0.95"}, r"confidence must be .* got '0\.95'"),
    ({"confidence": math.nan}, r"confidence must be .* got nan"),
    ({"min_effect": -0.1}, r"min_effect must be a finite number >= 0 \(e\.g\. 0\.1 for 10%\), got -0\.1"),
    ({"min_effect": math.inf}, r"min_effect must be .* got inf"),
    ({"min_effect": math.nan}, r"min_effect must be .* got nan"),
    ({"min_samples": 0}, r"min_samples must be an integer >= 1 \(e\.g\. 3\), got 0"),
    ({"min_samples": 2.5}, r"min_samples must be .* got 2\.5"),
    ({"min_samples": True}, r"min_samples must be .* got True"),
])
def test_judge_rejects_bad_arguments(kwargs: dict[str, Any], match: str) -> None:
    args: dict[str, Any] = {"direction": "increase"}
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        judge(REGRESSED, BASELINE, **args)


@pytest.mark.parametrize(("canary", "baseline", "match"), [
    ([1.0, math.nan, 2.0], BASELINE, r"canary\[1\] must be a finite number, got nan"),
    (REGRESSED, [math.inf], r"baseline\[0\] must be a finite number, got inf"),
])
def test_judge_rejects_non_finite_samples(canary: list[float], baseline: list[float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        judge(canary, baseline, direction="increase")


def test_to_dict_is_json_safe() -> None:
    j = judge(REGRESSED, BASELINE, direction="increase", min_effect=0.1)
    d = j.to_dict()
    assert set(d) == {"outcome", "p_value", "u", "effect", "canary_median", "baseline_median", "n_canary",
                      "n_baseline", "confidence", "min_effect", "direction", "reason"}
    assert json.loads(json.dumps(d, allow_nan=False)) == d
    # float overflow is the only way to an infinite effect; to_dict turns it into null
    huge = judge([1.7e308] * 5, [-1.7e308] * 5, direction="increase")
    assert huge.effect == math.inf
    assert huge.to_dict()["effect"] is None
    json.dumps(huge.to_dict(), allow_nan=False)


def test_judgement_is_frozen() -> None:
    j = judge(BASELINE, BASELINE, direction="increase")
    assert isinstance(j, Judgement)
    with pytest.raises(AttributeError):
        j.outcome = "fail"  # type: ignore[misc]


# --------------------------------------------------------------------------- judge properties

directions = st.sampled_from(("increase", "decrease", "either"))
confidences = st.sampled_from((0.8, 0.9, 0.95, 0.99))
min_effects = st.sampled_from((0.0, 0.01, 0.1, 0.5))


def expected_outcome(canary: list[float], baseline: list[float], direction: str, confidence: float,
                     min_effect: float) -> str:
    """The rule, restated with scipy and the statistics module as the oracle."""
    alternative = {"increase": "greater", "decrease": "less", "either": "two-sided"}[direction]
    p = scipy_p(canary, baseline, alternative)
    p = 1.0 if math.isnan(p) else p
    mc, mb = statistics.median(canary), statistics.median(baseline)
    effect = (mc - mb) / abs(mb) if mb else mc - mb
    bad = {"increase": effect, "decrease": -effect, "either": abs(effect)}[direction]
    return "fail" if p < round(1 - confidence, 10) and bad >= min_effect else "pass"


@PROPERTY
@given(st.one_of(tied(25), spread(25)), st.one_of(tied(25), spread(25)), directions, confidences, min_effects)
def test_judge_follows_the_rule(canary: list[float], baseline: list[float], direction: Any, confidence: float,
                                min_effect: float) -> None:
    j = judge(canary, baseline, direction=direction, confidence=confidence, min_effect=min_effect)
    if min(len(canary), len(baseline)) < 3:
        assert j.outcome == "inconclusive"
    else:
        assert j.outcome == expected_outcome(canary, baseline, direction, confidence, min_effect)
    json.dumps(j.to_dict(), allow_nan=False)


@PROPERTY
@given(st.one_of(tied(30), spread(30)), directions, confidences, min_effects)
def test_identical_samples_never_fail(values: list[float], direction: Any, confidence: float,
                                      min_effect: float) -> None:
    j = judge(values, list(values), direction=direction, confidence=confidence, min_effect=min_effect)
    assert j.outcome == ("inconclusive" if len(values) < 3 else "pass")


@st.composite
def tie_free_pair_and_raise(draw: st.DrawFn) -> tuple[list[float], list[float], list[float]]:
    """(canary, baseline, canary raised): all values distinct before and after the raise.

    Canary values are odd, baseline values even, so the two never tie; the sorted canary is
    raised by even steps that never shrink from one value to the next, so it stays distinct.
    """
    canary = sorted(draw(st.lists(st.integers(0, 150), min_size=3, max_size=30, unique=True)))
    baseline = draw(st.lists(st.integers(0, 100), min_size=3, max_size=30, unique=True))
    steps = sorted(draw(st.lists(st.integers(0, 40), min_size=len(canary), max_size=len(canary))))
    return ([2.0 * c + 1 for c in canary], [2.0 * b for b in baseline],
            [2.0 * (c + s) + 1 for c, s in zip(canary, steps, strict=True)])


@settings(max_examples=500, deadline=None, derandomize=True)
@given(tie_free_pair_and_raise(), confidences, min_effects)
def test_raising_the_canary_never_turns_a_fail_into_a_pass(pair: tuple[list[float], list[float], list[float]],
                                                           confidence: float, min_effect: float) -> None:
    """Holds whenever raising the canary neither makes nor breaks a tie (see the two tests below)."""
    canary, baseline, raised = pair
    before = judge(canary, baseline, direction="increase", confidence=confidence, min_effect=min_effect)
    after = judge(raised, baseline, direction="increase", confidence=confidence, min_effect=min_effect)
    event(f"before: {before.outcome}")
    if before.outcome == "fail":
        assert after.outcome == "fail", (before.reason, after.reason)
    assert after.u is not None and before.u is not None and after.u >= before.u


def test_known_limit_breaking_a_tie_switches_scipy_to_the_exact_test() -> None:
    """Raising a canary value CAN turn a fail into a pass when it breaks a tie (scipy semantics).

    [4, 4, 6] has a tie, so scipy's "auto" takes the normal approximation (p = 0.038);
    [4, 5, 6] has none, so it takes the exact test, whose smallest p at 3 vs 3 is 1/20.
    """
    baseline = [1.0, 2.0, 3.0]
    tied_canary = judge([4.0, 4.0, 6.0], baseline, direction="increase")
    raised = judge([4.0, 5.0, 6.0], baseline, direction="increase")
    assert (tied_canary.outcome, raised.outcome) == ("fail", "pass")
    assert tied_canary.p_value == pytest.approx(scipy_p([4.0, 4.0, 6.0], baseline, "greater"), rel=REL)
    assert raised.p_value == scipy_p([4.0, 5.0, 6.0], baseline, "greater") == 0.05


def test_known_limit_breaking_a_tie_widens_the_tie_corrected_variance() -> None:
    """Even with both samples above 8 (always asymptotic), breaking a canary-canary tie raises
    the tie-corrected standard deviation more than U moves, so p can cross the level."""
    baseline = [7.0, 8.0, 10.0, 13.0, 13.0, 13.0, 13.0, 16.0, 21.0]
    canary = [7.0, 10.0, 12.0, 21.0, 24.0, 28.0, 32.0, 35.0, 35.0]
    raised = [*canary[:-1], 36.0]
    before = judge(canary, baseline, direction="increase")
    after = judge(raised, baseline, direction="increase")
    assert (before.outcome, after.outcome) == ("fail", "pass")
    assert before.u == after.u
    assert after.p_value == pytest.approx(scipy_p(raised, baseline, "greater"), rel=REL)
