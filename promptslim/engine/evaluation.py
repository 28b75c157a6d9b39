"""`promptslim eval` as a typed result: the per-case rows, the summary and the run, for the table, --json and --csv."""

from __future__ import annotations

from dataclasses import fields

from promptslim.engine.evaluator import VariantResult
from promptslim.results import EvalCase, EvalResult, EvalRun, EvalSummary
from promptslim.cost.figure import traffic_warnings
from promptslim.engine.record import price_facts, run_facts, tiny_judge_note, tokens_note, warnings
from promptslim.engine.setup import Prepared



def eval_result(prepared: Prepared, result: VariantResult) -> EvalResult:
    """What one evaluation of the template found, with the run's own facts."""
    ev, s = prepared.evaluator, result.summary
    runner = ev.runner
    run = EvalRun(calls=runner.api_calls, cache_hits=runner.cache_hits, usd=runner.spent,
                  usd_target=runner.totals["target"].usd,
                  usd_judge=runner.totals["judge"].usd if "judge" in runner.totals else 0.0,
                  facts=run_facts(runner, [ev], [ev.judge] if ev.judge else [], max_tokens=ev.params(0).max_tokens,
                                  local=prepared.models.local))
    judge_role = runner.roles.get("judge")
    return EvalResult(
        template=prepared.template.rel, evalset=prepared.evalset.path, model=prepared.models.model,
        judge_model=prepared.models.judge_model, price_model=prepared.models.price_model,
        repeats=ev.repeats, threshold=prepared.evalset.threshold, calls_per_month=ev.calls_per_month,
        tokens_approximate=s.tokens_approximate, tokens_source=s.tokens_source,
        tokens_note=tokens_note(s.tokens_source, prepared.models.price_model, prepared.models.local),
        prices=price_facts(ev.price, judge_role.price if judge_role else None),
        warnings=warnings(run.facts, prepared.models.local)
        + traffic_warnings(prepared.template.name, prepared.evaluator.calls_per_month),
        cases=[EvalCase(id=c.case_id, score=c.score, failures=list(c.failures), judge_errors=c.judge_errors,
                        input_tokens=c.input_tokens, output_tokens=c.output_tokens,
                        outputs=[x.output for x in c.samples], judge_reasons=[x.judge_reason for x in c.samples],
                        judge_error_reasons=[x.judge_error for x in c.samples if x.judge_error],
                        truncated=sum(1 for x in c.samples if x.truncated))
               for c in result.cases],
        summary=EvalSummary(**{f.name: getattr(s, f.name) for f in fields(EvalSummary)}),
        run=run,
        judge_note=tiny_judge_note() if prepared.models.judge_is_local else None,
    )
