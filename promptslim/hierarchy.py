"""Hierarchical testing over a prompt's tree (issue 23): who gets how much α, and which nodes are removable.

Pure functions of the tree's shape and the nodes' p-values (decide.ni_pvalue), no I/O; the tree strategy
(promptslim/engine/strategies/tree.py, through promptslim/descent.py) and benchmarks/tree_bench.py call exactly
these, so the benchmark measures what ships.

The procedure is a closed test with weighted Bonferroni local tests, run by its sequentially rejective shortcut, so
the chance of any wrong `removable` over every node of the tree stays ≤ α under any dependence between the nodes'
p-values (they share cases). Weights:
- before any data, each tested node has a share of α: the top-level nodes (sections) (1 − ρ)/R each, every node
  below them ρ/D (R sections, D nodes below them that the plan tests; ρ = 0 when the descent cannot decide);
- a rejected (removable) node's share goes to the still-open members of its family — its siblings and everything
  below them — in proportion to their shares: w_u(I) = w_u + Σ_{v ∉ I, u ∈ F(v)} w_v · w_u / W(F(v) ∩ I).
  These weights never shrink as more nodes are rejected and never sum above 1, so the shortcut is the closed
  test (Hommel, Bretz and Maurer 2007): reject every open node with p ≤ α·w_u(I), recompute, until none.
A section's share flows only to sections and what lies below them, a block's only within its section, so the
levels can be decided top down: sections on their p-values alone, then the blocks of the sections that were not
removable, then their units. A node below a removable ancestor is never tested (its p-value is 1: a valid p-value
made larger), and neither is a node stopped early as keep or futile.

Why not Meinshausen's hierarchical procedure: it tests a parent's intersection hypothesis ("no child matters") and
descends after *rejecting* it, to find which child matters. Here the claim is the opposite one — removing the node
loses less than the margin — and we descend into the nodes that were *not* shown removable. Removing a whole
section being harmless neither implies nor is implied by removing any one of its units being harmless (instructions
interact), so no logical order between parent and child hypotheses is there to exploit; each node is a hypothesis
of its own, and its α must be set aside before the data, not inherited from a parent that failed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Mapping

from promptslim.decide import ALPHA

METHOD = "tree-closed-weighted-bonferroni"  # names the procedure in ablation.json's `method`
RHO = 0.5  # share of α set aside for the descent when it can decide anything at this N (benchmarks/tree_bench.py)


@dataclass(frozen=True)
class Shape:
    """The tested part of a tree: each node's parent (None at the top) and its children, in document order."""

    parent: dict[str, str | None]
    children: dict[str | None, tuple[str, ...]]

    @classmethod
    def of(cls, parents: Mapping[str, str | None]) -> "Shape":
        kids: dict[str | None, list[str]] = {}
        for node, parent in parents.items():
            kids.setdefault(parent, []).append(node)
        return cls(dict(parents), {k: tuple(v) for k, v in kids.items()})

    def kids(self, node: str | None) -> tuple[str, ...]:
        return self.children.get(node, ())

    def subtree(self, node: str) -> list[str]:
        out, stack = [], [node]
        while stack:
            current = stack.pop()
            out.append(current)
            stack.extend(self.kids(current))
        return out

    def depth(self, node: str) -> int:
        d, current = 1, self.parent[node]
        while current is not None:
            d, current = d + 1, self.parent[current]
        return d


@dataclass(frozen=True)
class Allocation:
    """The tested nodes, each one's share of α before any data, and the reserve ρ for the descent."""

    shape: Shape
    weights: dict[str, float]
    rho: float

    def order(self) -> list[str]:
        """Parents before children."""
        out: list[str] = []
        frontier = list(self.shape.kids(None))
        while frontier:
            out.extend(frontier)
            frontier = [k for node in frontier for k in self.shape.kids(node)]
        return out


def allocate(parents: Mapping[str, str | None], rho: float) -> Allocation:
    """Shares of α: (1 − ρ)/R for each top-level node, ρ/D for each of the D nodes below (ρ = 0 when D = 0)."""
    shape = Shape.of(parents)
    roots = shape.kids(None)
    below = [n for n in parents if parents[n] is not None]
    rho = rho if below else 0.0
    weights = {n: (1 - rho) / len(roots) for n in roots}
    weights.update({n: rho / len(below) for n in below})
    return Allocation(shape, weights, rho)


def current_weights(alloc: Allocation, closed: Iterable[str]) -> dict[str, float]:
    """w_u(I) for every open node u: its share plus the shares of closed nodes whose family holds it, spread over the
    open members of that family in proportion to their shares. O(nodes)."""
    shut = set(closed)
    shape, w = alloc.shape, alloc.weights
    open_below: dict[str, float] = {}  # open share in each subtree
    for node in reversed(alloc.order()):
        open_below[node] = (0.0 if node in shut else w[node]) + sum(open_below[k] for k in shape.kids(node))
    gain: dict[str, float] = {}  # Σ over closed siblings v of w_v / W(F(v) ∩ I), per node
    for parent, group in shape.children.items():
        total = sum(open_below[k] for k in group)
        flows = {v: w[v] / (total - open_below[v]) for v in group
                 if v in shut and total - open_below[v] > 1e-300}
        whole = sum(flows.values())
        for a in group:
            gain[a] = whole - flows.get(a, 0.0)
    out: dict[str, float] = {}
    for node in alloc.order():  # parents first: a node inherits what flows into its ancestors' families
        up = alloc.shape.parent[node]
        gain[node] += gain[up] if up is not None else 0.0
        if node not in shut:
            out[node] = w[node] * (1 + gain[node])
    return out


@dataclass(frozen=True)
class Decided:
    """The step-down's outcome: the removable nodes and the level each node was tested at (α·w_u(I) when it was
    rejected, or at the end)."""

    rejected: frozenset[str]
    levels: dict[str, float] = field(default_factory=dict)


def step_down(alloc: Allocation, pvalues: Mapping[str, float], alpha: float = ALPHA) -> Decided:
    """Reject every open node with p ≤ α·w_u(I), recompute the weights, until none is left to reject. A node without
    a p-value (not tested) is open and never rejected."""
    closed: set[str] = set()
    levels: dict[str, float] = {}
    while True:
        weights = current_weights(alloc, closed)
        new = {u for u, wu in weights.items() if pvalues.get(u, 1.0) <= alpha * wu}
        for u, wu in weights.items():
            levels[u] = alpha * wu
        if not new:
            return Decided(frozenset(closed), levels)
        closed |= new


def most_lenient(alloc: Allocation, node: str, unrejectable: Iterable[str], alpha: float = ALPHA) -> float:
    """The largest level `node` can still be tested at: every other node rejected except those that cannot be
    (stopped early, or below a removable ancestor). Futility is judged at it, as decide.interim_all does for Holm."""
    keep = set(unrejectable) | {node}
    return alpha * current_weights(alloc, [n for n in alloc.weights if n not in keep])[node]


def unchanged_p(n: int, margin: float) -> float:
    """The p-value of a node that changes no answer on n cases: (1 − margin)^n (decide.ni_pvalue's exact bound)."""
    return (1 - margin) ** n


def cases_unchanged(level: float, margin: float) -> int:
    """Fewest cases for a node that changes no answer to be removable at this level."""
    return math.floor(math.log(level) / math.log(1 - margin)) + 1 if level > 0 else 10 ** 9


@dataclass(frozen=True)
class Levels:
    """What the plan tests: the top-level nodes and the deepest level it descends to, the reserve, and why others are
    left untested (node id → reason: 'depth', 'rank')."""

    tested: tuple[str, ...]
    depth: int
    rho: float
    skipped: dict[str, str]


def choose_levels(tree_parents: Mapping[str, str | None], worth: Iterable[str], saving: Mapping[str, float], n: int,
                  margin: float, alpha: float = ALPHA, max_depth: int = 3, rho: float = RHO, rank: bool = True) -> Levels:
    """Which nodes get α, before any data (so the choice costs no validity).

    - Only nodes `worth` testing (they can pay for their test) and whose parent is tested.
    - Top level: when an unchanged node cannot be removable at α/R for all R of them, only the k = ⌊α/(1 − margin)^N⌋
      that save the most are tested (each can then be decided); the rest are ranked out (reason 'rank').
    - Descent: the deepest level d ≤ max_depth at which both the top level, at α(1 − ρ)/R, and every node below it,
      at αρ/D_d, can still decide an unchanged node; with none, only the top level is tested and ρ = 0.
    """
    worthy = set(worth)
    depth_of: dict[str, int] = {}
    for node, parent in tree_parents.items():
        d, up = 1, parent
        while up is not None:
            d, up = d + 1, tree_parents[up]
        depth_of[node] = d
    tops = sorted((x for x in tree_parents if tree_parents[x] is None and x in worthy),
                  key=lambda x: (-saving.get(x, 0.0), x))
    floor_p = unchanged_p(n, margin)
    k = math.floor(alpha / floor_p)
    skipped: dict[str, str] = {}
    if rank and 1 <= k < len(tops):  # (rank=False: every section at α/R, for benchmarks/tree_bench.py --no-rank)
        skipped.update({x: "rank" for x in tops[k:]})
        tops = tops[:k]
    chosen = set(tops)

    def below(d: int) -> list[str]:
        out = []
        for node in sorted(tree_parents, key=lambda x: depth_of[x]):
            parent = tree_parents[node]
            if 1 < depth_of[node] <= d and node in worthy and parent is not None and parent in chosen | set(out):
                out.append(node)
        return out

    depth, reserve = 1, 0.0
    for d in range(max_depth, 1, -1):
        nodes = below(d)
        if nodes and tops and alpha * (1 - rho) / len(tops) >= floor_p and alpha * rho / len(nodes) >= floor_p:
            depth, reserve = d, rho
            break
    tested = tops + (below(depth) if depth > 1 else [])
    depth = max((depth_of[x] for x in tested), default=1)  # the deepest level actually tested
    in_plan = set(tested)
    for node in tree_parents:
        if node not in in_plan and node not in skipped and node in worthy:
            parent = tree_parents[node]
            skipped[node] = "rank" if parent in skipped and skipped[parent] == "rank" else "depth"
    return Levels(tuple(tested), depth, reserve, skipped)
