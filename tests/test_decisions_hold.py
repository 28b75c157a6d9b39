"""Issue 28, end to end over HTTP: a check that fails what it plainly sees, and a slim prompt that survives an
interacting pair and a sequence that would have opened with a unit the data show to hurt."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.decide import min_cases_unchanged

from ci_repo import commit, init_repo

try:
    from tests.repofiles import write_files as write
except ImportError:  # tests/ itself on sys.path (no package)
    from repofiles import write_files as write  # type: ignore


# ---------------------------------------------------------------- the check sees every case get worse
RULE = "- Greet the customer with the word BONJOUR."
TRIMMED = "- Thank you for reading these instructions carefully."
CHECKED = "You are the support assistant of {{ shop }}.\n" + RULE + "\n" + TRIMMED + "\n- Answer in one sentence.\n"
STEPS = ["Check that the reply greets the customer.", "Check that it answers the question."]
JUDGE_CONFIG = """model = "fake-model"
judge_model = "fake-judge"
margin = 0.05
[prompts."greet"]
calls_per_month = 10000
[prices]
"fake-model" = {input = 1.0, output = 2.0}
"fake-judge" = {input = 3.0, output = 6.0}
"""


def judged(body: dict) -> str:
    """The model greets with BONJOUR only when told to; the judge gives 10/10 to a greeting answer, 7/10 otherwise:
    without the rule every one of the twelve cases drops from 1.0 to 0.7."""
    if body["model"] != "fake-judge":
        system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
        return ("BONJOUR! " if "BONJOUR" in system else "Hello! ") + "Your parcel ships today."
    prompt = body["messages"][0]["content"]
    if '"steps"' in prompt and "Evaluation Criteria:" in prompt:
        return json.dumps({"steps": STEPS})
    output = re.search(r"Actual Output:\n(.*?) ?\n\n", prompt, re.DOTALL).group(1)
    score = 10 if "BONJOUR" in output else 7
    return json.dumps({"reason": f"rule gave {score}", "score": score})


@pytest.fixture
def judged_repo(tmp_path, monkeypatch, fake) -> Path:
    fake.handler = judged
    cases = [{"id": f"c{i}", "vars": {"shop": "Acme"}, "input": f"Where is parcel {i}?"} for i in range(12)]
    root = init_repo(tmp_path / "repo", {
        "promptslim.toml": JUDGE_CONFIG, "prompts/greet.j2": CHECKED, ".gitignore": "reports/\n",
        "evalsets/greet.yaml": yaml.safe_dump({"criteria": "The reply greets and answers.", "cases": cases},
                                              sort_keys=False)})
    monkeypatch.chdir(root)
    return root


def pr(root: Path, source: str):
    commit(root, "head", {"prompts/greet.j2": source})
    return CliRunner().invoke(app, ["check", "--base", "HEAD~1", "--json"])


def test_removing_a_load_bearing_rule_that_lowers_every_case_by_0_3_fails_the_check(judged_repo):
    result = pr(judged_repo, CHECKED.replace(RULE + "\n", ""))
    assert result.exit_code == 1, result.output
    quality = json.loads(result.stdout)["templates"][0]["quality"]
    assert quality["outcome"] == "likely-regression" and quality["n"] == 12
    assert quality["delta"] == pytest.approx(-0.3)
    # the bound valid for any distribution cannot prove it from 12 cases (before issue 28: "inconclusive", exit 0)
    assert quality["ci"][1] > 0
    assert quality["min_detectable"] > 0.1  # never "0.00" on a run that could not prove it
    md = (judged_repo / "reports" / "check.md").read_text(encoding="utf-8")
    assert "❌" in md and "likely quality regression: best estimate −0.300" in md and "not proven" in md


def test_a_harmless_trim_passes_the_check(judged_repo):
    result = pr(judged_repo, CHECKED.replace(TRIMMED + "\n", ""))
    assert result.exit_code == 0, result.output
    quality = json.loads(result.stdout)["templates"][0]["quality"]
    assert quality["delta"] == 0.0 and quality["outcome"] in ("underpowered", "inconclusive")


# ---------------------------------------------------------------- the slim prompt
FLUFF = ["- Be kind.", "- Stay calm and friendly at all times.", "- Use plain words.", "- Do not ramble on.",
         "- Write in a warm tone.", "- Avoid jargon where you can.", "- Respect the customer.",
         "- Be concise and clear in every single reply you write."]
LOAD = "- Say BONJOUR at the start of every answer."
MERCI_END, MERCI_FINISH = "- End with MERCI.", "- Always finish by saying MERCI."


def planted(body: dict) -> str:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    parts = ["BONJOUR!"] if "BONJOUR" in system else []
    parts.append("Here is the answer.")
    if "MERCI" in system:
        parts.append("MERCI.")
    return " ".join(parts)


def ablate_repo(root: Path, source: str, n: int, margin: float, asserts: list[str]) -> dict:
    cases = [{"id": f"q{i}", "input": f"Question {i}: where is my order?",
              "assert": [{"type": "contains", "value": v} for v in asserts]} for i in range(n)]
    write(root, {"prompts/p.j2": source, "evalsets/p.yaml": yaml.safe_dump({"cases": cases}, sort_keys=False),
                 "promptslim.toml": '[prompts."p"]\ncalls_per_month = 1_000_000\n[prices."fake-model"]\n'
                                    'input = 2.0\noutput = 8.0\n'})
    result = CliRunner().invoke(app, ["ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none",
                                      "--margin", str(margin), "--yes", "--max-cost", "50"])
    assert result.exit_code == 0, result.output
    return json.loads((root / "reports" / "p" / "ablation.json").read_text(encoding="utf-8"))


def test_the_slim_prompt_drops_every_fluff_rule_and_keeps_one_of_an_interacting_pair(tmp_path, monkeypatch, fake):
    """120 cases, margin 0.05: the two MERCI rules are each removable alone and harmful together. The fixed sequence
    stopped at the pair and kept every fluff rule after it (7.5–7.8 of 11 safe units shipped in simulation)."""
    fake.handler = planted
    monkeypatch.chdir(tmp_path)
    lines = [LOAD, FLUFF[0], MERCI_END, FLUFF[1], MERCI_FINISH, *FLUFF[2:]]
    data = ablate_repo(tmp_path, "".join(line + "\n" for line in lines), 120, 0.05, ["BONJOUR", "MERCI"])
    ids = {u["text"]: u["id"] for u in data["units"]}
    verdicts = {u["text"]: u["verdict"] for u in data["units"]}
    assert verdicts[LOAD] == "keep"
    # K = 11 units at 120 unchanged cases: (0.95)^120 ≤ 0.05/11, so each fluff rule and each MERCI rule is removable
    assert min_cases_unchanged(11, 0.05) <= 120
    assert all(verdicts[f] == "removable" for f in FLUFF) and verdicts[MERCI_END] == verdicts[MERCI_FINISH] == "removable"
    slim = data["slim"]
    assert slim["verdict"] == "removable"
    assert {ids[f] for f in FLUFF} <= set(slim["removed"])
    assert (ids[MERCI_END] in slim["removed"]) != (ids[MERCI_FINISH] in slim["removed"])
    assert ids[LOAD] not in slim["removed"]
    # the search tried the pair together on the stage-1 cases and skipped it; stage 2 verified what it kept
    skipped = [s for s in slim["steps"] if s["stage"] == 1 and not s["verified"]]
    assert len(skipped) == 1 and {ids[MERCI_END], ids[MERCI_FINISH]} <= set(skipped[0]["removed"])
    assert slim["steps"][-1]["stage"] == 2 and slim["steps"][-1]["removed"] == slim["removed"]
    assert slim["n"] == 90  # the cases the search did not look at
    slim_text = (tmp_path / "reports" / "p" / "slim.j2").read_text(encoding="utf-8")
    assert LOAD in slim_text and "MERCI" in slim_text and not any(f in slim_text for f in FLUFF)


LOADS = [f"- Always quote reference LB{i} with its full explanation." for i in range(4)]
PAD = " ".join(["Here is some background that explains the reference in detail."] * 4)


def long_answers(body: dict) -> str:
    """Each load-bearing rule adds its reference and a long explanation: removing one breaks every case and shortens
    every answer, so by $ saved it is the most attractive unit of all."""
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    parts = ["Here is the answer."]
    parts += [f"LB{i}: {PAD}" for i in range(4) if f"reference LB{i}" in system]
    return " ".join(parts)


def test_a_load_bearing_rule_that_saves_the_most_does_not_open_the_slim_sequence(tmp_path, monkeypatch, fake):
    """40 units, 60 cases, margin 0.10: 36 change no answer, 4 are load-bearing and shorten every answer when removed.
    No unit is removable on its own at K = 40, so the old order (by $ saved over every money-saving unit) opened with
    a load-bearing rule, failed its first step and verified nothing."""
    fake.handler = long_answers
    monkeypatch.chdir(tmp_path)
    fluff = [f"- Remember guideline number {i} about tone." for i in range(36)]
    lines = [*LOADS[:2], *fluff[:18], *LOADS[2:], *fluff[18:]]
    data = ablate_repo(tmp_path, "".join(line + "\n" for line in lines), 60, 0.10, [f"LB{i}" for i in range(4)])
    ids = {u["text"]: u["id"] for u in data["units"]}
    units = {u["id"]: u for u in data["units"]}
    assert min_cases_unchanged(40, 0.10) > 60 and not any(u["verdict"] == "removable" for u in data["units"])
    best = max(data["units"], key=lambda u: u["usd_per_call_saved"])
    assert best["text"] in LOADS  # it saves the most: it would have led the old sequence
    assert all(units[ids[t]]["verdict"] == "keep" for t in LOADS)
    slim = data["slim"]
    assert slim["verdict"] == "removable"
    assert set(slim["removed"]) == {ids[f] for f in fluff}
    assert not any(ids[t] in slim["removed"] for t in LOADS)
    assert all(ids[t] not in s["removed"] for s in slim["steps"] for t in LOADS)  # never even searched
    # verified on the 45 cases the search did not look at, every answer unchanged: the exact bound
    assert slim["n"] == 45 and slim["ci"][0] == pytest.approx(0.05 ** (1 / 45) - 1, abs=1e-6)
