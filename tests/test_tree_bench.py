"""benchmarks/tree_bench.py at CI size (a few seconds): the planted 60-unit, 8-section prompt at 100 cases on binary
scores, tree design against flat, on the same planted answers. The figures README quotes come from the full run."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))

import tree_bench  # noqa: E402


def test_at_100_binary_cases_the_tree_finds_whole_harmless_sections_for_a_fraction_of_flats_calls():
    r = tree_bench.cell(60, "binary", 100, "sections", reps=30, rho=tree_bench.H.RHO, seed=1)
    # no node is wrongly removable; a verified slim prompt is wrong at most at its 5% rate (3 of 30 runs is its
    # Monte Carlo reach; this stream has 1, the 100-run table 3%)
    assert r["fwer tree"] == 0 and r["slim tree"] <= 0.1
    assert r["sections"] > 0.5  # flat needs 139 cases for one unit; the tree removes harmless sections whole
    assert r["calls"] <= 0.5 and r["tokens"] >= 1.0


def test_where_no_section_is_harmless_the_tree_costs_no_more_than_flat():
    r = tree_bench.cell(60, "binary", 100, "none", reps=4, rho=tree_bench.H.RHO, seed=2)
    assert r["fwer tree"] == 0 and r["calls"] <= 1.1


def _bench(*args: str) -> str:
    import subprocess

    done = subprocess.run([sys.executable, str(Path(tree_bench.__file__)), *args], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_readmes_benchmark_command_prints_a_row_per_cell():
    out = _bench("--quick", "--reps", "2")
    rows = [line.split() for line in out.splitlines() if line.startswith("   60 ")]
    assert [(r[2], r[3], r[4]) for r in rows] == [(k, "100", s) for k in ("binary", "judge")
                                                  for s in ("sections", "none", "boundary")]


def test_readmes_plan_timing_command_prints_both_designs_for_a_1000_unit_prompt():
    """The timing itself is a figure README quotes, not asserted here; that the real command plans both designs is."""
    out = _bench("--plan")
    assert out.count("plan of a 1,000-unit template") == 2
    assert out.count("design: tree (1,000 units are more than flat may test one by one (max_units 300))") == 2
    assert "flat leave-one-out: 1002 variants, 100,200 target calls" in out


def test_the_alternatives_readme_names_run_as_flags():
    out = _bench("--quick", "--reps", "1", "--kinds", "binary", "--scenarios", "sections", "--no-rank",
                 "--reserve-always", "0.5", "--kept-order", "--lead-rungs", "--max-steps", "100000")
    assert [line.split()[4] for line in out.splitlines() if line.startswith("   60 ")] == ["sections"]


def test_a_cell_reads_the_same_alone_as_in_a_larger_run():
    """Each run draws from its own stream (seed, cell, run): README's single-cell commands reproduce the table's row."""
    alone = tree_bench.cell(60, "judge", 100, "sections", reps=3, rho=tree_bench.H.RHO, seed=5)
    tree_bench.cell(60, "binary", 100, "none", reps=2, rho=tree_bench.H.RHO, seed=5)  # another cell in between
    again = tree_bench.cell(60, "judge", 100, "sections", reps=3, rho=tree_bench.H.RHO, seed=5)
    assert {k: v for k, v in alone.items() if k != "plan"} == {k: v for k, v in again.items() if k != "plan"}


def test_readmes_400_unit_commands_print_only_their_cells():
    out = _bench("--reps", "1", "--sizes", "100", "--kinds", "binary", "--scenarios", "sections,none", "--only", "400")
    rows = [line.split() for line in out.splitlines() if line.startswith("  400 ")]
    assert [(r[2], r[3], r[4]) for r in rows] == [("binary", "100", "sections"), ("binary", "100", "none")]
