"""`promptslim ablate`: the engine with the removal first and the request's further levers after it, and
ablation.json assembled from what they returned.

The removal (promptslim/engine/strategies/leave_one_out.py) decides per unit and proposes the slim prompt;
every further strategy adds its own section (promptslim/results/sections.py) after the removal's keys. This module
knows no lever but the removal: a new one plugs in as a strategy module, its result type and its report partial.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from promptslim import limits
from promptslim.caveats import margin_line
from promptslim.cost.figure import traffic_warnings
from promptslim.cost.plan import pace
from promptslim.decide import power_plan
from promptslim.engine.evaluator import Evaluator
from promptslim.engine.events import Detail, Events, PlanMade, phases, silent
from promptslim.engine.headroom import announce, headroom_of
from promptslim.engine.record import (baseline_record, header, local_answers_note, price_facts, record_of,
                                      tiny_judge_note, tokens_note)
from promptslim.engine.requests import AblateRequest
from promptslim.engine.run import Outcome, planned, run
from promptslim.engine.setup import execute, notify, prepare
from promptslim.engine.strategies.design import ChooseDesign
from promptslim.engine.strategies.leave_one_out import LeaveOneOut, Procedure, Removal, RemoveUnits
from promptslim.engine.strategies.tree import RemoveTree
from promptslim.engine.trial import Phase, Strategy, Variant
from promptslim.llm.store import Pace
from promptslim.results import SCHEMA_VERSION, AblationResult, AblationRun, Section
from promptslim.template.load import Template
from promptslim.tokens import encoding_for

HOURS_PER_MONTH = 30 * 24


@dataclass(frozen=True)
class Ablation:
    """The engine's answer: ablation.json as a typed result, the slim template source and its diff, and the template
    it ran on (in the repository at `root`)."""

    data: AblationResult
    slim_source: str
    diff: str
    template: Template
    root: Path

    @property
    def proposals(self) -> dict[str, str]:
        """The prompt files the levers propose next to slim.<ext> (rewritten.<ext> …), by name."""
        return {f.name: f.source for s in self.data.sections if (f := s.prompt_file()) is not None}

    def to_apply(self) -> tuple[str, str] | None:
        """What `--write` puts in place of the template, and its name: of the verified prompts, the one that saves
        the most per month (then the most input tokens); the slim prompt when it removes anything and ties; else
        nothing."""
        slim = self.data.slim
        options = [(slim.usd_per_month_saved, slim.input_tokens_saved or 0, self.slim_source, "slim")] \
            if slim.removed else []
        options += [(f.usd_per_month_saved, f.input_tokens_saved, f.source, f.name)
                    for s in self.data.sections if (f := s.prompt_file()) is not None]
        best = max(options, key=lambda o: (o[0], o[1]), default=None)
        return None if best is None else (best[2], best[3])


def ablate(request: AblateRequest, events: Events = silent) -> Ablation:
    """The ablation engine as one call: validate, plan (the events decide a plan over budget), run, assemble."""
    strategies: list[Strategy] = [ChooseDesign(request.design), *request.strategies]
    setup = prepare(request, candidates=[m for s in strategies for m in getattr(s, "models", ())], events=events)
    notify(setup)
    strategies = [s.prepare(setup) if hasattr(s, "prepare") else s for s in strategies]
    # each unit (the tree: each node it plans to test) is a variant of its own: bounded before any variant is built
    removal = strategies[0]
    tested = removal.plan.levels.tested if isinstance(removal, RemoveTree) and removal.plan else setup.template.candidates
    limits.check_units(len(tested), setup.template.rel)
    plan = setup.plan(planned(setup.template.source, strategies))
    extra = getattr(strategies[0], "extra_plan", None)  # the tree's nodes, estimated without rendering them
    if extra:
        plan = plan.plus(**extra)
    events(PlanMade(plan, setup.models.model, setup.models.judge_model))
    margin = setup.settings.margin
    events(Detail(margin_line(margin.value, margin.source)))
    for line in getattr(strategies[0], "plan_lines", None) or [
            power_plan(len(setup.evalset.cases), len(setup.template.candidates), margin.value)]:
        events(Detail(line))
    ev = setup.evaluator
    said = announce(ev, margin.value, events)
    outcome = execute(setup.runner, plan, events,
                      lambda: run(ev, margin.value, strategies, phases(events), on_baseline=said), yes=request.yes)
    return ablation(ev, margin.value, outcome)


def planned_variants(strategy: Strategy | Procedure, template_source: str) -> list[Variant]:
    """The baseline and every variant one strategy (or removal procedure) may run: what the plan prices."""
    return planned(template_source, [strategy])


async def run_ablation(ev: Evaluator, margin: float, phase: Phase | None = None, slim_path: str = "",
                       two_stage: bool = True, strategy: Procedure | None = None,
                       strategies: Sequence[Strategy] = (), design: str = "flat") -> Ablation:
    """The engine in process over an evaluator you built: the removal (leave-one-out, or `strategy`, a removal
    procedure; or the tree design with design="tree") and then `strategies`, already prepared."""
    removal: Strategy = RemoveTree(slim_path).bind(ev, margin) if design == "tree" else \
        RemoveUnits(strategy or LeaveOneOut(ev.template, two_stage), slim_path)
    return ablation(ev, margin, await run(ev, margin, [removal, *strategies], phase))


def ablation(ev: Evaluator, margin: float, outcome: Outcome) -> Ablation:
    """ablation.json from the engine's outcome: the header, the baseline, the removal's keys, the run record, and
    every further section in the order its lever ran."""
    removal = outcome.state.of(Removal)
    assert removal is not None, "the removal runs first"
    models, template = ev.models, ev.template
    b = outcome.baseline.summary
    rec = record_of(ev)
    saved = removal.slim.usd_per_month_saved
    run_ = AblationRun(**rec.role_spend(), judge_skipped_identical=ev.judge_skipped,
                       wall_seconds=round(outcome.wall_seconds, 2),
                       payback_hours=(rec.usd / (saved / HOURS_PER_MONTH)) if saved > 0 else None, facts=rec.facts)
    judge = ev.runner.roles.get("judge")
    room = headroom_of(ev, outcome.baseline, margin)
    data = AblationResult(
        schema_version=SCHEMA_VERSION, **header(ev, margin),
        tokens_approximate=bool(b.tokens_approximate), tokens_source=b.tokens_source,
        unit_tokens_approximate=models.local or encoding_for(models.price_model)[1],
        tokens_note=tokens_note(b.tokens_source, models.price_model, models.local),
        prices=price_facts(ev.price, judge.price if judge else None),
        warnings=[*([room.warning()] if room and room.warning() else []), *rec.warnings,
                  *traffic_warnings(template.name, ev.calls_per_month), *removal.warnings],
        baseline=baseline_record(b), units=removal.units, slim=removal.slim, run=run_, power=removal.power,
        price_model=models.price_model, judge_note=_judge_note(ev, b.pass_rate),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"), method=removal.method,
        inconclusive_hint=removal.inconclusive_hint(len(ev.evalset.cases), ev.repeats, _paces(ev)),
        pinned=[u.id for u in template.units if u.pinned], headroom=room,
        sections=(*removal.sections, *(s for s in outcome.sections if isinstance(s, Section))))
    return Ablation(data, removal.slim_source, removal.diff, template, ev.config.root)


def _paces(ev: Evaluator) -> list[Pace | None]:
    """The ledger's pace of the model under test, and of the judge when answers are judged (this run's calls in)."""
    roles = [("target", ev.models.model)] + ([("judge", ev.models.judge_model)] if ev.judge is not None else [])
    return [pace(ev.runner, role, model) for role, model in roles]


def _judge_note(ev: Evaluator, pass_rate: float | None) -> str | None:
    """What the verdicts rest on when a small model judged or answered, or the baseline cannot do the task."""
    notes = []
    if ev.models.judge_is_local:
        notes.append(tiny_judge_note())
    if ev.models.local:
        notes.append(local_answers_note())
    if pass_rate is not None and pass_rate <= 0.2:
        notes.append(f"the baseline passes only {pass_rate:.0%} of the eval set: a model that cannot do the task "
                     "cannot show which instructions it needs")
    return "; ".join(notes) if notes else None
