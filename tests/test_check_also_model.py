"""`promptslim check --also-model`: the head on cheaper models, a hint for the PR author that never fails the check.

A real git repository and the fake server: the configured model and "cheap-good" always greet with BONJOUR;
"cheap-bad" forgets it in every fourth case. Candidate endpoints come from the base revision's config.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app

try:
    from tests.fakeserver import count_words, default_prompt_tokens
    from tests.repofiles import write_files as write
except ImportError:  # tests/ itself on sys.path (no package)
    from fakeserver import count_words, default_prompt_tokens  # type: ignore
    from repofiles import write_files as write  # type: ignore

N = 80
CPM = 100_000
PRICES = {"big-model": (5.0, 20.0), "cheap-good": (0.2, 0.8), "cheap-bad": (0.1, 0.4)}
BASE = "You are the support assistant.\n- Always greet the customer with the word BONJOUR.\n"
HEAD = BASE + "- Answer in one sentence.\n"
CONFIG = 'model = "big-model"\njudge_model = "none"\n' + f'[prompts."greet"]\ncalls_per_month = {CPM}\n' + "".join(
    f'[prices."{m}"]\ninput = {i}\noutput = {o}\n' for m, (i, o) in PRICES.items())
CASES = [{"id": f"c{i}", "input": f"Question {i}: where is my parcel?",
          "assert": [{"type": "contains", "value": "BONJOUR"}]} for i in range(N)]


def answer(body: dict) -> str:
    n = int(body["messages"][-1]["content"].split()[1].rstrip(":"))
    if body["model"] == "cheap-bad" and n % 4 == 0:
        return "Hello, it ships tomorrow."
    return "BONJOUR! It ships tomorrow."


def git(repo: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch, fake):
    fake.handler = answer
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for key, value in (("user.name", "T"), ("user.email", "t@example.com"), ("commit.gpgsign", "false")):
        git(root, "config", key, value)
    write(root, {"promptslim.toml": CONFIG, "prompts/greet.j2": BASE, ".gitignore": "reports/\n",
                 "evalsets/greet.yaml": yaml.safe_dump({"cases": CASES}, sort_keys=False)})
    git(root, "add", "-A")
    git(root, "commit", "-qm", "base")
    # the pull request: one more rule, and a config that tries to send cheap-good's calls elsewhere
    write(root, {"prompts/greet.j2": HEAD,
                 "promptslim.toml": CONFIG + '[models."cheap-good"]\nbase_url = "http://127.0.0.1:9/v1"\n'})
    monkeypatch.chdir(root)
    return root


def usd(model: str, bodies: list[dict]) -> float:
    mine = [b for b in bodies if b["model"] == model]
    i, o = PRICES[model]
    return sum(default_prompt_tokens(b) * i + count_words(answer(b)) * o for b in mine) / len(mine) / 1e6


def test_the_cheaper_model_that_would_pass_is_named_and_a_worse_one_fails_nothing(repo, fake):
    result = CliRunner().invoke(app, ["check", "--base", "HEAD", "--also-model", "cheap-good",
                                      "--also-model", "cheap-bad", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["templates"]
    # every candidate call went to the base config's endpoint (the fake), not the head's planted base_url
    heads = [b for b in fake.requests if b["messages"][0]["content"].strip() == HEAD.strip()]
    assert {b["model"] for b in heads} == {"big-model", "cheap-good", "cheap-bad"} and len(heads) == 3 * N
    found = {m["model"]: m for m in row["also_models"]}
    assert found["cheap-good"]["verdict"] == "non-inferior" and found["cheap-bad"]["verdict"] == "worse"
    assert found["cheap-bad"]["score_delta"] == pytest.approx(-0.25)
    assert row["cheaper_model"] == "cheap-good"
    saved = (usd("big-model", heads) - usd("cheap-good", heads)) * CPM
    assert row["cheaper_model_usd_per_month_saved"] == pytest.approx(saved)
    assert row["failed"] is False
    md = (repo / "reports" / "check.md").read_text(encoding="utf-8")
    assert "would also pass on **cheap-good**" in md and f"${saved:,.2f}/month less" in md


def test_also_model_is_refused_with_no_eval_and_for_the_configured_model(repo, fake):
    for args, message in ((["--no-eval", "--also-model", "cheap-good"], "--also-model needs the eval run"),
                          (["--also-model", "big-model"], "check: --also-model big-model is the configured model")):
        result = CliRunner().invoke(app, ["check", "--base", "HEAD", *args])
        assert result.exit_code == 2 and message in result.stderr, result.output
    assert fake.requests == []
