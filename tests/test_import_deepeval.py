"""`promptslim import deepeval`: goldens saved by deepeval's own EvaluationDataset.save_as become an eval set whose
cases run with `eval` on the fake server: input is the user message, expected_output the judge's reference,
context a var the template renders."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app

GOLDENS = [
    {"input": "How do I get a refund?", "expected_output": "within 30 days",
     "context": ["Refunds: within 30 days", "Billing page"], "additional_metadata": {"plan": "pro"}, "name": "refund"},
    {"input": "Say yes", "expected_output": "yes"},
    {"input": "Where is my invoice?", "expected_output": "Billing > Invoices", "context": ["Invoices live in Billing"]},
]
SAVE = """
import json, sys
from deepeval.dataset import EvaluationDataset, Golden
from deepeval.test_case import ToolCall
goldens = [Golden(**g) for g in json.loads(sys.argv[1])]
goldens.append(Golden(input="Book a flight", expected_output="booked", tools_called=[ToolCall(name="book")]))
ds = EvaluationDataset(goldens=goldens)
for kind in ("json", "csv", "jsonl"):
    ds.save_as(kind, sys.argv[2], "goldens")
"""
TEMPLATE = """You are a support agent. Answer briefly.
{% if context %}Facts: {{ context | join('; ') }}{% endif %}
"""


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    """Goldens written by deepeval itself (a subprocess: telemetry off, no .env read, nothing outside tmp)."""
    folder = tmp_path_factory.mktemp("deepeval")
    env = {**os.environ, "DEEPEVAL_TELEMETRY_OPT_OUT": "YES", "DEEPEVAL_DISABLE_DOTENV": "1",
           "DEEPEVAL_CACHE_FOLDER": str(folder / "cache"), "HOME": str(folder)}
    subprocess.run([sys.executable, "-c", SAVE, json.dumps(GOLDENS), str(folder / "out")], cwd=folder, env=env,
                   check=True, capture_output=True, timeout=300)
    return folder / "out"


@pytest.fixture
def repo(tmp_path, monkeypatch, saved):
    root = tmp_path / "repo"
    (root / "prompts").mkdir(parents=True)
    (root / "prompts/support.j2").write_text(TEMPLATE)
    (root / "data").mkdir()
    for suffix in ("json", "csv", "jsonl"):
        (root / "data" / f"goldens.{suffix}").write_bytes((saved / f"goldens.{suffix}").read_bytes())
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    monkeypatch.chdir(root)
    return root


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def fake(body: dict) -> str:
    """The model answers from the facts in its system message; the judge scores 10 when the answer holds the
    expected output it was shown, else 2."""
    messages = body["messages"]
    if len(messages) == 1:
        prompt = messages[0]["content"]
        if '"score"' not in prompt:
            return json.dumps({"steps": ["Compare the answer with the expected output."]})
        expected = next((g["expected_output"] for g in GOLDENS if g["expected_output"] in prompt), None)
        answer = next(a for a in sorted(map(answer_for, GOLDENS), key=len, reverse=True) if a in prompt)
        return json.dumps({"reason": "r", "score": 10 if expected and expected in answer else 2})
    system, user = messages[0]["content"], messages[-1]["content"]
    if "Facts:" in system:
        return f"Per our records: {system.split('Facts: ', 1)[1].split(';')[0].strip()}."
    return "yes" if user == "Say yes" else "Please contact support."


def answer_for(golden: dict) -> str:
    """What the fake model says to a golden, recomputed from the golden alone (its first fact, if any)."""
    facts = golden.get("context")
    return f"Per our records: {facts[0]}." if facts else ("yes" if golden["input"] == "Say yes" else "Please contact")


def expected_scores() -> dict[str, float]:
    """The answer holds the expected output only where the golden's first fact says it."""
    return {golden.get("name") or f"golden-{i}": 1.0 if golden["expected_output"] in answer_for(golden) else 0.2
            for i, golden in enumerate(GOLDENS, start=1)}


def test_goldens_become_cases_with_input_expected_and_context(repo):
    result = cli("import", "deepeval", "data/goldens.json", "--template", "prompts/support.j2",
                 "--criteria", "The answer states the expected fact.")
    assert result.exit_code == 0, result.output
    evalset = yaml.safe_load((repo / "evalsets/support.yaml").read_text())
    assert evalset["criteria"] == "The answer states the expected fact."
    cases = evalset["cases"]
    assert [c["id"] for c in cases] == ["refund", "golden-2", "golden-3", "golden-4"]
    assert cases[0] == {"id": "refund", "input": "How do I get a refund?", "expected": "within 30 days",
                        "vars": {"context": ["Refunds: within 30 days", "Billing page"],
                                 "additional_metadata": {"plan": "pro"}}}
    assert "tools_called ×1: tools: promptslim sends no tools" in result.output
    assert "data/goldens.json" not in result.output or "goldens.json: [3]" in result.output


@pytest.mark.parametrize("suffix", ["csv", "jsonl"])
def test_csv_and_jsonl_goldens_import_to_the_same_cases(repo, suffix):
    args = ["--template", "prompts/support.j2", "--criteria", "c"]
    assert cli("import", "deepeval", "data/goldens.json", *args).exit_code == 0
    from_json = yaml.safe_load((repo / "evalsets/support.yaml").read_text())
    result = cli("import", "deepeval", f"data/goldens.{suffix}", *args, "--force")
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((repo / "evalsets/support.yaml").read_text()) == from_json


def test_imported_goldens_run_and_the_judge_sees_the_expected_output(repo, fake_server, monkeypatch):
    fake_server.reset()
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    fake_server.handler = fake
    assert cli("import", "deepeval", "data/goldens.json", "--template", "prompts/support.j2",
               "--criteria", "The answer states the expected fact.").exit_code == 0
    data = yaml.safe_load((repo / "evalsets/support.yaml").read_text())
    data["cases"] = data["cases"][:3]  # the tool-calling golden has no fact to answer from
    (repo / "evalsets/support.yaml").write_text(yaml.safe_dump(data))
    result = cli("eval", "prompts/support.j2", "--judge-model", "gpt-4o", "--json")
    assert result.exit_code == 0, result.output
    got = {c["id"]: c["score"] for c in json.loads(result.stdout)["cases"]}
    assert got == pytest.approx(expected_scores())
    assert set(got.values()) == {1.0, 0.2}


def test_a_geval_definition_gives_criteria_steps_and_threshold(repo):
    (repo / "data/correctness.yaml").write_text(
        "name: Correctness\ncriteria: Is the answer factually right?\n"
        "evaluation_steps: [Compare with the expected output, Penalise missing facts]\nthreshold: 0.6\n"
        "evaluation_params: [INPUT, ACTUAL_OUTPUT, RETRIEVAL_CONTEXT]\n")
    result = cli("import", "deepeval", "data/goldens.csv", "-t", "prompts/support.j2", "--geval",
                 "data/correctness.yaml")
    assert result.exit_code == 0, result.output
    evalset = yaml.safe_load((repo / "evalsets/support.yaml").read_text())
    assert evalset["criteria"] == "Is the answer factually right?" and evalset["threshold"] == 0.6
    assert evalset["steps"] == ["Compare with the expected output", "Penalise missing facts"]
    assert "geval ×1: retrieval_context: promptslim's judge sees the input, the answer and the expected output" \
        in result.output


def test_multi_turn_goldens_are_listed(repo):
    data = json.loads((repo / "data/goldens.json").read_text())
    data.append({"scenario": "Angry customer", "turns": [{"role": "user", "content": "hi"}], "input": None})
    (repo / "data/goldens.json").write_text(json.dumps(data))
    result = cli("import", "deepeval", "data/goldens.json", "-t", "prompts/support.j2", "--criteria", "c")
    assert result.exit_code == 0, result.output
    assert "multi-turn ×1: not imported: a conversational golden" in result.output
    assert "goldens.json: [4]" in result.output


@pytest.mark.parametrize("args,message", [
    (["data/goldens.json", "-t", "prompts/support.j2"], "goldens carry no grading — pass --criteria"),
    (["data/goldens.txt", "-t", "prompts/support.j2", "--criteria", "c"], "goldens are .json, .jsonl or .csv"),
    (["data/bad.json", "-t", "prompts/support.j2", "--criteria", "c"], "bad.json:2: invalid JSON"),
    (["data/noinput.json", "-t", "prompts/support.j2", "--criteria", "c"], "noinput.json: [0]: input: every golden"),
    (["data/goldens.json", "-t", "../x.j2", "--criteria", "c"], "--template ../x.j2: a template under prompts/"),
])
def test_bad_goldens_are_one_line_exit_2(repo, args, message):
    (repo / "data/goldens.txt").write_text("x")
    (repo / "data/bad.json").write_text("[\n  {oops}\n]")
    (repo / "data/noinput.json").write_text('[{"expected_output": "x"}]')
    result = cli("import", "deepeval", *args)
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], result.stderr
    assert not (repo / "evalsets").exists()
