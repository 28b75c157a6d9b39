"""How α is shared over a prompt's tree (promptslim/hierarchy.py): the step-down is the closed test it claims to be,
Holm is its special case, and the plan gives α only where an unchanged node can be decided."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from promptslim.decide import ALPHA, holm_levels
from promptslim.hierarchy import (RHO, allocate, cases_unchanged, choose_levels, current_weights, most_lenient,
                                  step_down, unchanged_p)


def random_tree(rng: random.Random, size: int) -> dict[str, str | None]:
    parents: dict[str, str | None] = {}
    for i in range(size):
        parents[f"n{i}"] = rng.choice([None, *parents]) if parents and rng.random() < 0.7 else None
    return parents


def test_sections_alone_are_holm():
    rng = random.Random(1)
    for _ in range(300):
        k = rng.randint(1, 9)
        ps = [rng.random() * 0.06 for _ in range(k)]
        decided = step_down(allocate({f"s{i}": None for i in range(k)}, RHO), {f"s{i}": p for i, p in enumerate(ps)})
        assert [f"s{i}" in decided.rejected for i in range(k)] == [h[0] for h in holm_levels(ps)]


def test_weights_never_shrink_as_nodes_are_rejected_and_never_sum_above_one():
    rng = random.Random(2)
    for _ in range(150):
        parents = random_tree(rng, rng.randint(2, 8))
        alloc = allocate(parents, rng.random())
        assert sum(alloc.weights.values()) == pytest.approx(1.0)
        names = list(parents)
        for r in range(len(names) + 1):
            for closed in itertools.combinations(names, r):
                w = current_weights(alloc, closed)
                assert sum(w.values()) <= 1 + 1e-12
                for extra in set(names) - set(closed):
                    more = current_weights(alloc, (*closed, extra))
                    assert all(more[u] >= w[u] - 1e-12 for u in more)


def closed_test(alloc, pvalues, alpha=ALPHA) -> set[str]:
    """The closed test itself, every intersection by its weighted Bonferroni test: exponential, for small trees."""
    names = list(alloc.weights)
    rejected_sets = set()
    for r in range(1, len(names) + 1):
        for subset in itertools.combinations(names, r):
            closed = [n for n in names if n not in subset]
            w = current_weights(alloc, closed)
            if any(pvalues[u] <= alpha * w[u] for u in subset):
                rejected_sets.add(frozenset(subset))
    return {u for u in names if all(s in rejected_sets for s in map(frozenset, _supersets(names, u)))}


def _supersets(names, u):
    others = [n for n in names if n != u]
    for r in range(len(others) + 1):
        for extra in itertools.combinations(others, r):
            yield (u, *extra)


def test_the_step_down_rejects_exactly_what_the_closed_test_rejects():
    rng = random.Random(3)
    for _ in range(120):
        parents = random_tree(rng, rng.randint(2, 7))
        alloc = allocate(parents, rng.choice([0.0, 0.2, 0.5]))
        pvalues = {n: rng.random() ** 3 * 0.1 for n in parents}
        assert set(step_down(alloc, pvalues).rejected) == closed_test(alloc, pvalues)


def test_a_removable_section_passes_its_alpha_to_its_siblings_and_what_lies_below_them():
    parents = {"s1": None, "s2": None, "s1.a": "s1", "s1.b": "s1", "s2.a": "s2", "s2.b": "s2"}
    alloc = allocate(parents, 0.2)
    assert alloc.weights["s1"] == pytest.approx(0.4) and alloc.weights["s1.a"] == pytest.approx(0.05)
    w = current_weights(alloc, ["s1"])
    # s1's 0.4 goes to s2 and s2's subtree (0.4 + 0.05 + 0.05) in proportion; s1's own children get none of it
    assert w["s2"] == pytest.approx(0.4 + 0.4 * 0.4 / 0.5)
    assert w["s2.a"] == pytest.approx(0.05 + 0.4 * 0.05 / 0.5)
    assert w["s1.a"] == pytest.approx(0.05)
    # a block's share stays inside its section
    w = current_weights(alloc, ["s1.a"])
    assert w["s1.b"] == pytest.approx(0.1) and w["s2"] == pytest.approx(0.4)


def test_any_wrong_removable_stays_at_or_below_alpha_when_every_node_is_null():
    rng = random.Random(4)
    parents = {**{f"s{i}": None for i in range(6)}, **{f"s{i}.{j}": f"s{i}" for i in range(6) for j in range(4)}}
    alloc = allocate(parents, 0.5)
    reps, wrong = 4000, 0
    for _ in range(reps):
        shared = rng.random()  # strongly dependent p-values: the procedure assumes nothing about dependence
        pvalues = {n: shared if rng.random() < 0.5 else rng.random() for n in parents}
        wrong += bool(step_down(alloc, pvalues).rejected)
    assert wrong / reps <= ALPHA + 2 * math.sqrt(ALPHA * (1 - ALPHA) / reps)


def test_futility_is_judged_at_the_most_lenient_level_a_node_can_still_reach():
    alloc = allocate({f"s{i}": None for i in range(8)}, 0.0)
    assert most_lenient(alloc, "s0", set()) == pytest.approx(ALPHA)  # every other section could still be removable
    assert most_lenient(alloc, "s0", {"s1", "s2"}) == pytest.approx(ALPHA / 3)  # as decide.interim_all: α/(1 + s)


def sections_with_blocks(k: int, blocks: int = 3, units: int = 4) -> dict[str, str | None]:
    parents: dict[str, str | None] = {}
    for s in range(k):
        parents[f"s{s}"] = None
        for b in range(blocks):
            parents[f"s{s}.{b}"] = f"s{s}"
            parents.update({f"u{s}.{b}.{u}": f"s{s}.{b}" for u in range(units)})
    return parents


def test_at_100_cases_all_of_alpha_tests_the_sections_and_nothing_below_them():
    parents = sections_with_blocks(8)
    levels = choose_levels(parents, parents, {n: 1.0 for n in parents}, 100, 0.05)
    assert levels.depth == 1 and levels.rho == 0.0 and sorted(levels.tested) == [f"s{i}" for i in range(8)]
    # an unchanged section's p-value, 0.95^100 = 0.0059, passes the first Holm step α/8 = 0.00625
    assert unchanged_p(100, 0.05) <= ALPHA / 8 and cases_unchanged(ALPHA / 8, 0.05) == 99
    assert all(levels.skipped[n] == "depth" for n in parents if n.startswith(("u", "s0.")))


def test_at_200_cases_the_descent_gets_its_reserve_and_every_level():
    parents = sections_with_blocks(8)
    levels = choose_levels(parents, parents, {n: 1.0 for n in parents}, 200, 0.05)
    assert levels.depth == 3 and levels.rho == RHO and len(levels.tested) == len(parents)
    # 8 × 3 blocks and 96 units below the sections share ρ·α: an unchanged one is removable from 0.95^N ≤ ρα/120
    assert unchanged_p(200, 0.05) <= ALPHA * RHO / 120


def test_with_more_sections_than_can_be_decided_the_ones_that_save_most_are_tested():
    parents = sections_with_blocks(20, blocks=1, units=3)
    saving = {n: float(int(n[1:].split(".")[0])) if n.startswith("s") else 0.0 for n in parents}
    levels = choose_levels(parents, parents, saving, 100, 0.05)
    k = math.floor(ALPHA / unchanged_p(100, 0.05))
    assert k == 8 and sorted(levels.tested) == sorted(f"s{i}" for i in range(12, 20))
    assert all(levels.skipped[f"s{i}"] == "rank" for i in range(12))


def test_nodes_not_worth_testing_get_no_alpha():
    parents = sections_with_blocks(4, blocks=2, units=3)
    worth = {n for n in parents if not n.startswith("u")}
    levels = choose_levels(parents, worth, {n: 1.0 for n in parents}, 300, 0.05)
    assert not any(n.startswith("u") for n in levels.tested)
    assert {n for n in levels.tested} == worth
