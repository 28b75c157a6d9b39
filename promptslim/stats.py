"""Means with their uncertainty, paired deltas, and the removable/keep/inconclusive decision.

We use the paired t-interval on per-case score deltas: the same cases are scored under the
baseline and the variant, so pairing removes case difficulty from the noise. Across the K units
of one run the level is Bonferroni-adjusted (1 - 0.05/K), so the chance of wrongly calling any
unit removable stays at or below 5%. Implemented here (regularized incomplete beta) rather than
pulling in SciPy for one quantile.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c if abs(1.0 + aa / c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0:
        return 0.0
    if x >= 1:
        return 1.0
    front = math.exp(math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x))
    if x < (a + 1) / (a + b + 2):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1 - x) / b


def t_cdf(t: float, df: float) -> float:
    x = df / (df + t * t)
    tail = 0.5 * _betainc(df / 2, 0.5, x)
    return 1 - tail if t > 0 else tail


def t_ppf(p: float, df: float) -> float:
    """Quantile of Student's t by bisection on the CDF (exact to ~1e-10)."""
    if not 0 < p < 1:
        raise ValueError("p must be in (0, 1)")
    if p == 0.5:
        return 0.0
    lo, hi = -1.0, 1.0
    while t_cdf(lo, df) > p:
        lo *= 2
    while t_cdf(hi, df) < p:
        hi *= 2
    for _ in range(200):
        mid = (lo + hi) / 2
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo < 1e-12:
            break
    return (lo + hi) / 2


@dataclass(frozen=True)
class Estimate:
    """A mean with n, standard error and a CI; ci is None when n < 2 (the point is shown and that said)."""

    n: int
    mean: float | None
    se: float | None
    ci: tuple[float, float] | None
    level: float = 0.95

    def to_dict(self) -> dict:
        return {"n": self.n, "mean": self.mean, "se": self.se, "ci": list(self.ci) if self.ci else None,
                "level": self.level}


def mean_ci(values: list[float], level: float = 0.95, bounds: tuple[float, float] = (0.0, 1.0)) -> Estimate:
    """Mean and two-sided t confidence interval, clipped to the values' possible range.

    When every value is the same the t-interval has zero width, which would claim certainty
    from, say, 20 identical answers. Then we use the rule of three instead: with n identical
    observations, a difference as frequent as −ln((1 − level)/2)/n could still have gone unseen.
    """
    n = len(values)
    if n == 0:
        return Estimate(0, None, None, None, level)
    mean = sum(values) / n
    if n < 2:
        return Estimate(n, mean, None, None, level)
    var = sum((v - mean) ** 2 for v in values) / (n - 1)
    se = math.sqrt(var / n)
    if se == 0:
        half = -math.log((1 - level) / 2) / n * (bounds[1] - bounds[0]) / (2 if bounds[0] < 0 else 1)
    else:
        half = t_ppf(1 - (1 - level) / 2, n - 1) * se
    low, high = max(bounds[0], mean - half), min(bounds[1], mean + half)
    return Estimate(n, mean, se, (low, high), level)


def paired_delta(variant: list[float | None], baseline: list[float | None], level: float = 0.95) -> Estimate:
    """Mean of variant − baseline over cases scored on both sides, with its CI."""
    deltas = [v - b for v, b in zip(variant, baseline) if v is not None and b is not None]
    return mean_ci(deltas, level, bounds=(-1.0, 1.0))


def adjusted_level(k: int, family: float = 0.95) -> float:
    """Bonferroni: each of k intervals at 1 − (1 − family)/k."""
    return 1 - (1 - family) / max(k, 1)


def verdict(estimate: Estimate, margin: float) -> str:
    """DESIGN.md's order: removable if lower bound > −margin; keep if upper bound < 0; else inconclusive."""
    if estimate.ci is None:
        return "inconclusive"
    low, high = estimate.ci
    if low > -margin:
        return "removable"
    if high < 0:
        return "keep"
    return "inconclusive"


def cases_needed(estimate: Estimate, margin: float) -> int | None:
    """Cases that would likely settle an inconclusive unit, assuming the same mean and spread.

    The half-width shrinks like 1/sqrt(n); it must fall below the distance from the mean to
    the nearer decision boundary (−margin for removable, 0 for keep).
    """
    if estimate.ci is None or estimate.mean is None or estimate.n < 2:
        return None
    half = (estimate.ci[1] - estimate.ci[0]) / 2
    room = max(estimate.mean + margin, -estimate.mean)
    if room <= 0:
        return None  # the mean sits on a boundary: no sample size settles it
    if half <= room:
        return estimate.n
    if estimate.se == 0:  # rule-of-three width shrinks like 1/n, not 1/sqrt(n)
        return math.ceil(estimate.n * half / room)
    return math.ceil(estimate.n * (half / room) ** 2)
