"""The engines in process, through the strategy seam, with a scripted model behind the Backend protocol.

Every figure is recomputed here from the planted answers and the configured prices.
"""

from __future__ import annotations

import asyncio

import jsonschema
import pytest
import yaml

from promptslim.engine.ablation import planned_variants, run_ablation
from promptslim.config import load_config
from promptslim.evalset import load_evalset
from promptslim.llm.runner import Role, Runner
from promptslim.cost.prices import price_for
from promptslim.results import AblationResult, Verdict, shipped_schema
from promptslim.cost.plan import plan_variants
from promptslim.engine.evaluator import Models
from promptslim.engine.setup import make_evaluator
from promptslim.engine.strategies.leave_one_out import LeaveOneOut, Proposal, UnitResult
from promptslim.engine.trial import Trial, Variant, paired
from promptslim.template.load import load_template

try:
    from tests.scripted import ScriptedBackend
except ImportError:  # tests/ itself on sys.path (no package)
    from scripted import ScriptedBackend  # type: ignore

N = 24
FILLER = "You are a friendly assistant."
HELLO = "- Say HELLO first."
SHORT = "- Keep it short."
SOURCE = f"{FILLER}\n{HELLO}\n{SHORT}\n"
PRICES = {"scripted": (2.0, 8.0), "cheap": (0.5, 1.0)}  # USD per million tokens: input, output
CONFIG = "".join(f'[prices."{m}"]\ninput = {i}\noutput = {o}\n' for m, (i, o) in PRICES.items()) + \
    '[prompts."p"]\ncalls_per_month = 1_000_000\n'
CASES = [{"id": f"c{i}", "input": f"question {i}", "assert": [{"type": "contains", "value": "HELLO"}]}
         for i in range(N)]


def planted(messages, params) -> str:
    """HELLO only when the rule is there; a long answer without 'Keep it short.'."""
    system = messages[0]["content"]
    body = "fine." if "Keep it short." in system else "a long answer " * 10
    return ("HELLO " if "Say HELLO" in system else "") + body


def words(messages) -> int:
    return 3 + sum(3 + len(m["content"].split()) for m in messages)


@pytest.fixture
def engine(make_repo):
    root = make_repo({"promptslim.toml": CONFIG, "prompts/p.j2": SOURCE,
                      "evalsets/p.yaml": yaml.safe_dump({"cases": CASES}, sort_keys=False)})
    config = load_config(root)
    template = load_template(root / "prompts" / "p.j2", root)
    evalset = load_evalset(root / "evalsets" / "p.yaml", root)
    backend = ScriptedBackend(planted)
    models = Models("scripted", "none", "scripted")
    runner = Runner(roles={"target": Role(backend, price_for("scripted", config))}, store=None, use_cache=False)
    ev = make_evaluator(template, evalset, runner, models, config, None, repeats=1)
    return ev, backend


def usd(model: str, input_tokens: float, output_tokens: float) -> float:
    price_in, price_out = PRICES[model]
    return (input_tokens * price_in + output_tokens * price_out) / 1e6


def test_leave_one_out_decides_in_process_and_writes_a_valid_ablation_json(engine):
    ev, backend = engine
    result = asyncio.run(run_ablation(ev, 0.25, slim_path="reports/p/slim.j2")).data
    verdicts = {u.text: u.verdict for u in result.units}
    assert verdicts[HELLO] == Verdict.KEEP
    assert verdicts[FILLER] == Verdict.REMOVABLE
    # Keep it short.: quality holds, but removing it costs more output than it saves input: never in the slim prompt
    assert verdicts[SHORT] == Verdict.REMOVABLE and 3 not in result.slim.removed
    assert result.slim.removed == [1] and result.slim.verdict == Verdict.REMOVABLE
    data = result.to_json()
    jsonschema.validate(data, shipped_schema(), cls=jsonschema.Draft202012Validator)
    assert AblationResult.from_json(data) == result
    # every answer came from the scripted backend, none over HTTP
    assert result.run.calls == len(backend.requests)


def test_a_variant_on_another_model_is_sent_to_and_priced_at_that_model(engine):
    ev, backend = engine
    result = asyncio.run(ev.run(SOURCE, model="cheap"))
    assert {params.model for _, params in backend.requests} == {"cheap"}
    messages = [ev.template.render({}, c["input"], None) for c in CASES]
    mean_in = sum(words(m) for m in messages) / N
    mean_out = sum(len(planted(m, None).split()) for m in messages) / N
    assert result.summary.input_tokens == pytest.approx(mean_in)
    assert result.summary.usd_per_call == pytest.approx(usd("cheap", mean_in, mean_out))
    assert result.summary.usd_per_month == pytest.approx(usd("cheap", mean_in, mean_out) * 1_000_000)
    baseline = asyncio.run(ev.run(SOURCE))
    assert baseline.summary.usd_per_call == pytest.approx(usd("scripted", mean_in, mean_out))


def test_the_plan_prices_exactly_the_strategys_variants(engine):
    ev, _ = engine
    strategy = LeaveOneOut(ev.template)
    variants = planned_variants(strategy, ev.template.source)
    assert [v.label for v in variants] == ["baseline", "unit 1", "unit 2", "unit 3", "slim"]
    assert variants[-1].removes == frozenset({1, 2, 3})
    plan = plan_variants(ev, variants, budget=1.0)
    assert plan.target_calls == len(variants) * N and plan.cached_calls == 0 and plan.judge_calls == 0
    expected = sum(usd("scripted", sum(ev.input_tokens(v.source)), 200 * N) for v in variants)
    assert plan.usd == pytest.approx(expected)
    # a variant on a cheaper model is planned at that model's price
    cheap = plan_variants(ev, [Variant("cheap", ev.template.source, model="cheap")], budget=1.0)
    assert cheap.usd == pytest.approx(usd("cheap", sum(ev.input_tokens(ev.template.source, "cheap")), 200 * N))


class RemoveEverything:
    """A second strategy through the same seam: one variant without any unit, decided by the slim test."""

    two_stage = False

    def __init__(self, template):
        self.template = template

    def variants(self) -> list[Variant]:
        ids = frozenset(u.id for u in self.template.candidates)
        return [Variant("everything", self.template.without(set(ids)), removes=ids)]

    async def decide(self, trial: Trial) -> list[UnitResult]:
        return []

    async def combine(self, trial: Trial, findings: list[UnitResult]) -> Proposal:
        variant = self.variants()[0]
        result = await trial.run(variant)
        deltas, errors = paired(result.cases, trial.baseline.cases)
        ok = all(d == 0 for d in deltas)
        return Proposal(result if ok else trial.baseline, sorted(variant.removes) if ok else [], [], deltas,
                        Verdict.REMOVABLE if ok else Verdict.INCONCLUSIVE, None, None, [])


def test_a_new_strategy_plugs_in_without_touching_the_engine(engine):
    ev, backend = engine
    result = asyncio.run(run_ablation(ev, 0.25, strategy=RemoveEverything(ev.template))).data
    assert result.units == [] and result.slim.removed == [] and result.slim.verdict == Verdict.INCONCLUSIVE
    assert len(backend.requests) == 2 * N  # the baseline and the one variant, nothing else
    assert all("Say HELLO" not in m[0]["content"] for m, _ in backend.requests[N:])
