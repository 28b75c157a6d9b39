"""The tree design as one procedure, pure: which node runs on which cases, the looks, the verdicts, the slim prompt.

A generator (`procedure`) yields what it wants run — variants as sets of unit ids, on case indices — and is sent back
each variant's paired deltas and money; it returns the verdicts and the slim prompt. The engine drives it with real
calls (promptslim/engine/strategies/tree.py), benchmarks/tree_bench.py with planted scores, so the benchmark
measures the code that ships. The statistics are decide.py's (per-node p-values, interim looks, the slim search and
its verification) and hierarchy.py's (how α is shared over the tree).

Order of play:
1. The plan's top-level nodes (sections) in two stages, as leave-one-out runs its units: every other case first;
   a node stops as keep at 0.1%, or as futile at the most lenient level it can still reach; the rest run on the other
   half. hierarchy.step_down decides. A removable node is removed whole: nothing below it runs.
2. The nodes the plan tests below each node that was not removable, the same way, level by level.
3. The slim prompt. Large eval sets (decide.split_slim): a search on a quarter of the cases (decide.search_indices,
   every other stage-1 case) that follows the tree — a node that breaks the set built so far (or whose own answers
   there look harmful) is not kept, and its children are tried instead — then prefixes of what it kept verified on
   the other three quarters at 95% (decide.verify_indices, decide.ladder; tested nodes, then untested sections kept
   whole, then the rest — or, where a harmless rung would often fail by noise (decide.harmless_passes), the quarters
   of those nodes in that order): they chose nothing. Smaller
   ones: a fixed sequence on every case at 97.5% per step, first failure stops: the removable nodes by $ saved, then
   every other unit worth testing by the $ its input tokens save (known before any score).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generator, Mapping

from promptslim.decide import (ALPHA, KEEP_ALPHA_INTERIM, MIN_TWO_STAGE, UnitDecision, decision, harmless_passes,
                               interim, ladder, ni_pvalue, search_indices, search_keeps, slim_step, split_slim,
                               stage_one_indices, upper, verify_indices)
from promptslim.hierarchy import Allocation, most_lenient, step_down
from promptslim.template.tree import Tree

Key = frozenset  # a variant: the unit ids it removes


@dataclass(frozen=True)
class Got:
    """One variant's answers on the asked cases: paired deltas (variant − baseline), $/call it saves there, and
    whether it saves money at all."""

    deltas: list[float]
    usd_saved: float = 0.0
    saves: bool = True


@dataclass(frozen=True)
class Ask:
    """Run each variant on its case indices; `phase` names the step for progress."""

    runs: tuple[tuple[Key, tuple[int, ...]], ...]
    phase: str


@dataclass(frozen=True)
class Step:
    """One slim test: the units removed together, its bounds, and whether it held (stage 1: the search kept it)."""

    removed: tuple[int, ...]
    verified: bool
    low: float | None
    high: float | None
    saves: bool
    stage: int | None
    key: Key
    indices: tuple[int, ...]  # the cases it ran on


@dataclass
class Outcome:
    """Verdicts per tested node, why the others were not tested, the shipped slim set and every slim step."""

    decisions: dict[str, UnitDecision] = field(default_factory=dict)
    untested: dict[str, str] = field(default_factory=dict)  # node id → 'removed-with:<id>' | reason from the plan
    measured: dict[str, Got] = field(default_factory=dict)  # each tested node's answers on the cases it ran
    slim: tuple[int, ...] = ()
    slim_deltas: list[float] = field(default_factory=list)
    slim_low: float | None = None
    slim_high: float | None = None
    steps: list[Step] = field(default_factory=list)
    split: bool = False
    adaptive: bool = False


Runs = Generator[Ask, Mapping[tuple[Key, tuple[int, ...]], Got], Outcome]


def procedure(tree: Tree, alloc: Allocation, n: int, margin: float, static_usd: Mapping[str, float],
              worth: set[str], skipped: Mapping[str, str], two_stage: bool = True, alpha: float = ALPHA,
              max_steps: int = 300, clean_first: bool = True, lead_rungs: bool | None = None) -> Runs:
    """The whole tree design (see the module docstring); `static_usd` is each node's $/call saving from its input
    tokens alone, `worth` the nodes that can pay for a test, `skipped` why the plan leaves nodes untested,
    `max_steps` how many new sets the slim prompt may try (max_units: each is a variant of its own)."""
    out = Outcome(untested=dict(skipped))
    out.adaptive = two_stage and n >= MIN_TWO_STAGE
    first = tuple(stage_one_indices(n)) if out.adaptive else tuple(range(n))
    rest = tuple(i for i in range(n) if i not in set(first))
    out.split = out.adaptive and split_slim(n, margin, alpha)  # known before any data: N and the margin decide it
    search = tuple(search_indices(n)) if out.split else ()
    # stage 1 runs in two pieces when the slim prompt is split: the search may look at its own quarter only
    pieces = (search, tuple(i for i in first if i not in set(search))) if out.split else (first,)
    key = {nid: Key(node.units) for nid, node in tree.nodes.items()}
    pvalues: dict[str, float] = {}
    stopped: dict[str, str] = {}
    stage1: dict[str, list[float]] = {}
    seen: dict[str, Got] = {}  # each tested node's answers on the search's cases
    frontier = [n_ for n_ in alloc.order() if alloc.shape.parent[n_] is None]
    rejected: frozenset[str] = frozenset()
    while frontier:
        phase = _phase(tree, frontier)
        got = yield Ask(tuple((key[v], p) for v in frontier for p in pieces),
                        phase + (" (stage 1)" if out.adaptive else ""))
        for v in frontier:
            out.measured[v] = _join([got[(key[v], p)] for p in pieces])
            stage1[v] = list(out.measured[v].deltas)
            seen[v] = got[(key[v], pieces[0])]
        if out.adaptive:
            for v in frontier:
                high = upper(stage1[v], KEEP_ALPHA_INTERIM)
                if high is not None and high < 0:
                    stopped[v] = "keep"
            for v in frontier:
                if v not in stopped:
                    level = most_lenient(alloc, v, set(stopped) | _withheld(alloc, rejected), alpha)
                    early = interim(stage1[v], n, margin, level)
                    if early is not None:
                        stopped[v] = early
            go = [v for v in frontier if v not in stopped]
            if go:
                more = yield Ask(tuple((key[v], rest) for v in go), phase + " (stage 2)")
                for v in go:
                    out.measured[v] = _join([out.measured[v], more[(key[v], rest)]])
        for v in frontier:
            pvalues[v] = 1.0 if v in stopped else ni_pvalue(out.measured[v].deltas, margin)
        rejected = step_down(alloc, pvalues, alpha).rejected
        frontier = [k for v in frontier if v not in rejected for k in alloc.shape.kids(v)]
    decided = step_down(alloc, pvalues, alpha)
    _verdicts(out, alloc, decided, pvalues, stopped, alpha)
    _untested(out, tree, decided.rejected)
    if out.split:
        yield from _search_and_verify(out, tree, key, search, tuple(verify_indices(n)), margin, static_usd, worth,
                                      seen, alpha, max_steps, clean_first, lead_rungs)
    else:
        yield from _sequence(out, tree, key, n, margin, static_usd, worth, decided.rejected, max_steps)
    return out


def _join(parts: list[Got]) -> Got:
    """One variant's answers on several runs of cases, as one: $/call saved is their mean (runs of about equal size),
    and it saves money only if it does on every run."""
    return Got([d for g in parts for d in g.deltas], sum(g.usd_saved for g in parts) / len(parts),
               all(g.saves for g in parts))


def _phase(tree: Tree, nodes: list[str]) -> str:
    kinds = {tree.nodes[v].kind for v in nodes}
    return next((f"{k}s" for k in ("section", "block", "unit") if k in kinds), "nodes")


def _withheld(alloc: Allocation, rejected: frozenset[str]) -> set[str]:
    """Nodes below a removable one: never tested, so never rejected."""
    return {x for v in rejected for x in alloc.shape.subtree(v)[1:]}


def _verdicts(out: Outcome, alloc: Allocation, decided, pvalues: dict[str, float], stopped: dict[str, str],
              alpha: float) -> None:
    keep_alpha = alpha - KEEP_ALPHA_INTERIM if out.adaptive else alpha
    for v, p in pvalues.items():
        level = decided.levels.get(v, alpha * alloc.weights[v])
        out.decisions[v] = decision(out.measured[v].deltas, p, level, v in decided.rejected, keep_alpha, stopped.get(v))


def _untested(out: Outcome, tree: Tree, rejected: frozenset[str]) -> None:
    """Why each node without a verdict has none: removed with a removable ancestor, else the plan's reason."""
    for node in tree.walk():
        if node.id in out.decisions:
            continue
        gone = next((a for a in tree.covering(node.id)[1:] if a in rejected), None)
        if gone is not None:
            out.untested[node.id] = f"removed-with:{gone}"
        else:
            out.untested.setdefault(node.id, "depth")


def _covered(units: frozenset[int], kept: set[int]) -> bool:
    return units <= kept


def _search_and_verify(out: Outcome, tree: Tree, key: dict[str, Key], first: tuple[int, ...], rest: tuple[int, ...],
                       margin: float, static_usd: Mapping[str, float], worth: set[str],
                       seen: dict[str, Got], alpha: float, max_steps: int, clean_first: bool,
                       lead_rungs: bool | None = None):
    """The search down the tree on its cases (`first`, with each tested node's answers there in `seen`), then
    prefixes of what it kept verified on the cases that chose nothing (`rest`; decide.ladder)."""
    kept: list[str] = []
    kept_units: set[int] = set()
    drop: dict[str, float] = {}  # how much the search's mean fell when the node joined the set
    last: list[list[float]] = [[]]  # the deltas of the largest set the search kept, on its cases

    def by_usd(ids) -> list[str]:
        return sorted((i for i in ids if i in worth), key=lambda i: (-static_usd.get(i, 0.0), tree.nodes[i].line, i))

    def visit(nid: str):
        node = tree.nodes[nid]
        if _covered(key[nid], kept_units):
            return
        own = seen.get(nid)
        if own is not None and not (own.saves and search_keeps(own.deltas, margin)):
            for child in by_usd(node.children):  # its own answers in the search look harmful: try its parts
                yield from visit(child)
            return
        if sum(1 for st in out.steps if st.stage == 1) >= max_steps:
            return  # the search has tried as many sets as one run may
        trial = Key(kept_units | set(node.units))
        if not kept and own is not None:
            got = own  # the one-node set is its own leave-one-out answers
        else:
            got = (yield Ask(((trial, first),), "slim search"))[(trial, first)]
        ok = got.saves and search_keeps(got.deltas, margin)
        _, low, high = slim_step(got.deltas, margin, alpha)  # for reading only: a search claims nothing
        out.steps.append(Step(tuple(sorted(trial)), ok, low, high, got.saves, 1, trial, first))
        if ok:
            kept.append(nid)
            kept_units.update(node.units)
            drop[nid] = _mean(last[0]) - _mean(got.deltas)
            last[0] = list(got.deltas)
        else:
            for child in by_usd(node.children):
                yield from visit(child)

    for root in by_usd(tree.roots):
        yield from visit(root)
    # the verification takes the surest parts first: nodes the search saw twice (their own answers, then joining the
    # set) before nodes it saw only as they joined (at N = 100 a unit at −margin passes one look at 25 cases in 28% of
    # draws and then sinks every rung from its own: the first rung of 60-unit judged prompts failed that way), and of
    # the latter the sections it kept whole first (no part of them broke the set); within each group a node that cost
    # the set some quality in the search last, so if it breaks the set it takes only the last prefix with it. (Among
    # the nodes seen twice, sections are not put first: at N = 200 the plan tests blocks and units too, and a section
    # the search kept though it hides a unit at −margin sank the first rung — 60 units, boundary, 1.15× → 0.14× flat's
    # tokens.) The search's data and the plan decide the order: the verifying cases stay untouched.
    if clean_first:  # (False: in the order kept, for benchmarks/tree_bench.py --kept-order)
        kept.sort(key=lambda nid: (nid not in seen, nid not in seen and tree.nodes[nid].parent is not None,
                                   round(drop[nid], 12) > 0, drop[nid], -static_usd.get(nid, 0.0)))
    if lead_rungs is None:  # (True: always, for benchmarks/tree_bench.py --lead-rungs, the rule before)
        lead_rungs = harmless_passes(last[0], len(rest), margin, alpha)
    sure_first = clean_first and lead_rungs
    for size in _rungs(kept, seen, tree, sure_first):
        removed = Key(u for nid in kept[:size] for u in tree.nodes[nid].units)
        got = (yield Ask(((removed, rest),), "slim (verification)"))[(removed, rest)]
        ok, low, high = slim_step(got.deltas, margin, alpha)
        out.steps.append(Step(tuple(sorted(removed)), ok, low, high, got.saves, 2, removed, rest))
        if not (ok and got.saves):
            break
        out.slim, out.slim_deltas, out.slim_low, out.slim_high = tuple(sorted(removed)), got.deltas, low, high


def _mean(deltas: list[float]) -> float:
    return sum(deltas) / len(deltas) if deltas else 0.0


def _rungs(kept: list[str], seen: Mapping[str, Got], tree: Tree, sure_first: bool) -> list[int]:
    """The prefixes the verification tests in turn: decide.ladder's quarters of the kept nodes; but when only some
    were seen twice (the sections, where the plan tested nothing below them), those first as one rung of their own
    — a third of the prompt or more, so a quarter of the nodes would take big unsure blocks in with them —, then
    the untested sections the search kept whole as one rung (no part of them broke the set, while a part kept after
    the search descended has siblings that did: at 400 units the rung that mixed them lost both), then the quarters
    of the rest. A fixed sequence chosen on the search's cases: a rung more costs calls, never error.

    Only where a harmless rung passes (`sure_first`: decide.harmless_passes on the search's spread): under a noisy
    judge each rung is nearly a coin flip (a set that changes nothing passes 75 judged cases at 95% in 45% of draws),
    a failed rung ships none after it, and the two small lead rungs cost the later ones more than they guard; there
    the quarters of the sorted nodes, sections first, make the first rung the largest."""
    if not sure_first:
        return ladder(len(kept))
    sure = sum(1 for nid in kept if nid in seen)
    whole = sum(1 for nid in kept if nid not in seen and tree.nodes[nid].parent is None)
    lead = sorted({size for size in (sure, sure + whole) if size})
    if lead in ([], [len(kept)]):
        return ladder(len(kept))
    return [*lead, *(lead[-1] + k for k in ladder(len(kept) - lead[-1]))]


def _sequence(out: Outcome, tree: Tree, key: dict[str, Key], n: int, margin: float, static_usd: Mapping[str, float],
              worth: set[str], rejected: frozenset[str], max_steps: int):
    """Nested sets on every case at 97.5% each: removable nodes first, then every other unit worth testing."""
    cases = tuple(range(n))
    tops = [v for v in rejected if not any(a in rejected for a in tree.covering(v)[1:])]
    order = sorted(tops, key=lambda v: (-out.measured[v].usd_saved, tree.nodes[v].line, v))
    covered = {u for v in order for u in tree.nodes[v].units}
    leaves = [leaf.id for leaf in tree.leaves() if leaf.id in worth and not set(leaf.units) <= covered]
    order += sorted(leaves, key=lambda v: (-static_usd.get(v, 0.0), tree.nodes[v].line, v))
    order = order[:max_steps]
    removed: set[int] = set()
    for nid in order:
        removed |= set(tree.nodes[nid].units)
        trial = Key(removed)
        got = (yield Ask(((trial, cases),), f"slim ({len(out.steps) + 1})"))[(trial, cases)]
        ok, low, high = slim_step(got.deltas, margin)
        out.steps.append(Step(tuple(sorted(trial)), ok, low, high, got.saves, None, trial, cases))
        if not (ok and got.saves):
            break
        out.slim, out.slim_deltas, out.slim_low, out.slim_high = tuple(sorted(trial)), got.deltas, low, high
