"""benchmarks/tree_bench.py at CI size (a few seconds): the planted 60-unit, 8-section prompt at 100 cases on binary
scores, tree design against flat, on the same planted answers. The figures README quotes come from the full run."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import tree_bench  # noqa: E402


def test_at_100_binary_cases_the_tree_finds_whole_harmless_sections_for_a_fraction_of_flats_calls():
    r = tree_bench.cell(60, "binary", 100, "sections", reps=6, rho=tree_bench.H.RHO, rng=np.random.default_rng(1))
    assert r["fwer tree"] == 0 and r["slim tree"] == 0
    assert r["sections"] > 0.5  # flat needs 139 cases for one unit; the tree removes harmless sections whole
    assert r["calls"] <= 0.5 and r["tokens"] >= 1.0


def test_where_no_section_is_harmless_the_tree_costs_no_more_than_flat():
    r = tree_bench.cell(60, "binary", 100, "none", reps=4, rho=tree_bench.H.RHO, rng=np.random.default_rng(2))
    assert r["fwer tree"] == 0 and r["calls"] <= 1.1
