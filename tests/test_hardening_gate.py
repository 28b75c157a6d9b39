"""Issue 25, the gate itself: a renamed or copied template keeps its base settings and eval set, and nothing a pull
request names (files, config keys, case ids) can change the structure of check.md, the PR comment or the step
summary. A real git repository, the real SDK against the fake server."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pytest
import yaml

from test_check import (CONFIG, EVAL, WITH_RULE, WITHOUT_RULE, check, commit, direct, git, repo,  # noqa: F401
                        server, write)
from test_check_evalset import JUDGED, STRICT, judged

LONGER = WITH_RULE + "- Mention our opening hours and our address.\n- Thank the customer for writing.\n"
TIGHT = CONFIG.replace("max_input_tokens = 400", "max_input_tokens = 60")


def headline(stdout: str, template: str) -> str:
    return next(line for line in stdout.splitlines() if line.startswith("- ") and f"`{template}`" in line)


# ---------------------------------------------------------------- 1. renames and copies keep the base's gate
def test_a_longer_prompt_breaches_the_budget_in_place(repo, server):
    commit(repo, "tight budget", {"promptslim.toml": TIGHT})
    commit(repo, "longer", {"prompts/greet.j2": LONGER})
    result = check("--no-eval")
    assert result.exit_code == 1, result.output
    assert "exceeds max_input_tokens 60" in result.stdout


def test_renaming_a_template_keeps_its_base_budget(repo, server):
    commit(repo, "tight budget", {"promptslim.toml": TIGHT})
    git(repo, "mv", "prompts/greet.j2", "prompts/hello.j2")
    commit(repo, "rename and lengthen", {"prompts/hello.j2": LONGER})
    result = check("--no-eval")
    assert result.exit_code == 1, result.output
    line = headline(result.stdout, "prompts/hello.j2")
    assert line.startswith("- ❌ `prompts/hello.j2` (renamed from `prompts/greet.j2`)")
    assert "exceeds max_input_tokens 60" in line
    row = direct(repo, no_eval=True).data["templates"][0]
    assert (row["status"], row["base_path"], row["max_input_tokens"]) == ("renamed", "prompts/greet.j2", 60)
    assert row["calls_per_month"] == 100_000  # the base's [prompts."greet"] traffic prices both sides


def test_copying_a_template_gates_the_copy_with_the_original_settings_and_eval_set(repo, server):
    commit(repo, "tight budget", {"promptslim.toml": TIGHT})
    commit(repo, "copy and lengthen", {"prompts/hello.j2": LONGER})
    result = check("--no-eval")
    assert result.exit_code == 1, result.output
    line = headline(result.stdout, "prompts/hello.j2")
    assert line.startswith("- ❌ `prompts/hello.j2` (copied from `prompts/greet.j2`)")
    row = direct(repo, no_eval=True).data["templates"][0]
    assert (row["status"], row["base_path"], row["evalset"]) == ("copied", "prompts/greet.j2", "evalsets/greet.yaml")
    assert row["evalset_revision"] == "base" and row["max_input_tokens"] == 60


def test_a_copy_is_graded_on_the_base_eval_set_of_the_original_not_its_own(repo, server):
    # the copy drops the rule and brings an eval set that does not test it: graded on greet's base set
    weak = {"cases": [{"id": "w1", "vars": {"shop": "Acme"}, "input": "hi",
                       "assert": [{"type": "contains", "value": "!"}]}]}
    commit(repo, "copy without the rule", {"prompts/hello.j2": WITH_RULE.replace(
        "- Always greet the customer with the word BONJOUR.\n", "- Be warm.\n"),
        "evalsets/hello.yaml": yaml.safe_dump(weak)})
    result = check()
    assert result.exit_code == 1, result.output
    assert "quality regression" in headline(result.stdout, "prompts/hello.j2")


def test_renaming_a_template_and_its_jsonl_eval_set_keeps_the_base_criteria(repo, server):
    # criteria for a .jsonl eval set live in the config under the template's name: under a new name the base set
    # would not load, and the PR's own set (a check that always passes) would grade both sides
    server.handler = judged
    cases = [{k: v for k, v in c.items() if k != "assert"} for c in EVAL["cases"]]
    config = JUDGED.replace('[prompts."greet"]\n', f'[prompts."greet"]\ncriteria = "{STRICT}"\n')
    commit(repo, "judged on jsonl", {"promptslim.toml": config, "evalsets/greet.yaml": None,
                                      "evalsets/greet.jsonl": "".join(json.dumps(c) + "\n" for c in cases)})
    git(repo, "mv", "prompts/greet.j2", "prompts/hello.j2")
    git(repo, "mv", "evalsets/greet.jsonl", "evalsets/hello.jsonl")
    trivial = [dict(c, **{"assert": [{"type": "contains", "value": "!"}]}) for c in cases]
    commit(repo, "rename, drop the rule, grade on a trivial check",
           {"prompts/hello.j2": WITHOUT_RULE, "evalsets/hello.jsonl": "".join(json.dumps(c) + "\n" for c in trivial)})
    result = check("--json")
    assert result.exit_code == 1, result.output
    row = json.loads(result.stdout)["templates"][0]
    assert row["evalset"] == "evalsets/greet.jsonl" and row["evalset_revision"] == "base"
    assert row["quality"]["outcome"] == "regression" and row["quality"]["delta"] == pytest.approx(-7 / 8)


def test_deleting_one_template_and_adding_another_is_flagged_for_review(repo, server):
    # too different for git to call it a rename: the new file is gated as new, and the report says so
    commit(repo, "replace", {"prompts/greet.j2": None, "evalsets/greet.yaml": None,
                             "prompts/other.j2": "Answer in French only, and never mention prices or delivery.\n"})
    result = check("--no-eval", "--allow-missing-evalset")
    assert result.exit_code == 0, result.output
    assert ("`prompts/other.j2`: new in this PR while it deletes `prompts/greet.j2` — if it replaces it, it was "
            "gated as new, without that template's settings") in result.stdout


# ---------------------------------------------------------------- 3. nothing a PR names changes the comment's structure
BREAKERS = json.loads((Path(__file__).parent / "hostile" / "markdown_breakers.json").read_text(encoding="utf-8"))
OUR_HEADINGS = ("❌ promptslim check failed", "✅ promptslim check passed", "⚠️ promptslim check passed",
                "details", "⚠️ eval set changes in this pull request", "⚠️ config changes in this pull request")


def tokens(markdown: str) -> list:
    """check.md as a CommonMark + GFM-tables parser sees it (markdown-it, which rich already brings)."""
    from markdown_it import MarkdownIt

    out = []
    for token in MarkdownIt("commonmark").enable("table").parse(markdown):
        out.append(token)
        out += token.children or []
    return out


def assert_structure_is_ours(markdown: str, failed: bool) -> None:
    first = markdown.splitlines()[0]
    assert first.startswith("## ❌ promptslim check failed" if failed else "## ✅ promptslim check passed"), first
    found = tokens(markdown)
    ours = {"<details><summary>rendered prompt diff</summary>\n", "</details>\n"}  # the diff folds, nothing else
    foreign = [(t.type, t.content) for t in found if t.type in ("html_block", "html_inline", "link_open", "image")
               and t.content not in ours]
    assert not foreign, foreign
    headings = [found[i + 1].content for i, t in enumerate(found) if t.type == "heading_open"]
    assert headings[0] == first[3:] and all(h.startswith(OUR_HEADINGS) or h.startswith("`") for h in headings), \
        headings
    for t in found:
        if t.type == "text":  # outside code spans: no @mention, no emoji shortcode, no bare link
            assert not re.search(r"(?<![\w`])@\w|:[a-z_]+:|https?://", t.content), t.content
    assert not [t for t in found if t.type == "blockquote_open" and t.map and "quoted" in markdown.splitlines()[
        t.map[0]]]


@pytest.mark.parametrize("name", BREAKERS, ids=range(len(BREAKERS)))
def test_hostile_names_cannot_change_the_structure_of_check_md(repo, server, name, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    commit(repo, "tight budget", {"promptslim.toml": TIGHT})
    evalset = dict(EVAL, cases=EVAL["cases"] + [{"id": name, "vars": {"shop": "Acme"}, "input": "hi",
                                                  "assert": [{"type": "contains", "value": "BONJOUR"}]}])
    write(repo, {"prompts/greet.j2": LONGER, f"prompts/{name}.j2": "Be brief.\n",
                 "evalsets/greet.yaml": yaml.safe_dump(evalset, sort_keys=False),
                 "promptslim.toml": TIGHT + f"[prompts.{json.dumps(name)}]\ncalls_per_month = 1\n"})
    result = check("--no-eval", "--allow-missing-evalset", base="HEAD")
    assert result.exit_code == 1, result.output
    markdown = (repo / "reports" / "check.md").read_text(encoding="utf-8")
    assert_structure_is_ours(markdown, failed=True)
    assert "- ❌ `prompts/greet.j2`" in markdown and "exceeds max_input_tokens 60" in markdown
    assert summary.read_text(encoding="utf-8") == markdown  # the step summary gets the same, safe text
    assert result.stdout == markdown


def test_a_case_id_cannot_break_out_of_its_code_span(repo, server):
    name = "x` <img src=x> [✅](https://example.invalid) `"
    evalset = dict(EVAL, cases=EVAL["cases"] + [{"id": name, "vars": {"shop": "Acme"}, "input": "hi",
                                                  "assert": [{"type": "contains", "value": "!"}]}])
    commit(repo, "one more case", {"evalsets/greet.yaml": yaml.safe_dump(evalset, sort_keys=False)})
    result = check("--no-eval")
    assert result.exit_code == 0, result.output
    assert_structure_is_ours(result.stdout, failed=False)
    codes = [t.content for t in tokens(result.stdout) if t.type == "code_inline"]
    assert name in codes  # shown whole, as code


def test_a_refusal_naming_a_hostile_file_is_one_line(repo, server):
    write(repo, {"prompts/x\n<!--\x1b[2J.j2": "Be brief.\n{{ 'a' * 10**8 }}\n"})
    result = check("--no-eval", "--allow-missing-evalset", base="HEAD")
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: prompts/x␤<!--�[2J.j2:2: refused by the sandbox"), lines


# ---------------------------------------------------------------- 9. the base's own reports are read back with care
REPORTS = Path(__file__).parent / "hostile" / "reports"


def base_report(name: str, **changes) -> str:
    data = json.loads((REPORTS / name).read_text(encoding="utf-8"))
    if isinstance(data, dict):
        data["template_sha256"] = hashlib.sha256(WITH_RULE.encode()).hexdigest()
        for key, value in changes.items():
            data["baseline"][key] = value
    return json.dumps(data)


def on_main(repo: Path, report: str) -> None:
    """A report committed on main (reports/ is git-ignored in the fixture: force-added, as a past PR could)."""
    write(repo, {"reports/greet/ablation.json": report})
    git(repo, "add", "-f", "reports/greet/ablation.json")
    git(repo, "commit", "-q", "-m", "a report on main")


def test_a_malformed_base_report_is_a_warning_not_a_crash(repo, server):
    on_main(repo, base_report("baseline_is_a_list.ablation.json"))
    commit(repo, "a small change", {"prompts/greet.j2": WITH_RULE + "- Be kind.\n"})
    result = check("--no-eval")
    assert result.exit_code == 0, result.output
    assert "> ⚠️ **Warning:** reports/greet/ablation.json: not a valid ablation result (baseline: " in result.stdout


def test_a_negative_base_output_count_cannot_disable_the_cost_gate(repo, server):
    on_main(repo, base_report("valid.ablation.json", output_tokens=-1_000_000.0))
    longer = WITH_RULE + "- " + "Mention our opening hours, our address and our phone number. " * 20 + "\n"
    commit(repo, "longer", {"prompts/greet.j2": longer})
    result = check("--no-eval", "--fail-on-cost-increase", "10")
    assert result.exit_code == 1, result.output
    assert "exceeds --fail-on-cost-increase 10%" in result.stdout
    assert "is negative) — skipped" in result.stdout


def test_a_copy_whose_own_eval_set_landed_first_is_gated_by_that_set(repo, server):
    # the way out of "the head needs variables the base eval set does not give" for a copy: land its eval set first
    needs_plan = WITH_RULE + "- The customer is on the {{ plan }} plan.\n"
    own = {"cases": [dict(c, vars={**c["vars"], "plan": "pro"}) for c in EVAL["cases"]]}
    commit(repo, "the copy's eval set, on its own", {"evalsets/pro.yaml": yaml.safe_dump(own, sort_keys=False)})
    commit(repo, "the copy", {"prompts/pro.j2": needs_plan})
    result = check("--no-eval")
    assert result.exit_code == 0, result.output
    row = direct(repo, no_eval=True).data["templates"][0]
    assert (row["status"], row["evalset"], row["evalset_revision"]) == ("copied", "evalsets/pro.yaml", "base")
