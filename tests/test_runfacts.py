"""Issue 17: what the run saw is in every report — judge re-asks and errors, invalid steps, truncation, retries and
timeouts, cache hits, the adaptive concurrency, the price source, and which token counts were used.

Every finding runs against the fake server over real HTTP (the real openai SDK and deepeval's GEval), and the
figures are recomputed here from what the server received and answered.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import os
import re
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import promptslim.cli
from promptslim.llm.limiter import AdaptiveLimit

try:
    from tests.fakeserver import Reply, count_words, default_prompt_tokens
except ImportError:  # tests/ itself on sys.path (no package)
    from fakeserver import Reply, count_words, default_prompt_tokens  # type: ignore

CONFIG = """concurrency = 4
[prompts."x"]
calls_per_month = 1000
[prices."fake-model"]
input = 1.0
output = 2.0
[prices."fake-judge"]
input = 3.0
output = 6.0
"""
TEMPLATE = "You are the support assistant of {{ shop }}.\n- Be brief.\n- Answer in English.\n"
CRITERIA = "The reply answers the question."
STEPS = ["Check that the reply answers the question.", "Check that it is polite."]
INPUTS = ["Where is my parcel?", "Can I pay by card?", "Do you ship to Norway?", "Is the mug in stock?"]
SHORT = "Yes, we can."  # 3 words
LONG = "Yes, we can, and here is a long explanation of how it works for you."  # 15 words
CORRECTED = "could not be used"  # what promptslim's corrective re-ask says


# ------------------------------------------------------------------ the fake server's side
def kind_of(body: dict) -> str:
    if body["model"] != "fake-judge":
        return "target"
    prompt = body["messages"][0]["content"]
    if "Evaluation Steps:" in prompt and '"score"' in prompt:
        return "score"
    if '"steps"' in prompt:
        return "steps"
    raise AssertionError(prompt[:200])


def system_of(body: dict) -> str:
    return " ".join(m["content"] for m in body["messages"] if m["role"] == "system")


def answer(body: dict) -> str:
    """A brief answer while the prompt says 'Be brief.', else a long one (which max_tokens 8 cuts)."""
    return SHORT if "Be brief." in system_of(body) else LONG


def reasked(body: dict) -> bool:
    return CORRECTED in body["messages"][0]["content"]


def judge_handler(score=lambda body: json.dumps({"reason": "fine", "score": 8}),
                  steps=lambda body: json.dumps({"steps": STEPS}), target=answer):
    def handler(body: dict):
        kind = kind_of(body)
        if kind == "target":
            return target(body)
        return steps(body) if kind == "steps" else score(body)
    return handler


def of_kind(fake, kind: str) -> list[dict]:
    return [b for b in fake.requests if "model" in b and kind_of(b) == kind]


# ------------------------------------------------------------------ the repo under test
@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    write(tmp_path, {"promptslim.toml": CONFIG, "prompts/x.j2": TEMPLATE, "evalsets/x.yaml": evalset()})
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def evalset(inputs=INPUTS, criteria: str | None = CRITERIA, asserts: list | None = None) -> str:
    data: dict = {"criteria": criteria} if criteria else {}
    data["cases"] = [{"id": f"c{i}", "vars": {"shop": "Acme"}, "input": text, **({"assert": asserts} if asserts else {})}
                     for i, text in enumerate(inputs, start=1)]
    return yaml.safe_dump(data, sort_keys=False)


def cli(*args: str):
    return CliRunner().invoke(promptslim.cli.app, list(args))


def eval_json(*args: str, judge: str = "fake-judge") -> dict:
    result = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", judge, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def ablate(root: Path, *args: str, judge: str = "none") -> dict:
    result = cli("ablate", "prompts/x.j2", "--model", "fake-model", "--judge-model", judge, "--yes", *args)
    assert result.exit_code == 0, result.output
    return {name: (root / "reports" / "x" / name).read_text(encoding="utf-8")
            for name in ("ablation.json", "ablation.md", "ablation.html", "ablation.csv")} | {"stdout": result.stdout}


# ================================================================== 1. the judge's re-ask changes something
def test_the_judge_reask_is_a_different_request_and_is_counted(repo, fake):
    # the judge breaks its JSON for "Can I pay by card?" unless it is told what went wrong
    def score(body):
        if "Can I pay by card?" in body["messages"][0]["content"] and not reasked(body):
            return '{"score": 8, "reason": "cut off'
        return json.dumps({"reason": "fine", "score": 8})

    fake.handler = judge_handler(score=score)
    data = eval_json()
    asks = [b for b in of_kind(fake, "score") if "Can I pay by card?" in b["messages"][0]["content"]]
    assert len(asks) == 2
    first, again = asks
    assert again["messages"][0]["content"] != first["messages"][0]["content"]
    assert again["messages"][0]["content"].startswith(first["messages"][0]["content"])
    assert again.get("response_format") == {"type": "json_object"}  # JSON mode where the endpoint takes it
    assert all(c["score"] == pytest.approx(0.8) for c in data["cases"])  # recovered: no judge error
    judge = data["run"]["judge"]
    assert (judge["asked"], judge["retries"], judge["recovered"], judge["errors"]) == (4, 1, 1, 0)
    assert data["summary"]["judge_errors"] == 0 and data["warnings"] == []


def test_a_judge_that_cannot_score_is_a_judge_error_with_its_own_words(repo, fake):
    fake.handler = judge_handler(score=lambda body: '{"verdict": "good, I think"}'
                                 if "Is the mug in stock?" in body["messages"][0]["content"]
                                 else json.dumps({"reason": "fine", "score": 8}))
    data = eval_json()
    case = data["cases"][3]
    assert case["score"] is None and case["judge_errors"] == 1  # never a silent 0
    (reason,) = case["judge_error_reasons"]
    assert "no 'score' field" in reason and "verdict" in reason and "good, I think" in reason
    judge = data["run"]["judge"]
    assert (judge["retries"], judge["recovered"], judge["errors"]) == (1, 0, 1)
    assert judge["error_reasons"] == ["no 'score' field in its JSON"]
    assert data["summary"]["score"]["n"] == 3
    (warning,) = data["warnings"]
    assert warning.startswith("1 judge error(s)")
    table = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "fake-judge")
    assert "judge: 4 answers judged; 1 re-asked with a corrective note (0 recovered); 1 judge error" in table.stdout
    assert "warning: 1 judge error(s)" in table.stdout


def test_an_out_of_range_score_is_a_judge_error_not_clipped(repo, fake):
    fake.handler = judge_handler(score=lambda body: json.dumps({"reason": "very good", "score": 15}))
    data = eval_json()
    assert [c["score"] for c in data["cases"]] == [None] * 4
    assert "score 15 is outside the 0..10 scale" in data["cases"][0]["judge_error_reasons"][0]


def test_an_endpoint_without_json_mode_gets_the_reask_without_it(repo, fake):
    fake.fault_when(lambda body: "400" if "response_format" in body else None)

    def score(body):
        if "Can I pay by card?" in body["messages"][0]["content"] and not reasked(body):
            return "I would say eight."
        return json.dumps({"reason": "fine", "score": 8})

    fake.handler = judge_handler(score=score)
    data = eval_json()
    refused = [b for b in fake.requests if "response_format" in b]
    assert len(refused) == 1  # tried once, then never again in this run
    assert data["cases"][1]["score"] == pytest.approx(0.8)
    assert data["run"]["judge"]["json_mode_refused"] is True
    assert data["run"]["judge"]["recovered"] == 1


def test_a_judge_answer_cut_at_max_tokens_is_reasked_longer_and_named(repo, fake):
    fake.handler = judge_handler(score=lambda body: Reply('{"score": 8, "reason": "the reply', finish_reason="length")
                                 if "Is the mug" in body["messages"][0]["content"]
                                 else json.dumps({"reason": "fine", "score": 8}))
    data = eval_json()
    asks = [b for b in of_kind(fake, "score") if "Is the mug" in b["messages"][0]["content"]]
    assert [b["max_tokens"] for b in asks] == [600, 1200]
    assert "answer cut at max_tokens 1200 (finish_reason: length)" in data["cases"][3]["judge_error_reasons"][0]
    assert data["run"]["judge"]["truncated"] == 2
    assert data["run"]["by_role"]["judge"]["truncated"] == 2


# ================================================================== 2. judge steps are validated before caching
def steps_files() -> list[Path]:
    return sorted((Path(os.environ["PROMPTSLIM_HOME"]) / "geval_steps").glob("*.json"))


def test_invalid_steps_are_asked_for_again_and_only_valid_ones_are_stored(repo, fake):
    objects = json.dumps({"steps": [{"step": 1, "text": "Check the answer."}]})
    fake.handler = judge_handler(steps=lambda body: json.dumps({"steps": STEPS}) if reasked(body) else objects)
    data = eval_json()
    assert len(of_kind(fake, "steps")) == 2
    (stored,) = steps_files()
    assert json.loads(stored.read_text())["steps"] == STEPS
    assert data["run"]["judge"]["steps_retries"] == 1
    for body in of_kind(fake, "score"):
        assert "1. Check that the reply answers the question." in body["messages"][0]["content"]


def test_steps_invalid_twice_stop_the_run_with_exit_2_naming_the_judge(repo, fake):
    fake.handler = judge_handler(steps=lambda body: json.dumps({"steps": [{"step": "Check."}, ""]}))
    result = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "fake-judge")
    assert result.exit_code == 2, result.output
    assert "judge model 'fake-judge' could not write usable evaluation steps" in result.stderr
    assert "evalsets/x.yaml" in result.stderr and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "asked twice; every step must be a non-empty string" in error
    assert steps_files() == []  # nothing invalid is cached for later runs
    assert of_kind(fake, "score") == []


def test_stored_steps_with_an_empty_step_are_regenerated(repo, fake):
    fake.handler = judge_handler()
    eval_json()
    (stored,) = steps_files()
    content = json.loads(stored.read_text())
    stored.write_text(json.dumps({**content, "steps": ["Check it.", "   "]}))
    fake.reset()
    fake.handler = judge_handler()
    eval_json("--no-cache")
    assert len(of_kind(fake, "steps")) == 1
    assert json.loads(stored.read_text())["steps"] == STEPS
