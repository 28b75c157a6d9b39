"""The decision statistics on planted data with fixed seeds: error rates hold, sparse data included."""

from __future__ import annotations

import math
import random

import pytest

from promptslim.decide import (check_outcome, decide_units, holm_levels, interim, min_cases_unchanged, ni_lower,
                               ni_pvalue, slim_order, slim_sizes, upper)
from promptslim.stats import binom_cdf, mean_ci

MARGIN = 0.05
REPS = 2000
# a rate estimated from 2000 runs has a standard error of ~0.5 points at 5%: 1.5 points is three of them
TOL = 0.015


def binary_deltas(rng: random.Random, n: int, broken: float, churn: float = 0.0) -> list[float]:
    """Pass/fail cases (baseline passes 80%): a share `broken` of passing cases fail; `churn` redraws answers."""
    out = []
    for _ in range(n):
        base = 1.0 if rng.random() < 0.8 else 0.0
        var = 0.0 if base == 1.0 and rng.random() < broken else base
        if rng.random() < churn:
            var = 1.0 if rng.random() < 0.8 else 0.0
        out.append(var - base)
    return out


def test_binom_cdf_matches_the_direct_sum():
    for n, k, p in ((10, 3, 0.2), (100, 1, 0.05), (150, 12, 0.05)):
        direct = sum(math.comb(n, i) * p ** i * (1 - p) ** (n - i) for i in range(k + 1))
        assert binom_cdf(k, n, p) == pytest.approx(direct, rel=1e-9)


def test_the_lower_bound_covers_the_true_mean_on_continuous_deltas():
    rng = random.Random(1)
    misses = sum(ni_lower([rng.gauss(-0.02, 0.1) for _ in range(50)], 0.05) > -0.02 for _ in range(REPS))
    assert abs(misses / REPS - 0.05) < TOL


def test_removable_holds_its_level_on_sparse_pass_fail_deltas_at_the_margin():
    # true delta exactly −margin: 6.25% of the 80% passing cases break; deterministic answers (no churn)
    for n in (50, 100, 150):
        rng = random.Random(n)
        wrong = sum(ni_pvalue(binary_deltas(rng, n, MARGIN / 0.8), MARGIN) <= 0.05 for _ in range(REPS))
        assert wrong / REPS <= 0.05 + TOL, n


def test_removable_holds_its_level_on_rare_large_harm():
    # zero-inflated: 1 case in 16 drops by 0.8, the rest are byte-identical (delta exactly 0): mean −0.05
    for n in (20, 50, 100):
        rng = random.Random(100 + n)
        wrong = 0
        for _ in range(REPS):
            deltas = [-0.8 if rng.random() < MARGIN / 0.8 else 0.0 for _ in range(n)]
            wrong += ni_pvalue(deltas, MARGIN) <= 0.05
        assert wrong / REPS <= 0.05 + TOL, n


def test_one_observed_regression_is_never_better_than_none():
    for n in (50, 100, 200):
        clean = [0.0] * n
        one = [0.0] * (n - 1) + [-1.0]
        assert ni_pvalue(one, MARGIN) >= ni_pvalue(clean, MARGIN)
        assert ni_lower(one, 0.05) <= ni_lower(clean, 0.05)


def test_all_zero_deltas_use_the_exact_bound():
    assert ni_pvalue([0.0] * 100, MARGIN) == pytest.approx(0.95 ** 100)
    assert ni_lower([0.0] * 100, 0.01) == pytest.approx(0.01 ** (1 / 100) - 1)
    # N > ln(alpha/K)/ln(1 − margin): the fewest unchanged cases that can reach removable
    assert min_cases_unchanged(12, MARGIN) == 107 and 0.95 ** 107 <= 0.05 / 12 < 0.95 ** 106


def test_equal_non_zero_deltas_have_a_real_interval():
    # 20 × −0.01 once gave a zero-width interval and "removable"; float noise must not hide equality either
    deltas = [0.02 - 0.03] * 10 + [0.05 - 0.06] * 10
    assert len(set(deltas)) > 1  # not equal as floats
    assert ni_pvalue(deltas, MARGIN) == pytest.approx(((1 - MARGIN) / (1 + deltas[0])) ** 20, rel=1e-6)
    assert ni_pvalue(deltas, MARGIN) > 0.05
    assert ni_lower(deltas, 0.05) < -MARGIN
    assert mean_ci(deltas, bounds=(-1.0, 1.0)).ci[0] < -0.01 - 0.1  # the summary CI is not zero-width either


def test_keep_upper_bound_holds_its_level_when_removal_changes_nothing_on_average():
    rng = random.Random(7)
    wrong = sum((u := upper([rng.gauss(0, 0.1) for _ in range(30)], 0.05)) is not None and u < 0 for _ in range(REPS))
    assert abs(wrong / REPS - 0.05) < TOL


def test_holm_steps_down_and_stops_at_the_first_failure():
    levels = holm_levels([0.001, 0.5, 0.014, 0.02])
    # 0.001 ≤ 0.05/4, 0.014 ≤ 0.05/3, 0.02 ≤ 0.05/2, 0.5 > 0.05/1: Bonferroni (0.05/4 each) would stop after one
    assert levels == [(True, 0.05 / 4), (False, 0.05), (True, 0.05 / 3), (True, 0.05 / 2)]
    levels = holm_levels([0.001, 0.04, 0.03])
    assert levels == [(True, 0.05 / 3), (False, 0.05 / 2), (False, 0.05 / 2)]  # stops at 0.03 > 0.05/2


def test_any_wrong_removable_stays_under_five_percent_across_twelve_units():
    rng = random.Random(12)
    wrong = 0
    for _ in range(500):
        units = [binary_deltas(rng, 150, MARGIN / 0.8) for _ in range(12)]
        wrong += any(d.verdict == "removable" for d in decide_units(units, MARGIN))
    assert wrong / 500 <= 0.05 + 0.02  # 500 runs: standard error ~1 point


def test_the_interim_look_stops_clear_harm_and_never_says_removable():
    rng = random.Random(3)
    harmful = [-1.0 if rng.random() < 0.3 else 0.0 for _ in range(50)]
    assert interim(harmful, 100, MARGIN, 12) == "keep"
    assert interim([0.0] * 50, 100, MARGIN, 12) is None  # unchanged so far: only the end can tell
    harmless = [rng.gauss(0, 0.05) for _ in range(50)]
    assert interim(harmless, 100, MARGIN, 12) is None
    assert all(interim([rng.gauss(0.1, 0.05) for _ in range(25)], 50, MARGIN, 12) != "removable" for _ in range(50))


def test_the_slim_chain_is_fixed_by_dollars_after_the_removable_units():
    units = [[0.0] * 100, [0.3, -0.3] * 10, [-1.0] * 50, [-0.5] * 100, [0.0] * 100]
    decisions = decide_units(units, MARGIN, {2: "keep"}, two_stage=True)
    assert [d.verdict for d in decisions] == ["removable", "inconclusive", "keep", "keep", "removable"]
    order = slim_order(decisions, [True, True, True, True, False], [1.0, 3.0, 9.0, 2.0, 5.0])
    # removable first; then by $ saved, keep units included (leaving them out would select on the data);
    # a unit that does not save money never enters
    assert order == [0, 2, 1, 3]  # unit 4 is removable but saves nothing
    assert slim_sizes(4) == [1, 2, 3, 4]


@pytest.mark.parametrize(("deltas", "outcome"), [
    ([0.0] * 60, "pass"),  # 0.05^(1/60) − 1 = −0.049 > −0.05
    ([0.0] * 8, "underpowered"),  # could not see a −0.10 regression
    ([-1.0] * 7 + [0.0], "regression"),
    ([-0.1 + 0.01 * ((i % 5) - 2) for i in range(50)], "regression"),
    ([-0.02 + (0.15 if i % 2 else -0.15) for i in range(60)], "inconclusive"),
])
def test_check_outcomes(deltas, outcome):
    assert check_outcome(deltas, MARGIN)["outcome"] == outcome


def test_the_check_flags_a_tenth_worse_at_fifty_cases_and_rarely_a_harmless_change():
    rng = random.Random(10)
    flagged = sum(check_outcome([rng.gauss(-0.10, 0.1) for _ in range(50)], MARGIN)["outcome"] == "regression"
                  for _ in range(500))
    false = sum(check_outcome([rng.gauss(0.0, 0.1) for _ in range(50)], MARGIN)["outcome"] == "regression"
                for _ in range(REPS))
    assert flagged / 500 >= 0.8
    assert false / REPS <= 0.05 + TOL


def test_the_decision_benchmark_runs_and_the_engine_agrees_with_the_pure_path():
    """README's benchmark command, CI-sized: its engine cross-check exits 1 on any disagreement."""
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[1] / "benchmarks" / "decision_bench.py"
    done = subprocess.run([sys.executable, str(bench), "--quick", "--reps", "4", "--engine-reps", "2"],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count("as the pure path in 2/2 runs") == 2
    assert "sparse harm" in done.stdout and "judge 0-10" in done.stdout
