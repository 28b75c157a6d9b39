"""ablation.json's say-it-shorter keys from what the strategy found: `rewrites`, `rewrites_refused`, `rewritten`."""

from __future__ import annotations

from typing import Sequence

from promptslim.engine.evaluator import Evaluator, VariantResult
from promptslim.results.rewrites import RefusedRewrite, RewriteFinding, RewrittenPrompt
from promptslim.engine.strategies.rewordings import Refusal
from promptslim.engine.strategies.rewrite import RewriteResult, Rewritten
from promptslim.engine.trial import bounds


def rewrite_keys(ev: Evaluator, baseline: VariantResult, findings: list[RewriteResult], refused: Sequence[Refusal],
                 rewritten: Rewritten, removed: list[int], path: str) -> dict:
    """The three keys, ready to be set on the AblationResult."""
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
    gone = [RefusedRewrite(r.rewrite.unit_ids, r.rewrite.original, r.rewrite.rewrite, r.rewrite.proposer, r.why, r.rewrite.whole)
            for r in refused]
    b = baseline.summary
    s = rewritten.result.summary if rewritten.result is not None else None
    prompt = RewrittenPrompt(
        path=path if rewritten.rewrites else "", rewritten=adopted, removed=[] if whole else list(removed),
        input_tokens=round(s.input_tokens, 3) if s else None,
        input_tokens_saved=round(b.input_tokens - s.input_tokens, 3) if s else None,
        output_tokens_delta=round(s.output_tokens - b.output_tokens, 3) if s else None,
        score_delta=sum(rewritten.deltas) / len(rewritten.deltas) if rewritten.deltas else None,
        ci=bounds(rewritten.low, rewritten.high), n=len(rewritten.deltas), verified=bool(rewritten.rewrites),
        usd_per_month_saved=(b.usd_per_call - s.usd_per_call) * ev.calls_per_month if s else 0.0,
        steps=rewritten.steps, whole_text=whole, step_level=1 - rewritten.alpha, whole_text_step=rewritten.whole_step)
    return {"rewrites": rows, "rewrites_refused": gone, "rewritten": prompt}
