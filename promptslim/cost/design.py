"""Before any call: what a variant that removes t input tokens costs to test, what removing them saves, and what each
design (flat leave-one-out, or the tree) would cost — estimated from token counts, without rendering the variants,
so the plan of a thousand-unit prompt takes seconds (benchmarks/tree_bench.py --plan)."""

from __future__ import annotations

from dataclasses import dataclass

from promptslim.cost.plan import JUDGE_OUTPUT, JUDGE_OVERHEAD, calls_usd
from promptslim.cost.prices import Price


@dataclass(frozen=True)
class Rates:
    """The per-call figures every estimate uses: the eval set's size, the baseline's mean input tokens, the answer
    length the plan assumes, what the run pays per token (target, judge), and what one input token removed saves per
    call at the price model's prices with prompt caching as the cost figure models it."""

    cases: int
    repeats: int
    base_tokens: float
    answer: int
    target: Price
    judge: Price | None
    saved_per_token: float  # $ per call per input token removed
    calls_per_month: int

    @property
    def calls(self) -> int:
        """Target calls of one variant over the eval set."""
        return self.cases * self.repeats

    def test_usd(self, tokens_removed: float) -> float:
        """What running one variant over the eval set costs (target and judge calls)."""
        tokens = max(self.base_tokens - tokens_removed, 0.0) * self.calls
        return calls_usd(self.target, self.judge, tokens, self.calls, self.answer)

    def saves_per_call(self, tokens_removed: float) -> float:
        return tokens_removed * self.saved_per_token

    def saves_per_month(self, tokens_removed: float) -> float:
        return self.saves_per_call(tokens_removed) * self.calls_per_month

    def judge_call_usd(self) -> float:
        if self.judge is None:
            return 0.0
        return self.judge.cost(self.base_tokens + JUDGE_OVERHEAD + self.answer, JUDGE_OUTPUT)


@dataclass(frozen=True)
class DesignCost:
    """One design's plan, at most: its variants (baseline and one slim round included), calls and $."""

    design: str
    variants: int
    target_calls: int
    judge_calls: int
    input_tokens: int
    output_tokens: int
    usd: float


def design_cost(design: str, rates: Rates, removed_tokens: list[float], slim_tokens: float) -> DesignCost:
    """Baseline, one variant per entry of `removed_tokens` (the tokens each removes), and one slim round."""
    tokens = [0.0, *removed_tokens, slim_tokens]
    calls = rates.calls * len(tokens)
    inputs = sum(max(rates.base_tokens - t, 0.0) for t in tokens) * rates.calls
    usd = sum(rates.test_usd(t) for t in tokens)
    return DesignCost(design, len(tokens), calls, calls if rates.judge else 0, int(inputs), rates.answer * calls, usd)
