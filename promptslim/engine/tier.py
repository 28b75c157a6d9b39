"""`promptslim tier`: the engine with one strategy, the cheaper-model lever, and tier.json assembled from its section."""

from __future__ import annotations

from datetime import datetime, timezone

from promptslim.engine.evaluator import Evaluator
from promptslim.engine.events import Events, PlanMade, phases, silent
from promptslim.engine.headroom import announce, headroom_of
from promptslim.engine.record import baseline_record, header, record_of
from promptslim.engine.requests import TierRequest
from promptslim.engine.run import Outcome, planned, run
from promptslim.engine.setup import execute, notify, prepare
from promptslim.engine.strategies.cheaper_model import CheaperModel, check_candidates
from promptslim.engine.trial import Phase
from promptslim.results import PriceFacts
from promptslim.results.models import ModelsSection
from promptslim.results.tier import TIER_SCHEMA_VERSION, TierResult, TierRun


def tier(request: TierRequest, events: Events = silent) -> TierResult:
    """The same template on each candidate model against the configured model, as one call."""
    if not request.candidates:
        check_candidates([], "")
    strategy = CheaperModel(request.candidates, option="tier: --model")
    setup = prepare(request, candidates=strategy.models, events=events)
    strategy = strategy.prepare(setup)
    notify(setup)
    plan = setup.plan(planned(setup.template.source, [strategy]))
    events(PlanMade(plan, setup.models.model, setup.models.judge_model))
    margin = setup.settings.margin.value
    ev = setup.evaluator
    said = announce(ev, margin, events)
    outcome = execute(setup.runner, plan, events, lambda: run(ev, margin, [strategy], phases(events), on_baseline=said),
                      yes=request.yes)
    return tier_result(ev, margin, outcome)


async def run_tier(ev: Evaluator, candidates: list[str], margin: float, phase: Phase | None = None) -> TierResult:
    """The engine in process over an evaluator you built: baseline, every candidate on the same cases, the pick."""
    strategy = CheaperModel(candidates, option="tier: --model", source=ev.template.source)
    return tier_result(ev, margin, await run(ev, margin, [strategy], phase))


def tier_result(ev: Evaluator, margin: float, outcome: Outcome) -> TierResult:
    """tier.json from the engine's outcome: the header, the baseline, the models section, the run record."""
    found = outcome.state.of(ModelsSection)
    assert found is not None
    pick, b = found.model_recommendation, outcome.baseline.summary
    rec = record_of(ev)
    room = headroom_of(ev, outcome.baseline, margin)
    return TierResult(
        schema_version=TIER_SCHEMA_VERSION, **header(ev, margin),
        cached_input_fraction=ev.config.prompt(ev.template.name).cached_input_fraction,
        baseline=baseline_record(b), baseline_price=PriceFacts(**ev.price.describe()), models=found.models,
        recommendation=pick.model, usd_per_month_saved=pick.usd_per_month_saved, method=pick.method,
        warnings=[*([room.warning()] if room and room.warning() else []), *rec.warnings],
        run=TierRun(**rec.role_spend(), usd_candidates=pick.usd_spent, wall_seconds=round(outcome.wall_seconds, 2),
                    facts=rec.facts),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"))
