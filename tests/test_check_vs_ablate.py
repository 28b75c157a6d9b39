"""Issue 24 finding 7: deleting an instruction passed `check` (one comparison) while `ablate` called the same unit
inconclusive (corrected over its units), and nothing said why. check.md now says so when the head is the base
without a unit whose latest ablation decided otherwise.

Planted: 30 cases, 5 units; four change no answer. At margin 0.1 one such removal passes alone (check: the
exact bound 1 − 0.05^(1/30) = 0.095 < 0.1) but not under Holm over 5 (0.9^30 = 0.042 > 0.05/5)."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

import promptslim.cli

FILLER = "- Please be nice.\n"
TEMPLATE = "You greet people.\n- Always say BONJOUR.\n" + FILLER + "- Be calm.\n- Be warm.\n"
CASES = [{"id": f"c{i}", "input": f"Hello {i}", "assert": [{"type": "contains", "value": "BONJOUR"}]}
         for i in range(30)]
FILES = {"prompts/g.j2": TEMPLATE, "evalsets/g.yaml": yaml.safe_dump({"cases": CASES}),
         "promptslim.toml": 'model = "gpt-4o-mini"\njudge_model = "none"\nmargin = 0.1\n[prompts."g"]\n'
                            "calls_per_month = 1000\n", ".gitignore": "reports/\n"}


def greet(body: dict) -> str:
    system = body["messages"][0]["content"]
    return "BONJOUR!" if "BONJOUR" in system else "Hello!"


def git(*args: str) -> None:
    subprocess.run(["git", *args], check=True, capture_output=True)


@pytest.fixture
def ablated(make_repo, fake):
    """The base committed and ablated locally (reports/ is git-ignored, so the ablation stays in the checkout)."""
    root = make_repo(FILES)
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "base")
    fake.handler = greet
    assert CliRunner().invoke(promptslim.cli.app, ["ablate", "prompts/g.j2", "--yes"]).exit_code == 0
    return root


def test_check_says_why_ablate_decided_the_same_removal_otherwise(ablated):
    root = ablated
    units = json.loads((root / "reports/g/ablation.json").read_text(encoding="utf-8"))["units"]
    filler = next(u for u in units if u["text"] == FILLER.strip())
    assert filler["verdict"] == "inconclusive" and len(units) == 5
    (root / "prompts/g.j2").write_text(TEMPLATE.replace(FILLER, ""), encoding="utf-8")  # delete it by hand
    result = CliRunner().invoke(promptslim.cli.app, ["check", "--base", "HEAD", "--json"])
    assert result.exit_code == 0, result.output
    row = json.loads(result.stdout)["templates"][0]
    assert row["quality"]["outcome"] == "pass"
    assert row["ablate"] == {"removed": [filler["id"]], "text": FILLER.strip(), "ablate_verdict": "inconclusive",
                             "check_verdict": "removable", "units": 5,
                             "created_at": json.loads((root / "reports/g/ablation.json").read_text())["created_at"]}
    md = (root / "reports/check.md").read_text(encoding="utf-8")
    note = next(line for line in md.splitlines() if line.startswith("- ℹ️ `prompts/g.j2`"))
    assert f"removes unit `{filler['id']}` (`- Please be nice.`)" in note
    assert "called **inconclusive**, while this check finds it **removable**" in note
    assert "ablate tests its 5 removals together (Holm" in note and "check tests this one change on its own" in note


def test_no_note_when_they_agree(ablated):
    root = ablated
    (root / "prompts/g.j2").write_text(TEMPLATE.replace("- Always say BONJOUR.\n", ""), encoding="utf-8")
    result = CliRunner().invoke(promptslim.cli.app, ["check", "--base", "HEAD", "--json"])
    row = json.loads(result.stdout)["templates"][0]
    assert result.exit_code == 1 and row["quality"]["outcome"] == "regression"  # keep in ablate too: no note
    assert "ablate" not in row


def test_a_likely_regression_agrees_with_ablates_keep(make_repo, fake):
    # the filler now carries 4 of the 30 cases: ablate keeps it, check fails the head as a likely regression
    # (issue 28) — both keep it, so no note (it said "check finds it inconclusive" of a check that failed)
    root = make_repo(FILES)
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("-c", "user.email=t@e", "-c", "user.name=t", "commit", "-qm", "base")

    def four_need_it(body: dict) -> str:
        system, case = body["messages"][0]["content"], int(body["messages"][-1]["content"].split()[-1])
        return "BONJOUR!" if "BONJOUR" in system and ("nice" in system or case >= 4) else "Hello!"

    fake.handler = four_need_it
    assert CliRunner().invoke(promptslim.cli.app, ["ablate", "prompts/g.j2", "--yes"]).exit_code == 0
    units = json.loads((root / "reports/g/ablation.json").read_text(encoding="utf-8"))["units"]
    assert next(u for u in units if u["text"] == FILLER.strip())["verdict"] == "keep"
    (root / "prompts/g.j2").write_text(TEMPLATE.replace(FILLER, ""), encoding="utf-8")
    result = CliRunner().invoke(promptslim.cli.app, ["check", "--base", "HEAD", "--json"])
    row = json.loads(result.stdout)["templates"][0]
    assert result.exit_code == 1 and row["quality"]["outcome"] == "likely-regression"
    assert "ablate" not in row
