"""Issue 13: a prompt's own margin and max_tokens (the demo's config entry), the demo's margin printed before
spending, the local-model caveat, and the demo template and eval set the Makefile runs. Over the fake server."""

from __future__ import annotations

import json
import math
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

import promptslim.cli
from promptslim.caveats import local_verdicts, margin_line
from promptslim.decide import min_cases_unchanged
from promptslim.config import LOCAL_MAX_TOKENS
from promptslim.evalset import load_evalset
from promptslim.template.load import load_template

ROOT = Path(__file__).resolve().parent.parent
CONFIG = """margin = 0.05
[prompts."x"]
calls_per_month = 1000
margin = 0.2
max_tokens = 7
[prices."fake-model"]
input = 1.0
output = 2.0
"""
TEMPLATE = "You are the support assistant.\n- Be brief.\n- Answer in English.\n"
EVALSET = "cases:\n" + "".join(f"  - {{id: c{i}, input: 'Question {i}?', assert: [{{type: icontains, value: yes}}]}}\n"
                               for i in range(1, 9))


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    for rel, text in {"promptslim.toml": CONFIG, "prompts/x.j2": TEMPLATE, "evalsets/x.yaml": EVALSET}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def cli(*args: str):
    return CliRunner().invoke(promptslim.cli.app, list(args))


def test_a_prompts_own_max_tokens_is_sent_and_its_margin_is_used_and_printed(repo, fake):
    fake.handler = lambda body: "yes"
    result = cli("ablate", "prompts/x.j2", "--model", "fake-model", "--judge-model", "none", "--yes")
    assert result.exit_code == 0, result.output
    assert {b["max_tokens"] for b in fake.requests} == {7}  # the prompt's 7 wins over the top-level 512
    data = json.loads((repo / "reports/x/ablation.json").read_text())
    assert data["margin"] == 0.2 and data["run"]["max_tokens"] == 7
    assert margin_line(0.2, '[prompts."x"] margin in promptslim.toml') in result.output
    assert "wider than the default 0.05" in result.output
    assert "small model running on this machine" not in result.output  # a real endpoint: no local caveat


def test_the_margin_flag_beats_the_prompts_margin(repo, fake):
    fake.handler = lambda body: "yes"
    result = cli("ablate", "prompts/x.j2", "--model", "fake-model", "--judge-model", "none", "--yes", "--margin", "0.03")
    assert result.exit_code == 0, result.output
    assert json.loads((repo / "reports/x/ablation.json").read_text())["margin"] == 0.03
    assert "margin: 0.03 (from --margin)" in result.output and "wider than" not in result.output


def test_the_local_caveat_names_the_model_and_says_whose_verdicts_these_are():
    line = local_verdicts("Qwen2.5-Coder-1.5B-Instruct")
    assert "Qwen2.5-Coder-1.5B-Instruct" in line and "not which ones your production model needs" in line


def test_the_local_answer_cap_fits_support_replys_longest_reference_answer():
    # 20 tokens cut the strings support_reply's assertions look for; the cap must hold a three-sentence reply
    assert LOCAL_MAX_TOKENS >= 3 * 30


def test_the_demo_can_reach_every_verdict_at_its_configured_margin():
    """make demo's prompt: few units, enough cases that an unchanged unit can be removable at the demo's margin."""
    config = tomllib.loads((ROOT / "promptslim.toml").read_text())["prompts"]["ticket_router"]
    template = load_template(ROOT / "prompts/ticket_router.j2", ROOT)
    evalset = load_evalset(ROOT / "evalsets/ticket_router.yaml", ROOT)
    k = len(template.candidates)
    assert k == 3 and len(evalset.cases) >= min_cases_unchanged(k, config["margin"])
    assert len(evalset.cases) < min_cases_unchanged(k, 0.05)  # why the demo needs its own (printed) margin
    assert config["max_tokens"] >= max(math.ceil(len(c.asserts[0].value) / 2) for c in evalset.cases)
