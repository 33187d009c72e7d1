# Copyright: liftoff.release contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# Private to the liftoff.release collection.
"""The canary judge: is the canary's metric worse than the baseline's, beyond chance?

Pure and typed, standard library only. Modelled on Kayenta's Mann-Whitney metric classifier
(Spinnaker's automated canary analysis): no data gives no verdict, otherwise the canary's
samples are compared with the baseline's by a Mann-Whitney U test (a rank test: it asks
whether a canary value tends to be larger than a baseline value, without assuming any
distribution), and a statistically significant difference only counts when the medians
also moved by a meaningful effect size.

``mann_whitney_u`` reproduces ``scipy.stats.mannwhitneyu(x, y, alternative=...,
method="auto")`` (scipy 1.14+): the exact null distribution of U when there are no ties
and the smaller sample has at most 8 values, otherwise the normal approximation with tie
and continuity corrections. One deliberate difference: when every value in both samples is
the same, scipy's two-sided p-value is NaN (0/0); here it is 1.0, the no-evidence answer.

Two consequences of following scipy that a gate's author should know:

- with 3 canary and 3 baseline samples and no ties the smallest one-sided exact p-value is
  1/20 = 0.05, so at 95% confidence such a canary can never fail (two-sided: 1/10); 4 vs 4
  gives 1/70;
- the verdict is monotone in the canary's values only while the tie pattern stays put:
  raising a canary value that was tied can raise p (breaking the tie switches "auto" from the
  normal approximation to the exact test, or widens the tie-corrected variance), and so turn
  a marginal fail into a pass.
"""
from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Literal

Alternative = Literal["greater", "less", "two-sided"]
Method = Literal["exact", "asymptotic"]
Direction = Literal["increase", "decrease", "either"]
Outcome = Literal["pass", "fail", "inconclusive"]

ALTERNATIVES: tuple[Alternative, ...] = ("greater", "less", "two-sided")
DIRECTIONS: tuple[Direction, ...] = ("increase", "decrease", "either")
# scipy's `_mwu_choose_method`: exact unless BOTH samples exceed this size (or there are ties).
EXACT_MAX_SIZE = 8

_ALTERNATIVE_FOR: dict[str, Alternative] = {"increase": "greater", "decrease": "less", "either": "two-sided"}
_WORSE: dict[str, str] = {"increase": "higher than", "decrease": "lower than", "either": "different from"}


@dataclass(frozen=True)
class MannWhitney:
    """A Mann-Whitney U test result: U of ``x`` (as scipy reports it) and the p-value."""

    u: float
    p_value: float
    n_x: int
    n_y: int
    method: Method


@dataclass(frozen=True)
class Judgement:
    """The judge's verdict on one metric, with the numbers that drove it."""

    outcome: Outcome
    p_value: float | None
    u: float | None
    effect: float | None
    canary_median: float | None
    baseline_median: float | None
    n_canary: int
    n_baseline: int
    confidence: float
    min_effect: float
    direction: Direction
    reason: str

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe: a non-finite float (only reachable through float overflow) becomes None."""
        return {
            "outcome": self.outcome, "p_value": _finite_or_none(self.p_value), "u": _finite_or_none(self.u),
            "effect": _finite_or_none(self.effect), "canary_median": _finite_or_none(self.canary_median),
            "baseline_median": _finite_or_none(self.baseline_median), "n_canary": self.n_canary,
            "n_baseline": self.n_baseline, "confidence": self.confidence, "min_effect": self.min_effect,
            "direction": self.direction, "reason": self.reason,
        }


def _finite_or_none(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


# --------------------------------------------------------------------------- Mann-Whitney U

def _sample(values: Sequence[float], name: str, *, allow_empty: bool = False) -> list[float]:
    """The sample as floats; ValueError when it is empty (unless allowed) or holds a non-number, NaN or infinity."""
    if len(values) == 0 and not allow_empty:
        raise ValueError(f"{name} must hold at least one value, got an empty sample")
    out: list[float] = []
    for i, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"{name}[{i}] must be a number, got {value!r}")
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(f"{name}[{i}] must be a finite number, got {number!r} (drop samples without data)")
        out.append(number)
    return out


def _rank_sum_and_ties(x: list[float], y: list[float]) -> tuple[float, list[int]]:
    """Sum of the average ranks (1-based, ties share their mean rank) of ``x`` in x+y, and tie group sizes."""
    pooled = sorted([(v, True) for v in x] + [(v, False) for v in y], key=lambda item: item[0])
    twice_rank_sum = 0  # ranks of a tie group average to (first + last) / 2: keep it in integers
    groups: list[int] = []
    start = 0
    while start < len(pooled):
        end = start
        while end + 1 < len(pooled) and pooled[end + 1][0] == pooled[start][0]:
            end += 1
        in_x = sum(1 for _unused, is_x in pooled[start:end + 1] if is_x)
        twice_rank_sum += in_x * (start + end + 2)
        groups.append(end - start + 1)
        start = end + 1
    return twice_rank_sum / 2, groups


def _u_counts(n1: int, n2: int, upto: int) -> list[int]:
    """How many of the C(n1+n2, n1) orderings without ties give U = 0..upto.

    The counts are the coefficients of the Gaussian binomial [n1+n2 choose m]_q =
    prod_{i=1..m} (1 - q^(k+i)) / (1 - q^i), m = min(n1, n2), k = max(n1, n2) (Mann and
    Whitney 1947); built one factor at a time as a truncated power series in exact integers,
    O(m * upto) steps: instant for the sizes the exact method is used at.
    """
    m, k = min(n1, n2), max(n1, n2)
    counts = [1] + [0] * upto
    for i in range(1, m + 1):
        for u in range(upto, k + i - 1, -1):  # times (1 - q^(k+i))
            counts[u] -= counts[u - k - i]
        for u in range(i, upto + 1):  # divided by (1 - q^i)
            counts[u] += counts[u - i]
    return counts


def _exact_sf(u: int, n1: int, n2: int) -> float:
    """P(U >= u) under the null hypothesis, from the exact distribution (symmetric about n1*n2/2)."""
    total = math.comb(n1 + n2, n1)
    if u <= 0:
        return 1.0
    mirror = n1 * n2 - u
    if mirror < u:  # P(U >= u) = P(U <= n1*n2 - u): sum the short left tail
        return sum(_u_counts(n1, n2, mirror)) / total
    return (total - sum(_u_counts(n1, n2, u - 1))) / total


def _exact_p(u1: float, n1: int, n2: int, alternative: Alternative) -> float:
    """scipy's exact p-value: the survival function at U1, U2 or max(U1, U2) (doubled for two-sided)."""
    u2 = n1 * n2 - u1
    if alternative == "greater":
        return _exact_sf(round(u1), n1, n2)
    if alternative == "less":
        return _exact_sf(round(u2), n1, n2)
    return min(1.0, 2 * _exact_sf(round(max(u1, u2)), n1, n2))


def _normal_cdf(z: float) -> float:
    return 0.5 * math.erfc(-z * math.sqrt(0.5))


def _asymptotic_p(u1: float, n1: int, n2: int, ties: list[int], alternative: Alternative) -> float:
    """scipy's normal approximation: tie-corrected standard deviation and a 0.5 continuity correction."""
    n = n1 + n2
    tie_term = sum(t**3 - t for t in ties)
    variance = n1 * n2 / 12 * ((n + 1) - tie_term / (n * (n - 1)))
    if variance <= 0:  # every value is the same: no evidence either way
        return 1.0
    numerator = u1 - n1 * n2 / 2
    if alternative == "two-sided":  # the correction always moves U towards the mean
        sign = float(numerator > 0) - float(numerator < 0)
    else:
        sign = 1.0 if alternative == "greater" else -1.0
    z = (numerator - 0.5 * sign) / math.sqrt(variance)
    if alternative == "greater":
        return _normal_cdf(-z)
    if alternative == "less":
        return _normal_cdf(z)
    return min(1.0, 2 * _normal_cdf(-abs(z)))


def choose_method(n_x: int, n_y: int, has_ties: bool) -> Method:
    """scipy's ``method="auto"`` (``_mwu_choose_method`` in scipy/stats/_mannwhitneyu.py):
    asymptotic when both samples exceed 8 values or there are any ties, else exact.

    The rule asks whether EITHER sample is small, not both: 3 canary values against 5,000
    baseline values without ties get the exact test. With ties the exact distribution (which
    assumes none) is never used, however small the samples.
    """
    if (n_x > EXACT_MAX_SIZE and n_y > EXACT_MAX_SIZE) or has_ties:
        return "asymptotic"
    return "exact"


def mann_whitney_u(x: Sequence[float], y: Sequence[float], alternative: Alternative) -> MannWhitney:
    """Mann-Whitney U test of ``x`` against ``y``, as ``scipy.stats.mannwhitneyu(method="auto")``.

    U is x's statistic: the number of (x, y) pairs with x > y, ties counting one half. The null
    hypothesis is that x and y come from the same distribution; ``alternative`` "greater" means
    x tends to be larger, "less" smaller, "two-sided" either. ValueError on an empty sample, a
    NaN or an infinity (scipy rejects NaN too; infinities are rejected here as bad data).
    """
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    xs, ys = _sample(x, "x"), _sample(y, "y")
    n1, n2 = len(xs), len(ys)
    rank_sum, ties = _rank_sum_and_ties(xs, ys)
    u1 = rank_sum - n1 * (n1 + 1) / 2
    method = choose_method(n1, n2, any(t > 1 for t in ties))
    if method == "exact":
        p = _exact_p(u1, n1, n2, alternative)
    else:
        p = _asymptotic_p(u1, n1, n2, ties, alternative)
    return MannWhitney(u=u1, p_value=min(1.0, max(0.0, p)), n_x=n1, n_y=n2, method=method)


# --------------------------------------------------------------------------- the judge

def _check_arguments(direction: str, confidence: float, min_effect: float, min_samples: int) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {', '.join(DIRECTIONS)} (the way that is bad), got {direction!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, (int, float)) or not 0 < confidence < 1:
        raise ValueError(f"confidence must be a number strictly between 0 and 1 (e.g. 0.95), got {confidence!r}")
    if (isinstance(min_effect, bool) or not isinstance(min_effect, (int, float))
            or not math.isfinite(min_effect) or min_effect < 0):
        raise ValueError(f"min_effect must be a finite number >= 0 (e.g. 0.1 for 10%), got {min_effect!r}")
    if isinstance(min_samples, bool) or not isinstance(min_samples, int) or min_samples < 1:
        raise ValueError(f"min_samples must be an integer >= 1 (e.g. 3), got {min_samples!r}")


def significance_level(confidence: float) -> float:
    """1 - confidence as the decimal the user wrote: 1 - 0.95 is 0.050000000000000044 in floats,
    which would let an exact p-value of 1/20 = 0.05 count as significant at 95%."""
    return float(1 - Fraction(repr(float(confidence))))


def _effect(canary_median: float, baseline_median: float) -> tuple[float, bool]:
    """(effect, relative?): the median's relative change, or the absolute one when the baseline median is 0."""
    if baseline_median == 0:
        return canary_median - baseline_median, False
    return (canary_median - baseline_median) / abs(baseline_median), True


def _bad_effect(effect: float, direction: Direction) -> float:
    """The effect measured in the bad direction (negative when the canary moved the good way)."""
    if direction == "increase":
        return effect
    if direction == "decrease":
        return -effect
    return abs(effect)


def _medians_text(mc: float, mb: float, effect: float, relative: bool) -> str:
    if relative:
        return f"median {mc:.4g} vs {mb:.4g} ({effect * 100:+.1f}%)"
    return f"median {mc:.4g} vs {mb:.4g} ({effect:+.4g} absolute: the baseline median is 0, so no percentage)"


def _min_effect_text(min_effect: float, relative: bool) -> str:
    return f"{min_effect * 100:g}%" if relative else f"{min_effect:g} (absolute)"


def _p_text(p_value: float, alpha: float) -> str:
    """The p-value to 3 significant digits, more when 3 would blur which side of alpha it is on."""
    for digits in range(3, 18):
        text = f"{p_value:.{digits}g}"
        if (float(text) < alpha) == (p_value < alpha):
            return text
    return repr(p_value)


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def _too_few(canary: list[float], baseline: list[float], direction: Direction, confidence: float,
             min_effect: float, min_samples: int) -> Judgement:
    mc, mb = _median(canary), _median(baseline)
    effect: float | None = None
    seen = ""
    if mc is not None and mb is not None:
        effect, relative = _effect(mc, mb)
        seen = f", {_medians_text(mc, mb, effect, relative)}"
    reason = (f"inconclusive: only {len(canary)} canary and {len(baseline)} baseline samples{seen}; "
              f"the judge needs at least {min_samples} of each before it passes or fails a canary")
    return Judgement("inconclusive", None, None, effect, mc, mb, len(canary), len(baseline),
                     confidence, min_effect, direction, reason)


def _verdict(test: MannWhitney, effect: float, relative: bool, mc: float, mb: float, direction: Direction,
             confidence: float, min_effect: float) -> tuple[Outcome, str]:
    alpha = significance_level(confidence)
    medians = _medians_text(mc, mb, effect, relative)
    test_text = f"Mann-Whitney p={_p_text(test.p_value, alpha)}"
    over = f"{confidence * 100:g}% confidence over {test.n_x} canary and {test.n_y} baseline samples"
    compared = f"the canary is {{}}significantly {_WORSE[direction]} the baseline"
    if test.p_value >= alpha:
        return "pass", (f"pass: {compared.format('not ')}, {medians}, {test_text} "
                        f"(failing needs p < {alpha:g} at {over})")
    if _bad_effect(effect, direction) < min_effect:
        return "pass", (f"pass: {compared.format('')} ({test_text} < {alpha:g} at {over}) but its {medians} "
                        f"is short of the {_min_effect_text(min_effect, relative)} minimum effect")
    return "fail", (f"fail: {compared.format('')}, {medians}, at least the "
                    f"{_min_effect_text(min_effect, relative)} minimum effect; {test_text} < {alpha:g} at {over}")


def judge(canary: Sequence[float], baseline: Sequence[float], *, direction: Direction,
          confidence: float = 0.95, min_effect: float = 0.0, min_samples: int = 3) -> Judgement:
    """Judge the canary's samples of one metric against the baseline's.

    ``direction`` is the way that is BAD: "increase" (latency, error ratio: higher canary values
    are worse), "decrease" (throughput, success ratio) or "either". The canary fails only when a
    one-sided Mann-Whitney test in the bad direction (two-sided for "either") is significant,
    p < 1 - ``confidence``, AND the canary median moved at least ``min_effect`` the bad way
    (relative to the baseline median: 0.1 = 10%; absolute when the baseline median is 0). Fewer
    than ``min_samples`` samples on either side is inconclusive: too little data never passes.
    ValueError names the bad argument; NaN or infinite samples are rejected too (drop the
    intervals without data before judging).
    """
    _check_arguments(direction, confidence, min_effect, min_samples)
    canary_values = _sample(canary, "canary", allow_empty=True)
    baseline_values = _sample(baseline, "baseline", allow_empty=True)
    if len(canary_values) < min_samples or len(baseline_values) < min_samples:
        return _too_few(canary_values, baseline_values, direction, confidence, min_effect, min_samples)
    test = mann_whitney_u(canary_values, baseline_values, _ALTERNATIVE_FOR[direction])
    mc, mb = float(statistics.median(canary_values)), float(statistics.median(baseline_values))
    effect, relative = _effect(mc, mb)
    outcome, reason = _verdict(test, effect, relative, mc, mb, direction, confidence, min_effect)
    return Judgement(outcome, test.p_value, test.u, effect, mc, mb, len(canary_values), len(baseline_values),
                     confidence, min_effect, direction, reason)
