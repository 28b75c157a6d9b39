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


# ---------------------------------------------------------------- (b) the grading settings are the base's
JUDGED = CONFIG.replace('judge_model = "none"', 'judge_model = "fake-judge"') + \
    '[prices."fake-judge"]\ninput = 1.0\noutput = 2.0\n'
STRICT = "The reply greets the customer with BONJOUR."
LOOSE = "The reply is polite."


def judged(body: dict) -> str:
    """The target answers as in test_check; the judge's steps follow the criteria it is given, and its score
    follows those steps: BONJOUR steps score 10 only an answer that greets with it, polite steps score 9."""
    if body["model"] != "fake-judge":
        return bonjour(body)
    prompt = body["messages"][0]["content"]
    if "Evaluation Steps:" in prompt and '"score"' in prompt:
        if "opens with the French greeting" in prompt:
            return json.dumps({"reason": "greeting", "score": 10 if BONJOUR_ANSWER in prompt else 0})
        return json.dumps({"reason": "polite", "score": 9})
    steps = ["Check the reply opens with the French greeting."] if STRICT in prompt else ["Check it is polite."]
    return json.dumps({"steps": steps})


def test_loosening_criteria_and_threshold_in_the_pr_does_not_change_the_gate(repo, server):
    server.handler = judged
    cases = [{k: v for k, v in c.items() if k != "assert"} for c in EVAL["cases"]]
    commit(repo, "graded by a judge", {"promptslim.toml": JUDGED,
                                       "evalsets/greet.yaml": dump({"criteria": STRICT, "cases": cases})})
    commit(repo, "drop the rule, loosen the grading",
           {"prompts/greet.j2": WITHOUT_RULE,
            "evalsets/greet.yaml": dump({"criteria": LOOSE, "threshold": 0.1, "cases": cases})})
    result = check("--json")
    assert result.exit_code == 1, result.output
    row = json.loads(result.stdout)["templates"][0]
    # graded by the base's criteria: the head loses BONJOUR on 7 of 8 cases (c8's user asks for it)
    assert row["quality"]["outcome"] == "regression" and row["quality"]["delta"] == pytest.approx(-7 / 8)
    changes = row["evalset_changes"]
    assert changes["settings"] == [{"key": "criteria", "base": STRICT, "head": LOOSE},
                                   {"key": "threshold", "base": 0.7, "head": 0.1}]
    assert (changes["added"], changes["removed"], changes["changed"]) == ([], [], [])
    assert "head_cases" not in changes  # no new or changed case: the loosened criteria never reach the judge
    asked = [b["messages"][0]["content"] for b in server.requests if b.get("model") == "fake-judge"]
    assert asked and not any(LOOSE in text for text in asked)
    md = (repo / "reports" / "check.md").read_text(encoding="utf-8")
    assert f"  - `criteria`: {STRICT!r} → {LOOSE!r}" in md and "  - `threshold`: 0.7 → 0.1" in md


def test_lowering_the_threshold_alone_changes_no_figure_of_the_gate(repo, server):
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    before = direct(repo, no_eval=False).data["templates"][0]
    commit(repo, "lower the bar", {"evalsets/greet.yaml": dump({"threshold": 0.0, **EVAL})})
    after = direct(repo, base="HEAD~2").data["templates"][0]
    assert after["evalset_changes"]["settings"] == [{"key": "threshold", "base": 0.7, "head": 0.0}]
    for key in ("quality", "per_case", "failures", "base", "head"):
        assert after[key] == before[key], key
    assert after["head"]["pass_rate"] == pytest.approx(1 / 8)  # at the base's threshold 0.7, not 0.0


# ---------------------------------------------------------------- (d) the head needs what only its own set gives
NEEDS_PLAN = WITHOUT_RULE + "- The customer is on the {{ plan }} plan.\n"
NEEDS_LINE = ("the head needs variables the base eval set does not give (`plan`, case c1): land the eval set change "
              "first, then this change is checked against it")


def with_plan(evalset: dict) -> dict:
    return {"cases": [dict(c, vars={**c["vars"], "plan": "gold"}) for c in evalset["cases"]]}


def test_a_head_that_needs_a_variable_only_its_own_eval_set_gives_fails_with_one_line(repo, server):
    commit(repo, "a plan variable", {"prompts/greet.j2": NEEDS_PLAN, "evalsets/greet.yaml": dump(with_plan(EVAL))})
    result = check()
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    line = headline(result.stdout)
    assert line.startswith("- ❌ `prompts/greet.j2`") and line.endswith(f"**{NEEDS_LINE}**")
    assert "tokens n/a (not graded on the base revision's eval set)" in line
    assert "rendered prompt: n/a" in result.stdout and "rendered prompt diff" not in result.stdout
    row = direct(repo).data["templates"][0]
    assert row["failures"] == [NEEDS_LINE] and row["quality"] is None and row["head"] is None
    assert row["evalset_changes"]["changed"] == [c["id"] for c in EVAL["cases"]]
    # the head is still graded on its own (changed) cases for the reviewer: 8 calls, 1 usable (c8 asks for BONJOUR)
    assert server.calls == len(INPUTS)
    assert row["evalset_changes"]["head_cases"]["usable"] == 1


def test_the_json_with_eval_set_changes_reads_back_as_the_same_result(repo, server):
    from promptslim.results import CheckResult

    commit(repo, "a plan variable", {"prompts/greet.j2": NEEDS_PLAN, "evalsets/greet.yaml": dump(with_plan(EVAL))})
    data = direct(repo).data
    again = CheckResult.from_json(json.loads(json.dumps(data)))
    assert again.to_json() == data
    assert again.templates[0].evalset_changes.head_cases.cases == [c["id"] for c in EVAL["cases"]]


def test_a_head_that_does_not_render_on_its_own_eval_set_is_still_bad_input(repo, server):
    commit(repo, "a plan variable, not given", {"prompts/greet.j2": NEEDS_PLAN,
                                                "evalsets/greet.yaml": dump({"cases": EVAL["cases"][:3]})})
    result = check()
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "prompts/greet.j2" in lines[0] and "undefined variable 'plan'" in lines[0]
    assert server.calls == 0


# ---------------------------------------------------------------- (e) a new template brings its own eval set
def test_a_new_template_is_graded_on_its_new_eval_set_and_the_report_says_it_needs_a_reviewer(repo, server):
    commit(repo, "a new template", {"prompts/welcome.j2": "Welcome to {{ shop }}. Greet with BONJOUR.\n",
                                    "evalsets/welcome.yaml": dump(EVAL)})
    result = check("prompts/welcome.j2")
    assert result.exit_code == 0, result.output
    assert "(new template, no base)" in result.stdout
    assert ("- `prompts/welcome.j2`: its eval set `evalsets/welcome.yaml` comes from this PR (the base has none to "
            "trust) — a reviewer must read it") in result.stdout
    assert "(8 cases, new in this PR: review it)" in result.stdout
    row = direct(repo, templates=["prompts/welcome.j2"]).data["templates"][0]
    assert (row["evalset_revision"], row["evalset_note"], row["cases"]) == ("head", "new", len(INPUTS))
    assert "evalset_changes" not in row
    assert server.calls == len(INPUTS)


# ---------------------------------------------------------------- deleted, static, broken base
def test_deleting_the_eval_set_does_not_escape_the_gate(repo, server):
    commit(repo, "drop the rule and its eval set", {"prompts/greet.j2": WITHOUT_RULE, "evalsets/greet.yaml": None})
    result = check("--allow-missing-evalset")
    assert result.exit_code == 1, result.output
    assert "quality regression" in headline(result.stdout)
    assert "this PR deletes its eval set — not applied" in result.stdout
    assert "- `evalsets/greet.yaml` (`prompts/greet.j2`): deleted in this PR (8 cases)" in result.stdout


def test_static_check_counts_the_token_budget_on_the_base_cases(repo, server):
    long_case = {"id": "long", "vars": {"shop": "Acme " * 40}, "input": "Hi",
                 "assert": [{"type": "contains", "value": "BONJOUR"}]}
    base_set = {"cases": EVAL["cases"] + [long_case]}
    longest = chat_tokens(messages(WITH_RULE, long_case))
    longer = WITH_RULE + "- Be kind to every customer, always.\n"
    assert chat_tokens(messages(longer, long_case)) > longest + 2
    config = CONFIG.replace("max_input_tokens = 400", f"max_input_tokens = {longest + 2}")
    commit(repo, "long case, tight budget", {"promptslim.toml": config, "evalsets/greet.yaml": dump(base_set)})
    # the PR lengthens the prompt past the budget on the long case, and removes that case
    commit(repo, "longer prompt, no long case", {"prompts/greet.j2": longer, "evalsets/greet.yaml": dump(EVAL)})
    result = check("--no-eval")
    assert result.exit_code == 1, result.output
    assert f"{chat_tokens(messages(longer, long_case)):,} input tokens/call (largest case) exceeds max_input_tokens " \
           f"{longest + 2:,}" in result.stdout
    assert "removed `long`" in result.stdout
    assert server.calls == 0


def test_a_pr_fixing_a_base_eval_set_that_does_not_load_is_graded_on_its_own_and_says_so(repo, server):
    commit(repo, "broken eval set", {"evalsets/greet.yaml": "cases: [\n"})
    commit(repo, "fix it", {"evalsets/greet.yaml": dump(EVAL)})
    result = check("--no-eval")
    assert result.exit_code == 0, result.output
    assert ("its eval set at the base does not load, so both sides were graded on this PR's `evalsets/greet.yaml` — "
            "a reviewer must read it") in result.stdout


# ---------------------------------------------------------------- what counts as a changed case
def test_a_case_changes_when_what_it_asks_or_checks_changes_not_where_it_sits():
    from promptslim.prcheck.evalset_gate import diff, from_text

    base = from_text("evalsets/x.yaml", dump(EVAL))
    cases = [dict(c) for c in EVAL["cases"]]
    cases[0] = dict(cases[0], expected="BONJOUR")
    cases[1] = dict(cases[1], **{"assert": [{"type": "contains", "value": "bonjour"}]})
    cases[2] = dict(cases[2], vars={"shop": "Initech"})
    cases[3] = dict(cases[3], input="Do you ship to Sweden?")
    moved = cases[4:] + cases[:4]  # the order and line numbers of every case change
    changes = diff(base, from_text("evalsets/x.yaml", "# a comment\n" + dump({"cases": moved})))
    assert changes.changed == ["c1", "c2", "c3", "c4"]
    assert (changes.added, changes.removed, changes.settings) == ([], [], [])
