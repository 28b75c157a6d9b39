"""`promptslim ablate` reaches verdicts at a realistic eval-set size and the default margin (0.05).

The fake model over HTTP answers as a function of the system prompt. 100 cases; three units:
- a role preamble and a politeness sentence that change no answer (harmless: removable, and in the slim prompt);
- "Say BONJOUR" — 15 of the 100 cases assert BONJOUR, so removing it breaks 15% of cases (harmful: keep).
Every figure asserted is recomputed here from the planted truth.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml
from typer.testing import CliRunner

from promptslim.cli import app

try:
    from tests.repofiles import write_files as write
except ImportError:  # tests/ itself on sys.path (no package)
    from repofiles import write_files as write  # type: ignore

N = 100
MARGIN = 0.05  # the default: no --margin below
PREAMBLE = "You are a friendly assistant for the shop."
POLITE = "Please be polite and considerate at all times."
BONJOUR = "- Say BONJOUR at the start of every answer."
SOURCE = "\n".join([PREAMBLE, POLITE, "", BONJOUR]) + "\n"
K = 3
NEEDS_BONJOUR = {i for i in range(N) if i % 7 == 0}  # 15 cases


def handler(body: dict) -> str:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    return ("BONJOUR! " if "Say BONJOUR" in system else "") + "Your order ships tomorrow."


def make_repo(root: Path) -> Path:
    cases = [{"id": f"q{i}", "input": f"Question {i}: where is my order?",
              "assert": [{"type": "contains", "value": "BONJOUR" if i in NEEDS_BONJOUR else "order"}]}
             for i in range(N)]
    write(root, {"prompts/p.j2": SOURCE, "evalsets/p.yaml": yaml.safe_dump({"cases": cases}, sort_keys=False),
                 "promptslim.toml": '[prompts."p"]\ncalls_per_month = 100_000\n'
                                    '[prices."fake-model"]\ninput = 2.0\noutput = 8.0\n'})
    return root


def test_harmless_units_are_removable_and_a_harmful_one_keep_at_100_cases(tmp_path, monkeypatch, fake):
    fake.handler = handler
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none",
                                      "--yes"])
    assert result.exit_code == 0, result.output
    data = json.loads((root / "reports" / "p" / "ablation.json").read_text(encoding="utf-8"))
    assert data["margin"] == MARGIN
    units = {u["id"]: u for u in data["units"]}
    # harmless: 100 deltas of 0 → p = 0.95^100 = 0.0059, below Holm's first level 0.05/3 = 0.0167
    p_zero = (1 - MARGIN) ** N
    for uid, level in ((1, 0.05 / 3), (2, 0.05 / 2)):
        assert units[uid]["verdict"] == "removable"
        assert units[uid]["p_value"] == p_zero
        assert math.isclose(units[uid]["holm_level"], level)
        assert math.isclose(units[uid]["ci"][0], level ** (1 / N) - 1, abs_tol=1e-6)
        assert units[uid]["ci"][0] > -MARGIN
    # harmful: removing BONJOUR fails exactly the BONJOUR cases it was run on (keep already at the interim look)
    bonjour = units[3]
    assert bonjour["verdict"] == "keep"
    run_on = [i for i in range(0, N, 2)] if bonjour["stage"] == 1 else list(range(N))
    expected = -sum(1 for i in run_on if i in NEEDS_BONJOUR) / len(run_on)
    assert math.isclose(bonjour["score_delta"], expected, abs_tol=1e-9) and bonjour["ci"][1] < 0
    # the slim prompt drops both harmless sentences: chosen on a quarter of the cases, verified at 95% on the other
    # three quarters (N = 100 is past the split's 79 at margin 0.05), where its 75 deltas of 0 bound the loss
    slim = data["slim"]
    assert slim["removed"] == [1, 2] and slim["verdict"] == "removable"
    assert math.isclose(slim["ci"][0], 0.05 ** (1 / (N - N // 4)) - 1, abs_tol=1e-6)
    slim_text = (root / "reports" / "p" / "slim.j2").read_text(encoding="utf-8")
    assert BONJOUR in slim_text and PREAMBLE not in slim_text and POLITE not in slim_text
    md = (root / "reports" / "p" / "ablation.md").read_text(encoding="utf-8")
    assert "**remove 2 of 3 instructions:" in md
    # the plan said what this eval set can decide before spending: 0.95^N ≤ 0.05/3 from N = 80
    assert "can be called removable only from 80 cases" in " ".join(result.stderr.split())
