"""`promptslim eval`: the eval set once on the template as it is, as a typed result (the per-case rows, the summary,
the run) for the table, --json and --csv."""

from __future__ import annotations

from dataclasses import fields

from promptslim.cost.figure import traffic_warnings
from promptslim.engine.events import Events, PlanMade, phases, silent
from promptslim.engine.evaluator import Evaluator, VariantResult
from promptslim.engine.headroom import headroom_of
from promptslim.engine.record import record_of, tiny_judge_note, tokens_note
from promptslim.engine.requests import EvalRequest
from promptslim.engine.run import planned
from promptslim.engine.setup import execute, notify, prepare
from promptslim.results import EvalCase, EvalResult, EvalRun, EvalSummary


def evaluate(request: EvalRequest, events: Events = silent) -> EvalResult:
    """Run the eval set once: every case's score and failed assertions, the mean with its CI, $ and the run."""
    setup = prepare(request, events=events)
    notify(setup)
    ev = setup.evaluator
    plan = setup.plan(planned(setup.template.source, []))
    events(PlanMade(plan, setup.models.model, setup.models.judge_model))

    async def start() -> VariantResult:
        ev.on_case = phases(events)("eval", len(setup.evalset.cases))
        return await ev.run(setup.template.source)

    return eval_result(ev, execute(setup.runner, plan, events, start, yes=request.yes))


def eval_result(ev: Evaluator, result: VariantResult) -> EvalResult:
    """What one evaluation of the template found, with the run's own facts."""
    s, models = result.summary, ev.models
    rec = record_of(ev)
    assert ev.settings is not None
    room = headroom_of(ev, result, ev.settings.margin.value)
    return EvalResult(
        template=ev.template.rel, evalset=ev.evalset.path, model=models.model, judge_model=models.judge_model,
        price_model=models.price_model, repeats=ev.repeats, threshold=ev.evalset.threshold,
        calls_per_month=ev.calls_per_month, tokens_approximate=s.tokens_approximate, tokens_source=s.tokens_source,
        tokens_note=tokens_note(s.tokens_source, models.price_model, models.local), prices=rec.prices,
        warnings=[*([room.warning()] if room and room.warning() else []), *rec.warnings,
                  *traffic_warnings(ev.template.name, ev.calls_per_month)],
        cases=[EvalCase(id=c.case_id, score=c.score, failures=list(c.failures), judge_errors=c.judge_errors,
                        input_tokens=c.input_tokens, output_tokens=c.output_tokens,
                        outputs=[x.output for x in c.samples], judge_reasons=[x.judge_reason for x in c.samples],
                        judge_error_reasons=[x.judge_error for x in c.samples if x.judge_error],
                        truncated=sum(1 for x in c.samples if x.truncated))
               for c in result.cases],
        summary=EvalSummary(**{f.name: getattr(s, f.name) for f in fields(EvalSummary)}),
        run=EvalRun(**rec.role_spend(), facts=rec.facts),
        judge_note=tiny_judge_note() if models.judge_is_local else None,
        headroom=room,
    )
