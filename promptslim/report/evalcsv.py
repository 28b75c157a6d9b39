"""`promptslim eval --csv`: one row per case from the typed eval result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from promptslim.results import EvalResult

if TYPE_CHECKING:
    import pandas

APPROX = " ≈"  # CSV header suffix of a column whose figures are estimates


def eval_frame(result: EvalResult) -> "pandas.DataFrame":
    """One row per case (scores averaged over repeats); an estimated token column says so in its header."""
    import pandas as pd

    tokens = "input_tokens" + (APPROX if result.tokens_source == "estimated" else "")
    return pd.DataFrame([{
        "id": c.id, "score": c.score, "passed": c.score is not None and c.score >= result.threshold,
        "failed_assertions": "; ".join(c.failures), "judge_errors": c.judge_errors,
        tokens: c.input_tokens, "output_tokens": c.output_tokens, "samples": len(c.outputs),
        "output": c.outputs[0] if c.outputs else "",
        "truncated": c.truncated,  # appended: earlier columns keep their positions
    } for c in result.cases])
