"""stats.py on its own: Student's t, means with their CIs, the binomial tail — against closed forms computed here."""

from __future__ import annotations

import math
import random

import pytest

from promptslim.decide import cases_for_power, detectable, min_cases_unchanged
from promptslim.stats import all_equal, binom_cdf, mean_ci, t_cdf, t_ppf


def cauchy_cdf(t: float) -> float:
    """Student's t with one degree of freedom."""
    return 0.5 + math.atan(t) / math.pi


def t2_cdf(t: float) -> float:
    """Student's t with two degrees of freedom, in closed form."""
    return 0.5 + t / (2 * math.sqrt(2 + t * t))


@pytest.mark.parametrize("t", [-30.0, -2.5, -1.0, -0.1, 0.0, 0.3, 1.0, 4.2, 50.0])
def test_t_cdf_matches_the_closed_forms_at_one_and_two_degrees_of_freedom(t):
    assert t_cdf(t, 1) == pytest.approx(cauchy_cdf(t), abs=1e-12)
    assert t_cdf(t, 2) == pytest.approx(t2_cdf(t), abs=1e-12)


def test_t_cdf_is_symmetric_and_approaches_the_normal():
    for df in (3, 7, 29):
        for t in (0.4, 1.7, 3.1):
            assert t_cdf(-t, df) == pytest.approx(1 - t_cdf(t, df), abs=1e-12)
    normal = 0.5 * (1 + math.erf(1.96 / math.sqrt(2)))
    assert t_cdf(1.96, 100_000) == pytest.approx(normal, abs=1e-5)


def test_t_ppf_inverts_the_cdf_and_matches_table_quantiles():
    assert t_ppf(0.975, 1) == pytest.approx(math.tan(math.pi * (0.975 - 0.5)), rel=1e-9)
    # quantiles printed in every t table
    assert t_ppf(0.975, 10) == pytest.approx(2.228139, abs=1e-6)
    assert t_ppf(0.95, 29) == pytest.approx(1.699127, abs=1e-6)
    assert t_ppf(0.5, 5) == 0.0
    for p in (0.01, 0.2, 0.8, 0.999):
        assert t_cdf(t_ppf(p, 12), 12) == pytest.approx(p, abs=1e-9)
    with pytest.raises(ValueError):
        t_ppf(1.0, 3)


def test_mean_ci_is_the_t_interval_clipped_to_the_scale():
    values = [0.2, 0.9, 0.7, 1.0, 0.4, 0.6]
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    half = 2.570582 * sd / math.sqrt(n)  # t(0.975, 5) from a table
    est = mean_ci(values)
    assert (est.n, est.mean) == (n, pytest.approx(mean))
    assert est.se == pytest.approx(sd / math.sqrt(n))
    assert est.ci == pytest.approx((mean - half, min(1.0, mean + half)), abs=1e-6)
    assert mean_ci([0.0, 1.0, 1.0]).ci[1] == 1.0  # never above the best possible score


def test_identical_scores_get_the_rule_of_three_not_a_zero_width_interval():
    est = mean_ci([1.0] * 20)
    assert est.ci == pytest.approx((1.0 + math.log(0.025) / 20, 1.0))
    assert all_equal([0.61 - 0.62] * 20) and not all_equal([0.0, 1e-6])


def test_fewer_than_two_values_show_the_point_without_a_ci():
    assert mean_ci([]).mean is None and mean_ci([]).ci is None
    one = mean_ci([0.4])
    assert (one.n, one.mean, one.se, one.ci) == (1, 0.4, None, None)
    assert one.to_dict() == {"n": 1, "mean": 0.4, "se": None, "ci": None, "level": 0.95}


def test_the_95_percent_interval_covers_the_mean_95_percent_of_the_time():
    rng = random.Random(7)
    covered = 0
    for _ in range(2000):
        est = mean_ci([rng.gauss(0.5, 0.1) for _ in range(15)])
        covered += est.ci[0] <= 0.5 <= est.ci[1]
    assert abs(covered / 2000 - 0.95) < 0.015


def test_binom_cdf_edges():
    assert binom_cdf(-1, 10, 0.3) == 0.0
    assert binom_cdf(10, 10, 0.3) == 1.0
    assert binom_cdf(0, 10, 0.0) == 1.0 and binom_cdf(3, 10, 1.0) == 0.0
    assert binom_cdf(0, 5, 0.5) == pytest.approx(1 / 32)


def test_cases_needed_for_an_unchanged_unit_is_the_first_n_with_room_below_alpha_over_k():
    for k, margin in ((1, 0.05), (6, 0.25), (17, 0.05)):
        n = min_cases_unchanged(k, margin)
        assert (1 - margin) ** n <= 0.05 / k < (1 - margin) ** (n - 1)


def test_cases_for_power_and_detectable_margin_are_inverse():
    for sd, margin, k in ((0.1, 0.05, 6), (0.3, 0.1, 12)):
        n = cases_for_power(sd, margin, k)
        assert detectable(sd, n, k) <= margin < detectable(sd, n - 1, k)
    assert detectable(0.1, 1, 3) is None
