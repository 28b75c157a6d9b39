"""ablate, tier and check decide a prompt at its own `[prompts."x"] margin`, the same way, over the fake server.

The planted truth: every variant and every model answers "yes" to all 20 cases, so every paired delta is 0 and
the exact bound decides. At the prompt's margin 0.2 that is enough (0.8^20 = 0.012 clears Holm's 0.05/3, and a
single comparison's 0.05); at the top-level 0.05 it is not (0.95^20 = 0.36): the verdict says which margin was
used, not only the `margin` key.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.decide import ni_pvalue

N = 20
OWN, TOP = 0.2, 0.05
CONFIG = f"""model = "fake-model"
judge_model = "none"
margin = {TOP}
[prompts."x"]
calls_per_month = 1000
margin = {OWN}
[prices."fake-model"]
input = 2.0
output = 4.0
[prices."cand-model"]
input = 0.5
output = 1.0
"""
TEMPLATE = "You are the support assistant.\n- Be brief.\n- Answer in English.\n"
EVALSET = yaml.safe_dump({"cases": [{"id": f"c{i}", "input": f"Question {i}?",
                                     "assert": [{"type": "icontains", "value": "yes"}]} for i in range(N)]})


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def repo(make_repo, fake) -> Path:
    fake.handler = lambda body: "yes"
    return make_repo({"promptslim.toml": CONFIG, "prompts/x.j2": TEMPLATE, "evalsets/x.yaml": EVALSET,
                      ".gitignore": "reports/\n"})


def cli(*args: str):
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


def test_the_planted_deltas_decide_differently_at_the_two_margins():
    assert ni_pvalue([0.0] * N, OWN) <= 0.05 / 3 and ni_pvalue([0.0] * N, TOP) > 0.05


def test_ablate_decides_at_the_prompts_own_margin(repo):
    cli("ablate", "prompts/x.j2", "--yes")
    data = json.loads((repo / "reports/x/ablation.json").read_text())
    assert data["margin"] == OWN
    assert {u["verdict"] for u in data["units"]} == {"removable"}


def test_tier_decides_at_the_prompts_own_margin(repo):
    cli("tier", "prompts/x.j2", "--model", "cand-model", "--yes")
    data = json.loads((repo / "reports/x/tier.json").read_text())
    assert data["margin"] == OWN and data["models"][0]["verdict"] == "non-inferior"
    assert data["recommendation"] == "cand-model"
    # the flag still wins over the prompt's entry, as it does for ablate
    cli("tier", "prompts/x.j2", "--model", "cand-model", "--yes", "--margin", str(TOP))
    data = json.loads((repo / "reports/x/tier.json").read_text())
    assert data["margin"] == TOP and data["models"][0]["verdict"] == "inconclusive"


def test_check_gates_each_template_at_its_own_margin_from_the_base_config(repo):
    git(repo, "init", "-q", "-b", "main")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "base")
    (repo / "prompts/x.j2").write_text(TEMPLATE.replace("- Be brief.\n", ""), encoding="utf-8")
    result = cli("check", "--base", "HEAD", "--json", "--require-noninferior", "--also-model", "cand-model", "--yes")
    data = json.loads(result.stdout)
    (row,) = data["templates"]
    assert data["gates"]["margin"] == TOP
    base = data["base_sha"][:7]  # the gate's settings are the base revision's, and the source says so
    assert row["margin"] == OWN and row["margin_source"] == f'[prompts."x"] margin in {base}:promptslim.toml'
    assert row["quality"]["outcome"] == "pass" and not row["failed"]  # at 0.05 it would be inconclusive: a failure
    assert row["also_models"][0]["verdict"] == "non-inferior" and row["cheaper_model"] == "cand-model"
    md = (repo / "reports/check.md").read_text()
    assert f"margin {TOP:g} (`prompts/x.j2` {OWN:g} ([prompts.\"x\"] margin in {base}:promptslim.toml))" in md
