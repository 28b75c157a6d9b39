"""A new lever plugs in as one module: a strategy and its own typed section, and no edit to the engine.

The lever here (defined in this file, as a plug-in would be in its own module) removes every unit at once and
says whether that held; it reads what the removal before it found from the state passed along. Its section
lands in ablation.json after the removal's keys, in the generated schema, and in the typed read-back.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass

import jsonschema
import pytest
import yaml

from promptslim.config import load_config
from promptslim.cost.prices import price_for
from promptslim.engine.ablation import run_ablation
from promptslim.engine.evaluator import Models
from promptslim.engine.setup import make_evaluator
from promptslim.engine.strategies.leave_one_out import Removal
from promptslim.engine.trial import State, Trial, Variant, paired
from promptslim.evalset import load_evalset
from promptslim.llm.runner import Role, Runner
from promptslim.report import render_markdown
from promptslim.results import AblationResult, Section, ablation_schema
from promptslim.results.sections import SECTION_TYPES
from promptslim.template.load import load_template

try:
    from tests.scripted import ScriptedBackend
    from tests.test_engine import CASES, CONFIG, SOURCE, N, planted
except ImportError:  # tests/ itself on sys.path (no package)
    from scripted import ScriptedBackend  # type: ignore
    from test_engine import CASES, CONFIG, SOURCE, N, planted  # type: ignore


@pytest.fixture
def section_type():
    """The plug-in's section, registered for this test only (the shipped schema knows the built-in levers alone)."""

    @dataclass(frozen=True)
    class Everything(Section):
        """Every unit removed at once: whether no case changed, and what the removal had kept."""

        everything_removed: list[int]
        everything_held: bool
        kept_by_removal: list[int]

    yield Everything
    SECTION_TYPES.remove(Everything)


class RemoveEverything:
    """One variant without any unit; its section says whether that changed no case."""

    def __init__(self, template, kind) -> None:
        self.template, self.kind = template, kind
        self.ids = sorted(u.id for u in template.candidates)

    def variants(self) -> list[Variant]:
        return [Variant("everything", self.template.without(set(self.ids)), removes=frozenset(self.ids))]

    async def run(self, trial: Trial, state: State):
        removal = state.of(Removal)  # what the strategy before this one found
        result = await trial.run(self.variants()[0])
        deltas, _ = paired(result.cases, trial.baseline.cases)
        return self.kind(everything_removed=self.ids, everything_held=all(d == 0 for d in deltas),
                         kept_by_removal=[u.id for u in removal.units if u.id not in removal.slim.removed])


@pytest.fixture
def ev(make_repo):
    root = make_repo({"promptslim.toml": CONFIG, "prompts/p.j2": SOURCE,
                      "evalsets/p.yaml": yaml.safe_dump({"cases": CASES}, sort_keys=False)})
    config = load_config(root)
    runner = Runner(roles={"target": Role(ScriptedBackend(planted), price_for("scripted", config))}, store=None,
                    use_cache=False)
    return make_evaluator(load_template(root / "prompts" / "p.j2", root), load_evalset(root / "evalsets" / "p.yaml", root),
                          runner, Models("scripted", "none", "scripted"), config, None, repeats=1)


def test_a_new_lever_lands_its_own_section_in_ablation_json_and_the_schema(ev, section_type):
    ablation = asyncio.run(run_ablation(ev, 0.25, slim_path="reports/p/slim.j2",
                                        strategies=[RemoveEverything(ev.template, section_type)]))
    data = ablation.data.to_json()
    # without the "Say HELLO" rule every case fails: removing everything changes the answers
    assert list(data)[-3:] == ["everything_removed", "everything_held", "kept_by_removal"]
    assert data["everything_removed"] == [1, 2, 3] and data["everything_held"] is False
    assert data["kept_by_removal"] == [2, 3]  # the removal's slim prompt removes unit 1 only (tests/test_engine.py)
    schema = ablation_schema()
    assert {"everything_removed", "everything_held", "kept_by_removal"} <= set(schema["properties"])
    assert not {"everything_removed", "everything_held"} & set(schema["required"])
    jsonschema.validate(data, schema, cls=jsonschema.Draft202012Validator)
    # read back as the same typed result, the section included, writing the same bytes
    back = AblationResult.from_json(json.loads(json.dumps(data)))
    assert back == ablation.data and back.section(section_type).everything_held is False
    assert back.to_json() == data
    # a lever without a report partial is in the JSON, and the markdown report still renders
    assert "Units" in render_markdown(ablation.data, ablation.diff)
    # its one variant ran once per case after the baseline and the removal's runs
    assert sum(1 for m, _ in ev.runner.roles["target"].backend.requests
               if "Say HELLO" not in m[0]["content"] and "Keep it short" not in m[0]["content"]
               and "friendly" not in m[0]["content"]) == N


def test_the_schema_without_the_plug_in_does_not_know_its_keys():
    assert "everything_removed" not in ablation_schema()["properties"]
