"""The plan estimate: what running a set of variants over an eval set will cost, before any call.

Input tokens are counted exactly per variant; answers are assumed OUTPUT_ESTIMATE tokens long (capped by
max_tokens); calls the response cache can answer cost nothing; each variant is priced at its own model's price,
and with --batch the plan also says what the same calls cost online. Time is the pending calls at the pace earlier
runs measured on the same endpoint and model (the ledger), unknown rather than a guess when none was timed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from promptslim.cost.prices import Price, usd_text
from promptslim.errors import BudgetStop
from promptslim.llm.batch import batch_backends, list_price
from promptslim.llm.runner import candidate_role
from promptslim.llm.store import Pace

OUTPUT_ESTIMATE = 200  # tokens per answer assumed by the plan (the real figure comes from the answers)
JUDGE_OVERHEAD = 450  # GEval prompt around the case, in tokens
JUDGE_OUTPUT = 120


class Planned(Protocol):
    """A variant the plan prices: its template source and the model it is sent to (None: the model under test)."""

    source: str
    model: str | None


class Priced(Protocol):
    """What the plan reads of an evaluator (promptslim/engine/evaluator.py)."""

    runner: Any
    judge: Any
    evalset: Any
    repeats: int

    def params(self, sample: int, model: str | None = None) -> Any: ...
    def price_of(self, model: str | None = None) -> Price: ...
    def pending_calls(self, source: str, model: str | None = None) -> int: ...
    def input_tokens(self, source: str, model: str | None = None) -> list[int]: ...
    def role(self, model: str | None = None) -> str: ...


@dataclass(frozen=True)
class Plan:
    """What a run will cost before it starts; cached calls cost nothing."""

    variants: int
    cases: int
    repeats: int
    target_calls: int
    cached_calls: int
    judge_calls: int
    input_tokens: int
    output_tokens: int
    usd: float
    budget: float
    usd_list: float | None = None  # with --batch: the same calls at the online list price
    seconds: float | None = 0.0  # wall time of the pending calls at the ledger's pace; None: not timed before

    @property
    def batch_saving(self) -> float | None:
        return None if self.usd_list is None else self.usd_list - self.usd

    @property
    def over_budget(self) -> bool:
        return self.usd > self.budget

    def plus(self, variants: int, calls: int, judge_calls: int, input_tokens: int, output_tokens: int, usd: float,
             usd_list: float | None = None) -> "Plan":
        """This plan and more variants on the same eval set, estimated without rendering them (the tree design's
        nodes: a thousand-unit prompt's plan must not render every possible variant for every case)."""
        return Plan(variants=self.variants + variants, cases=self.cases, repeats=self.repeats,
                    target_calls=self.target_calls + calls, cached_calls=self.cached_calls,
                    judge_calls=self.judge_calls + judge_calls, input_tokens=self.input_tokens + input_tokens,
                    output_tokens=self.output_tokens + output_tokens, usd=self.usd + usd,
                    budget=self.budget, usd_list=None if self.usd_list is None else self.usd_list + (usd_list or usd))

    def refusal(self) -> BudgetStop:
        """Why a plan over budget does not start (unless the caller approves it)."""
        return BudgetStop(f"estimated {usd_text(self.usd)} exceeds the budget {usd_text(self.budget)} (max_cost_usd) — "
                          "rerun with --yes to start anyway (the run still stops at the budget), or raise --max-cost")


def plan_variants(ev: Priced, variants: Sequence[Planned], budget: float) -> Plan:
    """Calls, tokens and dollars for these variants, counting exact input tokens and skipping cached calls;
    each variant at its own model's price (with --batch, also what the same calls cost online)."""
    roles = ev.runner.roles
    judge_on = ev.judge is not None
    judge_price = roles["judge"].price if judge_on else None
    judge_list = list_price(roles["judge"]) if judge_on else None
    cases = len(ev.evalset.cases)
    total = cached = input_tokens = 0
    usd = usd_list = 0.0
    answer = min(OUTPUT_ESTIMATE, ev.params(0).max_tokens or OUTPUT_ESTIMATE)
    unique = list(dict.fromkeys((v.source, v.model) for v in variants))
    pending_by_role: dict[tuple[str, str], int] = {}
    for source, model in unique:
        target_price = roles["target"].price if model is None else ev.price_of(model)
        target_list = list_price(roles["target"]) if model is None else ev.price_of(model)
        if model is not None and candidate_role(model) in roles:
            target_price = target_list = roles[candidate_role(model)].price
        pending = ev.pending_calls(source, model)
        who = (ev.role(model), ev.params(0, model).model)
        pending_by_role[who] = pending_by_role.get(who, 0) + pending
        calls = cases * ev.repeats
        total += calls
        cached += calls - pending
        share = pending / calls if calls else 0
        tokens = sum(ev.input_tokens(source, model)) * ev.repeats
        input_tokens += int(tokens * share)
        usd += calls_usd(target_price, judge_price, tokens * share, pending, answer)
        usd_list += calls_usd(target_list, judge_list, tokens * share, pending, answer)
    pending_total = total - cached
    if judge_on and pending_total:
        pending_by_role[("judge", ev.judge.model)] = pending_total
    return Plan(variants=len(unique), cases=cases, repeats=ev.repeats, target_calls=total,
                cached_calls=cached, judge_calls=pending_total if judge_on else 0, input_tokens=input_tokens,
                output_tokens=answer * pending_total, usd=usd, budget=budget,
                usd_list=usd_list if batch_backends(ev.runner) else None, seconds=_seconds(ev.runner, pending_by_role))


def pace(runner: Any, role: str, model: str) -> Pace | None:
    """The pace earlier runs measured for a role's endpoint and this model (None: no ledger, or no call yet)."""
    store = getattr(runner, "store", None)
    return None if store is None or role not in runner.roles else store.pace(runner.roles[role].backend.endpoint, model)


def _seconds(runner: Any, pending: dict[tuple[str, str], int]) -> float | None:
    """Wall time of the pending calls per (role, model) at the ledger's pace; None when any of them was never timed."""
    total = 0.0
    for (role, model), calls in pending.items():
        if not calls:
            continue
        measured = pace(runner, role, model)
        if measured is None or measured.seconds is None:
            return None
        total += calls * measured.seconds
    return total


def calls_usd(target: Price, judge: Price | None, tokens: float, pending: int, answer: int) -> float:
    """Estimated $ of a variant's pending target calls (`tokens` their input) and their judge calls."""
    usd = target.cost(tokens, answer * pending)
    if judge is not None:
        usd += judge.cost((tokens / max(pending, 1) + JUDGE_OVERHEAD + answer) * pending, JUDGE_OUTPUT * pending)
    return usd


def combine_plans(plans: Sequence[Plan], budget: float) -> Plan:
    """One plan over several evaluators (check: the sides of every changed template)."""
    return Plan(variants=sum(p.variants for p in plans), cases=sum(p.cases for p in plans),
                repeats=max((p.repeats for p in plans), default=1),
                target_calls=sum(p.target_calls for p in plans), cached_calls=sum(p.cached_calls for p in plans),
                judge_calls=sum(p.judge_calls for p in plans), input_tokens=sum(p.input_tokens for p in plans),
                output_tokens=sum(p.output_tokens for p in plans), usd=sum(p.usd for p in plans), budget=budget,
                usd_list=None if any(p.usd_list is None for p in plans) else sum(p.usd_list or 0.0 for p in plans),
                seconds=None if any(p.seconds is None for p in plans) else sum(p.seconds or 0.0 for p in plans))
