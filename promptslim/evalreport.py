"""`promptslim eval` as data: the per-case rows and the summary, for the table, --json and --csv."""

from __future__ import annotations

from typing import Any

import pandas as pd

from promptslim.ablate import TINY_JUDGE_NOTE
from promptslim.evaluate import VariantResult
from promptslim.prepare import Prepared


def eval_data(prepared: Prepared, result: VariantResult) -> dict[str, Any]:
    ev, s = prepared.evaluator, result.summary
    runner = ev.runner
    return {
        "template": prepared.template.rel, "evalset": prepared.evalset.path, "model": prepared.models.model,
        "judge_model": prepared.models.judge_model, "price_model": prepared.models.price_model,
        "repeats": ev.repeats, "threshold": prepared.evalset.threshold, "calls_per_month": ev.calls_per_month,
        "tokens_approximate": s.tokens_approximate,
        "cases": [{"id": c.case_id, "score": c.score, "failures": list(c.failures), "judge_errors": c.judge_errors,
                   "input_tokens": c.input_tokens, "output_tokens": c.output_tokens,
                   "outputs": [x.output for x in c.samples], "judge_reasons": [x.judge_reason for x in c.samples]}
                  for c in result.cases],
        "summary": {"score": s.score.to_dict(), "pass_rate": s.pass_rate, "passes": s.passes, "graded": s.graded,
                    "judge_errors": s.judge_errors, "input_tokens": s.input_tokens, "output_tokens": s.output_tokens,
                    "usd_per_call": s.usd_per_call, "usd_per_month": s.usd_per_month,
                    "usd_per_usable_output": s.usd_per_usable_output},
        "run": {"calls": runner.api_calls, "cache_hits": runner.cache_hits, "usd": runner.spent,
                "usd_target": runner.totals["target"].usd,
                "usd_judge": runner.totals["judge"].usd if "judge" in runner.totals else 0.0},
        "judge_note": TINY_JUDGE_NOTE if prepared.models.judge_is_local else None,
    }


def eval_frame(prepared: Prepared, result: VariantResult) -> pd.DataFrame:
    """One row per case (scores averaged over repeats)."""
    return pd.DataFrame([{
        "id": c.case_id, "score": c.score, "passed": c.score is not None and c.score >= prepared.evalset.threshold,
        "failed_assertions": "; ".join(c.failures), "judge_errors": c.judge_errors,
        "input_tokens": c.input_tokens, "output_tokens": c.output_tokens, "samples": len(c.samples),
        "output": c.samples[0].output if c.samples else "",
    } for c in result.cases])
