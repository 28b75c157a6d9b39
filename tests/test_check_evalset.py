"""What gates a pull request that changes an eval set: the BASE revision's eval set, never the PR's own.

A pull request could otherwise drop a rule and, in the same change, delete or weaken the cases (or the
threshold, or the judge's criteria) that catch it. The head's eval-set changes are shown for a reviewer;
the head template is also graded on the PR's new or changed cases, as information that never gates.
A real git repository, the real SDK against the fake server over HTTP.
"""

from __future__ import annotations

import json

import pytest
import yaml

from test_check import (BONJOUR_ANSWER, CONFIG, EVAL, INPUTS, MINUS, PLAIN_ANSWER, WITH_RULE, WITHOUT_RULE,
                        bonjour, chat_tokens, check, commit, direct, git, messages, repo, server)  # noqa: F401


def dump(evalset: dict) -> str:
    return yaml.safe_dump(evalset, sort_keys=False)


def headline(stdout: str, template: str = "prompts/greet.j2") -> str:
    return next(line for line in stdout.splitlines() if line.startswith("- ") and f"`{template}`" in line)


# ---------------------------------------------------------------- (a) the attack
def test_dropping_the_rule_and_the_cases_that_catch_it_is_still_a_regression(repo, server):
    # the PR drops the BONJOUR rule and keeps only the one case whose user asks for bonjour itself (c8):
    # on its own eval set both sides greet, Δ = 0; on the base's eight cases seven lose BONJOUR
    weakened = {"cases": [EVAL["cases"][-1]]}
    commit(repo, "drop the rule and the cases that test it",
           {"prompts/greet.j2": WITHOUT_RULE, "evalsets/greet.yaml": dump(weakened)})
    result = check()
    assert result.exit_code == 1, result.output
    line = headline(result.stdout)
    assert line.startswith("- ❌ `prompts/greet.j2`") and "quality regression" in line
    assert f"quality {MINUS}0.875 [" in line  # 7 of 8 base cases lose BONJOUR
    row = direct(repo).data["templates"][0]
    assert row["evalset_revision"] == "base" and row["cases"] == len(INPUTS)
    assert [c["id"] for c in row["per_case"]] == [c["id"] for c in EVAL["cases"]]
    assert row["quality"]["delta"] == pytest.approx(-7 / 8)
    assert row["evalset_changes"]["removed"] == [f"c{i}" for i in range(1, 8)]
    assert row["evalset_changes"]["added"] == [] and row["evalset_changes"]["changed"] == []
