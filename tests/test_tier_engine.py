"""The cheaper-model strategy in process: plan, Holm across candidates, and what may be recommended."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from promptslim.config import load_config
from promptslim.evalset import load_evalset
from promptslim.llm.runner import Role, Runner
from promptslim.cost.prices import price_for
from promptslim.cost.plan import plan_variants
from promptslim.engine.evaluator import Models
from promptslim.engine.setup import make_evaluator
from promptslim.engine.strategies.cheaper_model import CheaperModel
from promptslim.engine.tier import run_tier
from promptslim.engine.trial import Variant
from promptslim.llm.runner import candidate_role
from promptslim.template.load import load_template

try:
    from tests.scripted import ScriptedBackend
except ImportError:  # tests/ itself on sys.path (no package)
    from scripted import ScriptedBackend  # type: ignore

N = 120
PRICES = {"base": (2.0, 8.0), "pricey": (4.0, 16.0), "same": (0.5, 1.0), "twin": (0.4, 0.8), "coin": (0.1, 0.1)}
CONFIG = "".join(f'[prices."{m}"]\ninput = {i}\noutput = {o}\n' for m, (i, o) in PRICES.items()) + \
    '[prompts."p"]\ncalls_per_month = 1_000_000\n'
CASES = [{"id": f"c{i}", "input": f"question {i}", "assert": [{"type": "contains", "value": "RIGHT"}]}
         for i in range(N)]


def answer(messages, params) -> str:
    """Every model is right, except 'coin', which is wrong on every third case."""
    n = int(messages[-1]["content"].split()[1])
    return "WRONG" if params.model == "coin" and n % 3 == 0 else "RIGHT answer"


@pytest.fixture
def ev(make_repo):
    root = make_repo({"promptslim.toml": CONFIG, "prompts/p.j2": "Answer well.\n",
                      "evalsets/p.yaml": yaml.safe_dump({"cases": CASES}, sort_keys=False)})
    config = load_config(root)
    backend = ScriptedBackend(answer)
    roles = {"target": Role(backend, price_for("base", config))}
    for model in ("pricey", "same", "twin", "coin"):
        roles[candidate_role(model)] = Role(backend, price_for(model, config))
    runner = Runner(roles=roles, store=None, use_cache=False)
    return make_evaluator(load_template(root / "prompts" / "p.j2", root), load_evalset(root / "evalsets" / "p.yaml", root),
                          runner, Models("base", "none", "base"), config, None, repeats=1)


def test_the_plan_prices_each_candidate_at_its_own_price(ev):
    for model in ("pricey", "coin"):
        plan = plan_variants(ev, [Variant(model, ev.template.source, model=model)], budget=1.0)
        price_in, price_out = PRICES[model]
        tokens = sum(ev.input_tokens(ev.template.source, model))
        assert plan.usd == pytest.approx((tokens * price_in + 200 * N * price_out) / 1e6)


def test_holm_across_candidates_and_only_a_cheaper_non_inferior_model_is_recommended(ev):
    result = asyncio.run(run_tier(ev, ["pricey", "same", "twin", "coin"], margin=0.05))
    by = {m.model: m for m in result.models}
    # three candidates with 120 unchanged scores share p = 0.95^120; Holm tests them at 0.05/4, /3, /2
    assert sorted(m.holm_level for m in result.models if m.model != "coin") == pytest.approx([0.05 / 4, 0.05 / 3, 0.05 / 2])
    assert all(by[m].verdict == "non-inferior" for m in ("pricey", "same", "twin"))
    assert by["coin"].verdict == "worse" and by["coin"].score_delta == pytest.approx(-1 / 3)
    # 'pricey' holds quality but costs more than the baseline: never the pick; 'coin' is cheapest but worse
    assert by["pricey"].usd_per_month_saved < 0
    assert result.recommendation == "twin"
    assert result.usd_per_month_saved == pytest.approx(result.baseline.usd_per_month - by["twin"].usd_per_month)


def test_nothing_is_recommended_when_no_candidate_is_both_cheaper_and_non_inferior(ev):
    result = asyncio.run(run_tier(ev, ["pricey", "coin"], margin=0.05))
    assert result.recommendation is None and result.usd_per_month_saved == 0.0
    assert CheaperModel.recommend([], None) is None  # type: ignore[arg-type]


def test_wrongly_calling_any_of_three_boundary_candidates_non_inferior_stays_within_5_percent():
    """Three candidates exactly at −margin (each breaks 5% of pass/fail cases, N = 100): the chance that Holm calls
    any of them non-inferior, i.e. that a recommendation rests on a false claim, stays at or below 5% (2,000 runs).
    Unadjusted tests would make that claim in about 10.6% of runs (measured with the same seed). Pass/fail deltas,
    where the exact guard spends nearly all of its level; on dense judge-like deltas the bet that holds for any
    distribution (issue 28) is conservative at the boundary, so they no longer show what the adjustment is for."""
    import random

    from promptslim.decide import decide_units, ni_pvalue

    rng = random.Random(14)
    margin, reps, wrong, unadjusted = 0.05, 2000, 0, 0
    for _ in range(reps):
        deltas = [[-1.0 if rng.random() < margin else 0.0 for _ in range(100)] for _ in range(3)]
        wrong += any(d.verdict == "removable" for d in decide_units(deltas, margin))
        unadjusted += any(ni_pvalue(d, margin) <= 0.05 for d in deltas)
    assert wrong / reps <= 0.05 + 2 * (0.05 * 0.95 / reps) ** 0.5
    assert unadjusted / reps > 0.09  # the multiplicity control is what keeps it at 5%
