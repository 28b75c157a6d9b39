"""Remove units, tree design (issue 23): sections first, then blocks, then units, only where a test can decide and pay.

The plan (TreeDesign, before any call): the prompt's tree (template/tree.py), each node's most possible saving and
the cost of testing it (cost/design.py), the nodes that cannot repay a test within `payback_months`, the depth and the
share of α the descent gets (hierarchy.choose_levels), and the depth `--max-cost` leaves room for. The run
(RemoveTree.run) drives promptslim/descent.py's procedure with real calls and returns the removal's section — the
same `units` and `slim` keys as leave-one-out, plus `design`, `tree` and `nodes` (results/tree.py).
"""

from __future__ import annotations

import difflib
import statistics
from dataclasses import dataclass, field
from typing import Sequence

from promptslim import limits, paths
from promptslim.cost.design import DesignCost, Rates, design_cost
from promptslim.cost.figure import NOT_INCLUDED, Output, cost_of
from promptslim.cost.payback import not_worth_text, worth_testing
from promptslim.cost.plan import OUTPUT_ESTIMATE
from promptslim.decide import ALPHA, METHOD, cases_for_power, detectable, min_cases_unchanged
from promptslim.descent import Got, Outcome, procedure
from promptslim.engine.evaluator import CaseResult, Evaluator, VariantResult
from promptslim.engine.record import variant_facts
from promptslim.engine.strategies.leave_one_out import (Proposal, Removal, UnitResult, at_pace, cache_warnings,
                                                        unit_finding, unverified)
from promptslim.engine.trial import State, Trial, Variant, bounds, paired
from promptslim.errors import PromptslimError
from promptslim.hierarchy import METHOD as TREE_METHOD
from promptslim.hierarchy import Allocation, Levels, allocate, cases_unchanged, choose_levels, unchanged_p
from promptslim.llm.store import Pace
from promptslim.results import Power, SideErrors, SlimFinding, SlimStep, Verdict
from promptslim.results.tree import NodeFinding, TreePlanFacts, TreeSection
from promptslim.template.tree import Tree, build_tree, without
from promptslim.tokens import count_text

DEPTH_NAMES = {1: "the sections", 2: "the level below the sections", 3: "every level"}


@dataclass
class TreeDesign:
    """What the plan decided for the tree design, and the flat design's figures to compare with."""

    tree: Tree
    rates: Rates
    tokens: dict[str, int]  # per node
    worth: set[str]
    levels: Levels
    alloc: Allocation
    cost: DesignCost
    flat: DesignCost
    margin: float
    uncapped: DesignCost  # the tree's plan before --max-cost capped the descent: what the designs are compared by
    capped: list[str] = field(default_factory=list)  # nodes the budget left untested
    payback_months: float = 3.0

    def reasons(self) -> dict[str, str]:
        """Why the plan leaves a node untested: payback, rank, depth or budget (descent.Outcome.untested)."""
        return {**self.levels.skipped, **{x: "payback" for x in self.tree.nodes if x not in self.worth}}

    @property
    def sections(self) -> list[str]:
        return [x for x in self.levels.tested if self.tree.nodes[x].parent is None]

    @property
    def applicable(self) -> bool:
        """Two or more top-level nodes to test: otherwise the tree is leave-one-out with extra steps."""
        return len(self.sections) >= 2

    def section_level(self) -> float:
        return ALPHA * (1 - self.levels.rho) / max(len(self.sections), 1)

    def below_level(self) -> float | None:
        below = len(self.levels.tested) - len(self.sections)
        return ALPHA * self.levels.rho / below if below and self.levels.rho else None

    def can_decide(self) -> bool:
        return self.applicable and self.section_level() >= unchanged_p(self.rates.cases, self.margin)

    def flat_can_decide(self, k: int, margin: float) -> bool:
        return self.rates.cases >= min_cases_unchanged(k, margin)

    def facts(self) -> TreePlanFacts:
        below = self.below_level()
        margin = self.margin
        return TreePlanFacts(
            depth=self.levels.depth, rho=self.levels.rho, sections_tested=len(self.sections),
            nodes_tested=len(self.levels.tested), section_level=self.section_level(), below_level=below,
            cases_unchanged_section=cases_unchanged(self.section_level(), margin),
            cases_unchanged_below=cases_unchanged(below, margin) if below else None,
            payback_months=self.payback_months, traffic=self.rates.calls_per_month > 0,
            not_worth_testing=sum(1 for x in self.tree.nodes if x not in self.worth), capped_by_budget=len(self.capped))


def rates_of(ev: Evaluator) -> Rates:
    """The plan's per-call figures for this evaluator: its eval set, prices, traffic and the baseline's tokens."""
    source = ev.template.source
    tokens = ev.input_tokens(source)
    base = sum(tokens) / len(tokens) if tokens else 0.0
    answer = min(OUTPUT_ESTIMATE, ev.params(0).max_tokens or OUTPUT_ESTIMATE)
    roles = ev.runner.roles
    judge = roles["judge"].price if ev.judge is not None and "judge" in roles else None
    figure = cost_of(ev.price, base, Output(0.0, NOT_INCLUDED, ""), ev.config.prompt(ev.template.name),
                     ev.calls_per_month, ev.prefix_of(source))
    per_token = figure.usd_per_call / base if base else 0.0
    return Rates(len(ev.evalset.cases), ev.repeats, base, answer, roles["target"].price, judge, per_token,
                 ev.calls_per_month)


def plan_design(ev: Evaluator, margin: float, budget: float | None = None, max_depth: int = 3) -> TreeDesign:
    """The tree design's plan: nodes worth testing, the depth and α shares, capped by the budget; flat's figures."""
    template = ev.template
    tree = build_tree(template.source, template.units, template.fixed)
    unit_tokens = {u.id: count_text(u.text, ev.models.price_model) for u in template.candidates}
    tokens = {nid: sum(unit_tokens.get(u, 0) for u in node.units) for nid, node in tree.nodes.items()}
    rates = rates_of(ev)
    months = ev.config.payback_months
    if rates.calls_per_month > 0:
        worth = {x for x in tree.nodes if worth_testing(rates.saves_per_month(tokens[x]), rates.test_usd(tokens[x]),
                                                        months)}
    else:
        worth = set(tree.nodes)  # no traffic: nothing to weigh; tokens saved per call set the order instead
    parents = {nid: node.parent for nid, node in tree.nodes.items()}
    saving = {x: float(tokens[x]) for x in tree.nodes}
    all_units = float(sum(unit_tokens.values()))
    flat = design_cost("flat", rates, [float(unit_tokens[u.id]) for u in template.candidates], all_units)
    full = choose_levels(parents, worth, saving, rates.cases, margin, max_depth=max_depth)
    uncapped = design_cost("tree", rates, [float(tokens[x]) for x in full.tested], all_units)
    levels, cost = full, uncapped
    while budget is not None and cost.usd > budget and levels.depth > 1:
        levels = choose_levels(parents, worth, saving, rates.cases, margin, max_depth=levels.depth - 1)
        cost = design_cost("tree", rates, [float(tokens[x]) for x in levels.tested], all_units)
    capped = [x for x in full.tested if x not in set(levels.tested)]
    levels.skipped.update({x: "budget" for x in capped})
    alloc = allocate({x: parents[x] for x in levels.tested}, levels.rho)
    return TreeDesign(tree, rates, tokens, worth, levels, alloc, cost, flat, margin, uncapped, capped, months)


@dataclass(frozen=True)
class TreeRemoval(Removal):
    """The removal's section of a tree run: what would settle it speaks of the nodes it tested."""

    def inconclusive_hint(self, n: int, repeats: int, paces: Sequence[Pace | None]) -> str | None:
        nodes = [x for s in self.sections if isinstance(s, TreeSection) for x in s.nodes if x.tested]
        open_nodes = [x for x in nodes if x.verdict == Verdict.INCONCLUSIVE]
        if not open_nodes:
            return None
        power = self.power
        text = f"{len(open_nodes)} of {len(nodes)} tested nodes are inconclusive at {n} cases"
        if power.min_detectable_margin is not None:
            text += f" (smallest margin this run could detect with 80% power: {power.min_detectable_margin:.3f})"
        target = max(power.min_cases_unchanged, power.cases_for_80pct_power or 0)
        if target <= n:
            return text + "; their score deltas sit near −margin: more cases of the same kind will not settle them"
        calls = (1 + len(nodes)) * target * repeats
        return text + (f"; about {target} cases in a new, larger eval set would settle the sections (and let the plan "
                       f"descend further): ~{calls * len(paces):,} calls, {at_pace(calls, paces)}")


class RemoveTree:
    """The removal lever, tree design: plan the tree (prepare), then run descent.procedure against the baseline."""

    design_name = "tree"
    plan_lines: list[str] = []  # what the plan says about the designs (set by strategies/design.py)
    extra_plan: dict | None = None  # the nodes' estimate added to the engine's plan

    def __init__(self, slim_path: str = "", plan: TreeDesign | None = None, margin: float | None = None) -> None:
        self.slim_path = slim_path
        self.plan = plan
        self.margin = margin

    def prepare(self, setup) -> "RemoveTree":  # noqa: ANN001 - engine.setup.Prepared
        tpl = setup.template
        if not tpl.candidates:
            raise PromptslimError(f"{tpl.rel}: no removable units (all pinned or fixed) — see `promptslim units {tpl.rel}`")
        margin = setup.settings.margin.value
        plan = plan_design(setup.evaluator, margin, setup.budget)
        return RemoveTree(self.slim_path or paths.slim_rel(tpl.name, tpl.rel), plan, margin)

    def bind(self, ev: Evaluator, margin: float, budget: float | None = None) -> "RemoveTree":
        """The same, over an evaluator built by hand (run_ablation)."""
        return RemoveTree(self.slim_path, plan_design(ev, margin, budget), margin)

    def variants(self) -> list[Variant]:
        return []  # rendered as they run: the plan adds the nodes' estimate (plan_lines, cost) without rendering them

    async def run(self, trial: Trial, state: State) -> Removal:
        assert self.plan is not None, "prepare() or bind() first"
        return await _Run(self.plan, trial, self.slim_path).go()


class _Run:
    """One tree-design run: drive the procedure with real calls, then assemble the removal's section."""

    def __init__(self, plan: TreeDesign, trial: Trial, slim_path: str) -> None:
        self.plan, self.trial, self.slim_path = plan, trial, slim_path
        self.ev = trial.ev
        self.results: dict[tuple[frozenset, tuple[int, ...]], VariantResult] = {}
        self.errors: dict[tuple[frozenset, tuple[int, ...]], SideErrors] = {}
        self._base: dict[tuple[int, ...], object] = {}
        self.slim_idx: list[int] = []

    def variant(self, key: frozenset) -> Variant:
        """The template without these units, and without the headings of the sections they empty."""
        tpl = self.ev.template
        source = without(tpl.source, tpl.units, self.plan.tree, frozenset(key))
        return Variant(f"without {len(key)} unit(s)", source, removes=frozenset(key))

    def base_summary(self, idx: tuple[int, ...]):  # noqa: ANN201 - a Summary
        if idx not in self._base:
            self._base[idx] = self.ev.summarize(self.trial.baseline_on(idx), source=self.ev.template.source)
        return self._base[idx]

    async def go(self) -> Removal:
        plan, trial = self.plan, self.trial
        n = len(self.ev.evalset.cases)
        static = {x: plan.rates.saves_per_call(plan.tokens[x]) for x in plan.tree.nodes}
        gen = procedure(plan.tree, plan.alloc, n, trial.margin, static, plan.worth, plan.reasons(),
                        max_steps=limits.current().max_units)
        ask = next(gen)
        while True:
            todo = [(k, idx) for k, idx in ask.runs if (k, idx) not in self.results]
            trial.tick(ask.phase, sum(len(idx) for _, idx in todo))
            done = await self.ev.runner.gather(trial.run(self.variant(k), list(idx)) for k, idx in todo)
            for (k, idx), res in zip(todo, done):
                self.results[(k, idx)] = res
            got = {}
            for k, idx in ask.runs:
                res = self.results[(k, idx)]
                deltas, errors = paired(res.cases, trial.baseline_on(idx))
                self.errors[(k, idx)] = errors
                per_call, _, saves = trial.saves(self.base_summary(idx),
                                                 self.ev.summarize(res.cases, source=self.variant(k).source))
                got[(k, idx)] = Got(deltas, per_call, saves)
            try:
                ask = gen.send(got)
            except StopIteration as stop:
                return self.removal(stop.value)

    def cases_of(self, key: frozenset) -> tuple[list[int], list[CaseResult]]:
        """A node's answers on every case it ran (stage 1, and stage 2 when it went on), in case order."""
        at: dict[int, CaseResult] = {}
        for (k, idx), res in self.results.items():
            if k == key:
                at.update(zip(idx, res.cases))
        order = sorted(at)
        return order, [at[i] for i in order]

    def removal(self, out: Outcome) -> Removal:
        plan, trial, ev = self.plan, self.trial, self.ev
        template = ev.template
        tested: dict[str, UnitResult] = {}
        for nid, decision in out.decisions.items():
            node = plan.tree.nodes[nid]
            idx, cases = self.cases_of(frozenset(node.units))
            var = ev.summarize(cases, source=self.variant(frozenset(node.units)).source)
            base = ev.summarize(trial.baseline_on(idx), source=template.source)
            per_call, per_month, saves = trial.saves(base, var)
            unit = next(u for u in template.units if u.id == node.units[0])  # a node's first unit (units: its own)
            tested[nid] = UnitResult(
                unit=unit, tokens=plan.tokens[nid], input_tokens_saved=base.input_tokens - var.input_tokens,
                output_tokens_delta=var.output_tokens - base.output_tokens, decision=decision,
                usd_per_call_saved=per_call, usd_per_month_saved=per_month, judge_errors=paired(cases, trial.baseline_on(idx))[1],
                variant=var, saves_money=saves)
        units = [tested[x] for x in out.decisions if plan.tree.nodes[x].kind == "unit"]
        units.sort(key=lambda r: r.unit.id)
        proposal = self.proposal(out, tested)
        slim_source = self.variant(frozenset(proposal.removed)).source
        ev.messages(slim_source)
        diff = "".join(difflib.unified_diff(template.source.splitlines(keepends=True),
                                            slim_source.splitlines(keepends=True), fromfile=template.rel,
                                            tofile=self.slim_path or "slim.j2"))
        n = len(ev.evalset.cases)
        section = TreeSection(design="tree", tree=plan.facts(), nodes=self.nodes(out, tested, set(proposal.removed)))
        return TreeRemoval(units=[unit_finding(r) for r in units], slim=self.slim_finding(proposal, out),
                       power=self.power(out, n), method=self.method(out), warnings=cache_warnings(trial, units, proposal),
                       slim_source=slim_source, diff=diff,
                       unchanged_open=any(r.verdict == "inconclusive" and r.decision.sd == 0 for r in units),
                       sections=(section,))

    def proposal(self, out: Outcome, tested: dict[str, UnitResult]) -> Proposal:
        trial = self.trial
        steps = [SlimStep(list(s.removed), bounds(s.low, s.high), s.verified, s.saves,
                          self.errors.get((s.key, s.indices), SideErrors(0, 0)), s.stage if out.split else None)
                 for s in out.steps]
        removable = {u for nid, r in tested.items() if r.verdict == Verdict.REMOVABLE and r.saves_money
                     for u in self.plan.tree.nodes[nid].units}
        restored = sorted(removable - set(out.slim))
        if not out.slim:
            base = trial.baseline
            return Proposal(base, [], restored, [0.0] * len(base.cases), unverified(steps), 0.0, 0.0, steps)
        key = frozenset(out.slim)
        verified = next(s for s in reversed(out.steps) if s.key == key and s.verified and s.stage != 1)
        self.slim_idx = list(verified.indices)  # every case, or the three quarters that verified it: its figures
        cases = list(self.results[(key, verified.indices)].cases)
        result = VariantResult(tuple(cases), self.ev.summarize(cases, source=self.variant(key).source))
        return Proposal(result, list(out.slim), restored, out.slim_deltas, Verdict.REMOVABLE, out.slim_low,
                        out.slim_high, steps)

    def slim_finding(self, slim: Proposal, out: Outcome) -> SlimFinding:
        trial, ev = self.trial, self.ev
        b = ev.summarize(trial.baseline_on(self.slim_idx), source=ev.template.source) if slim.removed \
            else trial.baseline.summary
        s = slim.result.summary
        per_call = b.usd_per_call - s.usd_per_call
        return SlimFinding(
            removed=slim.removed, restored=slim.restored, path=self.slim_path,
            input_tokens=round(s.input_tokens, 3), output_tokens=round(s.output_tokens, 3),
            input_tokens_saved=round(b.input_tokens - s.input_tokens, 3),
            output_tokens_delta=round(s.output_tokens - b.output_tokens, 3),
            score=s.score.mean, score_delta=sum(slim.deltas) / len(slim.deltas) if slim.deltas else None,
            ci=bounds(slim.low, slim.high), n=len(slim.deltas), verdict=slim.verdict,
            usd_per_call_saved=per_call, usd_per_month_saved=per_call * ev.calls_per_month, steps=slim.steps,
            judge_errors=s.judge_errors, facts=variant_facts(s))

    def nodes(self, out: Outcome, tested: dict[str, UnitResult], in_slim: set[int]) -> list[NodeFinding]:
        plan = self.plan
        rows = []
        for node in plan.tree.walk():
            r = tested.get(node.id)
            t = plan.tokens[node.id]
            month, test = plan.rates.saves_per_month(t), plan.rates.test_usd(t)
            d = r.decision if r else None
            rows.append(NodeFinding(
                id=node.id, kind=node.kind, parent=node.parent, title=node.title, line=node.line,
                units=list(node.units), tokens=t, usd_per_month_max=month, test_usd=test, tested=r is not None,
                why=None if r else self.why(out.untested.get(node.id, "depth"), month, test),
                verdict=r.verdict if r else None, score_delta=d.mean if d else None,
                ci=bounds(d.low, d.high) if d else None, n=d.n if d else 0, p_value=d.p if d else None,
                level=d.level if d else None, stage=d.stage if d else None,
                input_tokens_saved=round(r.input_tokens_saved, 3) if r else None,
                output_tokens_delta=round(r.output_tokens_delta, 3) if r else None,
                usd_per_month_saved=r.usd_per_month_saved if r else None, judge_errors=r.judge_errors if r else None,
                in_slim=bool(node.units) and set(node.units) <= in_slim))
        return rows

    def why(self, reason: str, month: float, test: float) -> str:
        """Why a node was not tested, in words (ablation.json's `why`)."""
        plan = self.plan
        n = plan.rates.cases
        if reason.startswith("removed-with:"):
            return f"removed with {reason.split(':', 1)[1]}"
        if reason == "payback":
            return not_worth_text(month, test)
        if reason == "budget":
            return "left untested by --max-cost (the plan capped the descent)"
        if reason == "rank":
            k = len(plan.sections)
            return (f"not decidable at {n} cases: only the {k} sections that save the most are tested, each at α/{k} "
                    "(a section that changes no answer needs (1 − margin)^N ≤ its level)")
        return f"not tested: at {n} cases the plan stops at {DEPTH_NAMES.get(plan.levels.depth, 'a shallower level')}"

    def power(self, out: Outcome, n: int) -> Power:
        plan = self.plan
        k = max(len(plan.sections), 1)
        sds = sorted(d.sd for d in out.decisions.values() if d.sd is not None and d.sd > 0)
        sd = statistics.median(sds) if sds else None
        level = plan.section_level()
        return Power(cases=n, units=k, min_cases_unchanged=cases_unchanged(level, self.trial.margin),
                     median_delta_sd=sd, cases_for_80pct_power=cases_for_power(sd, self.trial.margin, k) if sd else None,
                     min_detectable_margin=detectable(sd, n, k) if sd else (1 - level ** (1 / n) if n else None))

    def method(self, out: Outcome) -> str:
        plan = self.plan
        slim = ("slim prompt = searched down the tree on a quarter of the cases (a node that breaks the set built so "
                "far, or whose own answers there look harmful, gives way to its children), then prefixes of what it "
                "kept verified on the other three quarters alone at 95% each, first failure stops" if out.split else
                "slim prompt = fixed sequence of nested sets on every case at 97.5% each (removable nodes by $ saved, "
                "then every other unit worth testing by the $ its input tokens save), first failure stops")
        return (f"{TREE_METHOD}+{METHOD}: the prompt's tree, the same per-node p-value as leave-one-out; familywise 5% "
                f"over every "
                f"node by a closed test with weighted Bonferroni local tests (graphical step-down): "
                f"{len(plan.sections)} sections share {1 - plan.levels.rho:.0%} of α (Holm among them), the "
                f"{len(plan.levels.tested) - len(plan.sections)} nodes below them {plan.levels.rho:.0%}; a removable "
                f"node passes its α to its open siblings and the nodes below them; a removable section is removed "
                f"whole; the descent runs only below nodes that were not removable; nodes that cannot repay their test "
                f"within {plan.payback_months:g} months are not tested; two stages per level (keep at 0.1%, futility at "
                f"the most lenient level a node can still reach); keep = one-sided t upper bound below 0 per node; {slim}")
