"""The say-it-shorter lever: each vetted rewrite is a variant decided against the baseline like a removal
(non-inferiority at the margin, Holm across the rewrites), then the slim prompt plus the unit rewrites that held
is verified as one prompt, as a fixed sequence at 97.5% per step; a whole-text rewrite is verified on its own.
It starts from the slim prompt the removal found (the state the removal passes along).

Why its own sequence after the slim one: the slim chain spends its 2.5%; the rewrite chain, fixed in order by
$ saved before its runs, spends another 2.5%, so the shipped rewritten prompt is wrong at most 5% of the time.
With a whole-text rewrite as well, those 2.5% are split in two (Bonferroni): the unit chain at 1.25% per step,
the whole text at 1.25%; the shipped prompt is the verified one that saves more, which keeps the 2.5% because
a choice among claims that all hold at once is itself a claim that holds.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Sequence

from promptslim import paths
from promptslim.decide import SLIM_ALPHA, UnitDecision, decide_units, slim_order, slim_step
from promptslim.engine.evaluator import NONE, Summary, VariantResult
from promptslim.engine.events import Detail
from promptslim.engine.setup import Prepared, make_role, make_store
from promptslim.engine.strategies.leave_one_out import Removal
from promptslim.engine.strategies.rewordings import REWRITER, Refusal, Rewrite, apply, model_rewrites, rule_rewrites, vet
from promptslim.engine.trial import State, Trial, Variant, bounds, paired
from promptslim.llm.retry import RetryPolicy
from promptslim.llm.runner import Runner
from promptslim.results import SideErrors, SlimStep
from promptslim.results.rewrites import RefusedRewrite, RewriteFinding, RewritesSection, RewrittenPrompt
from promptslim.results.variants import ModelVerdict
from promptslim.template.load import Template
from promptslim.tokens import count_text

@dataclass(frozen=True)
class RewriteResult:
    """What one rewrite did against the baseline on the same cases."""

    rewrite: Rewrite
    summary: Summary
    decision: UnitDecision
    judge_errors: SideErrors
    input_tokens_saved: float
    output_tokens_delta: float
    usd_per_call_saved: float
    usd_per_month_saved: float
    saves_money: bool
    deltas: tuple[float, ...] = ()  # per-case score deltas against the baseline (the whole text is verified on them)

    @property
    def verdict(self) -> ModelVerdict:
        return ModelVerdict.of(self.decision.verdict)


@dataclass(frozen=True)
class Rewritten:
    """The verified rewritten prompt: the slim prompt with the unit rewrites the fixed sequence verified, or the
    whole-text rewrite when that was verified and saves more (none verified: the slim prompt as it was)."""

    source: str
    result: VariantResult | None
    rewrites: list[Rewrite]
    deltas: list[float]
    low: float | None
    high: float | None
    steps: list[SlimStep]
    alpha: float = SLIM_ALPHA  # the level each step (and the whole text) was tested at
    whole_step: SlimStep | None = None  # the whole-text rewrite's own test, when there was one


class SayShorter:
    """One variant per vetted rewrite (the template otherwise unchanged), then the combined prompt; its section is
    ablation.json's `rewrites`, `rewrites_refused` and `rewritten`."""

    two_stage = False

    def __init__(self, rewriter_model: str | None = None, template: Template | None = None,
                 rewrites: Sequence[Rewrite] = (), refused: Sequence[Refusal] = (), rewritten_path: str = "") -> None:
        self.rewriter_model = rewriter_model  # None: config rewriter_model; "none": the rules alone
        self.template = template
        self.rewrites = list(rewrites)
        self.refused = list(refused)
        self.rewritten_path = rewritten_path

    def prepare(self, setup: Prepared) -> "SayShorter":
        """Propose and vet the rewrites before the plan (the rewriter's calls come off the run's budget)."""
        tpl = setup.template
        kept, refused = propose(setup, self.rewriter_model)
        setup.events(Detail(f"rewrites: {len(kept)} shorter wording(s) to test, {len(refused)} refused before any "
                            "call"))
        return SayShorter(self.rewriter_model, tpl, kept, refused, paths.prompt_rel("rewritten", tpl.name, tpl.rel))

    async def run(self, trial: Trial, state: State) -> RewritesSection:
        """The rewrites of the units the slim prompt keeps, and the slim prompt with those that held."""
        removal = state.of(Removal)
        removed = list(removal.slim.removed) if removal is not None else []
        findings = await self.decide(trial, set(removed))
        rewritten = await self.combine(trial, findings, removed)
        return section(trial, findings, self.refused, rewritten, removed, self.rewritten_path)

    def variants(self) -> list[Variant]:
        """Every rewrite on its own, and (at most) one combined run per rewrite in the sequence."""
        assert self.template is not None, "prepare() first"
        each = [Variant(f"rewrite {r.label}", apply(self.template, [], [r])) for r in self.rewrites]
        units = [r for r in self.rewrites if not r.whole]
        chain = [Variant(f"rewritten {k}", apply(self.template, [], units[:k])) for k in range(1, len(units) + 1)]
        return each + chain

    async def decide(self, trial: Trial, removed: set[int] | frozenset[int] = frozenset()) -> list[RewriteResult]:
        """Rewrites of units the slim prompt keeps, and of the whole text, each against the baseline, Holm across
        them."""
        ev = trial.ev
        todo = [r for r in self.rewrites if r.unit is None or r.unit.id not in removed]
        if not todo:
            return []
        trial.tick("rewrites", len(ev.evalset.cases) * len(todo))
        runs = await ev.runner.gather(trial.run(Variant(f"rewrite {r.label}", apply(self.template, [], [r])))
                                      for r in todo)
        pairs = [paired(run.cases, trial.baseline.cases) for run in runs]
        decisions = decide_units([d for d, _ in pairs], trial.margin)
        base = trial.baseline.summary
        out = []
        for r, run, decision, (deltas, errors) in zip(todo, runs, decisions, pairs):
            per_call, per_month, saves = trial.saves(base, run.summary)
            out.append(RewriteResult(r, run.summary, decision, errors,
                                     base.input_tokens - run.summary.input_tokens,
                                     run.summary.output_tokens - base.output_tokens, per_call, per_month, saves,
                                     tuple(deltas)))
        return out

    async def combine(self, trial: Trial, findings: list[RewriteResult], removed: list[int]) -> Rewritten:
        """Add the unit rewrites one at a time to the slim prompt in a fixed order (the last step that held), test
        the whole-text rewrite on its own, and ship the verified one that saves more."""
        whole = next((f for f in findings if f.rewrite.whole), None)
        alpha = SLIM_ALPHA / 2 if whole is not None else SLIM_ALPHA
        chain = await self._chain(trial, [f for f in findings if not f.rewrite.whole], removed, alpha)
        if whole is None:
            return chain
        ok, low, high = slim_step(list(whole.deltas), trial.margin, alpha)
        step = SlimStep([], bounds(low, high), ok, whole.saves_money, whole.judge_errors)
        chain = replace(chain, whole_step=step)
        if not (ok and whole.saves_money) or (chain.rewrites and _saved(trial, chain) >= _saved_by(whole)):
            return chain
        return Rewritten(whole.rewrite.rewrite, VariantResult((), whole.summary), [whole.rewrite], list(whole.deltas),
                         low, high, chain.steps, alpha, step)

    async def _chain(self, trial: Trial, findings: list[RewriteResult], removed: list[int],
                     alpha: float) -> Rewritten:
        """The slim prompt plus unit rewrites, one more per step in a fixed order, each step at `alpha`."""
        ev, baseline = trial.ev, trial.baseline
        order = slim_order([f.decision for f in findings], [f.saves_money for f in findings],
                           [f.usd_per_call_saved for f in findings])
        # as for the slim prompt: every rewrite that saves money, the non-inferior ones first (decide.slim_order)
        pool, units = [], set()
        for j in order:  # one wording per unit: the first in the order
            if findings[j].rewrite.unit_ids[0] not in units:
                units.add(findings[j].rewrite.unit_ids[0])
                pool.append(findings[j])
        best = Rewritten(apply(self.template, removed, []), None, [], [], None, None, [], alpha)
        steps: list[SlimStep] = []
        for size in range(1, len(pool) + 1):
            chosen = [f.rewrite for f in pool[:size]]
            source = apply(self.template, removed, chosen)
            trial.tick(f"rewritten ({size} rewrite{'s' if size > 1 else ''})", len(ev.evalset.cases))
            result = await trial.run(Variant(f"rewritten {size}", source))
            deltas, errors = paired(result.cases, baseline.cases)
            ok, low, high = slim_step(deltas, trial.margin, alpha)
            saves = trial.saves(baseline.summary, result.summary)[2]
            steps.append(SlimStep(sorted([*removed, *(i for r in chosen for i in r.unit_ids)]), bounds(low, high), ok,
                                  saves, errors))
            if not (ok and saves):
                break
            best = Rewritten(source, result, chosen, deltas, low, high, [], alpha)
        return replace(best, steps=steps)


def _saved(trial: Trial, w: Rewritten) -> tuple[float, float]:
    """What a verified prompt saves per call: ($, input tokens) — tokens decide where every price is 0."""
    base = trial.baseline.summary
    s = w.result.summary if w.result is not None else base
    return base.usd_per_call - s.usd_per_call, base.input_tokens - s.input_tokens


def _saved_by(f: RewriteResult) -> tuple[float, float]:
    return f.usd_per_call_saved, f.input_tokens_saved


def section(trial: Trial, findings: list[RewriteResult], refused: Sequence[Refusal], rewritten: Rewritten,
            removed: list[int], path: str) -> RewritesSection:
    """ablation.json's say-it-shorter keys from what the strategy found, with rewritten.j2's text when verified."""
    adopted = sorted({i for r in rewritten.rewrites for i in r.unit_ids})
    chosen = {(tuple(r.unit_ids), r.rewrite) for r in rewritten.rewrites}
    whole = any(r.whole for r in rewritten.rewrites)
    rows = [RewriteFinding(
        unit_ids=f.rewrite.unit_ids, original=f.rewrite.original, rewrite=f.rewrite.rewrite,
        input_tokens_saved=round(f.input_tokens_saved, 3), output_tokens_delta=round(f.output_tokens_delta, 3),
        score_delta=f.decision.mean, ci=bounds(f.decision.low, f.decision.high), verdict=f.verdict,
        usd_per_month_saved=f.usd_per_month_saved, proposer=f.rewrite.proposer, reason=f.rewrite.reason,
        n=f.decision.n, p_value=f.decision.p, holm_level=f.decision.level, judge_errors=f.judge_errors,
        adopted=(tuple(f.rewrite.unit_ids), f.rewrite.rewrite) in chosen, whole_text=f.rewrite.whole)
        for f in findings]
    gone = [RefusedRewrite(r.rewrite.unit_ids, r.rewrite.original, r.rewrite.rewrite, r.rewrite.proposer, r.why,
                           r.rewrite.whole) for r in refused]
    b = trial.baseline.summary
    s = rewritten.result.summary if rewritten.result is not None else None
    prompt = RewrittenPrompt(
        path=path if rewritten.rewrites else "", rewritten=adopted, removed=[] if whole else list(removed),
        input_tokens=round(s.input_tokens, 3) if s else None,
        input_tokens_saved=round(b.input_tokens - s.input_tokens, 3) if s else None,
        output_tokens_delta=round(s.output_tokens - b.output_tokens, 3) if s else None,
        score_delta=sum(rewritten.deltas) / len(rewritten.deltas) if rewritten.deltas else None,
        ci=bounds(rewritten.low, rewritten.high), n=len(rewritten.deltas), verified=bool(rewritten.rewrites),
        usd_per_month_saved=(b.usd_per_call - s.usd_per_call) * trial.ev.calls_per_month if s else 0.0,
        steps=rewritten.steps, whole_text=whole, step_level=1 - rewritten.alpha, whole_text_step=rewritten.whole_step)
    return RewritesSection(rows, gone, prompt, rewritten.source if rewritten.rewrites else None)


def propose(setup: Prepared, rewriter_model: str | None) -> tuple[list[Rewrite], list[Refusal]]:
    """Shorter wordings for the template's units: the rules always, the rewriter model when one is named (its
    calls through a runner of their own: cached, in the ledger, counted against this run's budget), each vetted
    (Jinja kept, shorter, renders every case) before any target call."""
    config, template, ev = setup.config, setup.template, setup.evaluator
    proposals = rule_rewrites(template)
    model = rewriter_model or config.rewriter_model
    if model and model != NONE:
        store = make_store(config)
        runner = Runner(roles={REWRITER: make_role(model, config)}, store=store, budget_usd=setup.budget,
                        concurrency=config.concurrency, retry=RetryPolicy.from_env(config.max_retries),
                        use_cache=setup.runner.use_cache)
        store.start_run(runner.run_id, "ablate --rewrite (rewriter)")
        proposals += runner.run(model_rewrites(runner, model, template))
        setup.spend(runner.spent)
    return vet(ev, template, proposals, lambda text: count_text(text, ev.models.price_model))
