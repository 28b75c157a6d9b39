"""`promptslim check`: a real git repository, the real SDK against the fake server, planted truth."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
import yaml
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

import promptslim.cli
from promptslim.prcheck.engine import CheckRequest as CheckOptions
from promptslim.prcheck.engine import check as run_check
from promptslim.report.check import render_markdown
from promptslim.writers import write_check
from promptslim.tokens import get_encoding

try:
    from tests.repofiles import write_files as write
except ImportError:  # tests/ itself on sys.path (no package)
    from repofiles import write_files as write  # type: ignore

MINUS = "\u2212"
CPM = 100_000
RULE = "- Always greet the customer with the word BONJOUR.\n"
WITH_RULE = "You are the support assistant of {{ shop }}.\n" + RULE + "- Answer in one sentence.\n"
WITHOUT_RULE = "You are the support assistant of {{ shop }}.\n- Answer in one sentence.\n"
INPUTS = ["Where is my parcel?", "Can I change my delivery address?", "My invoice is wrong.",
          "Do you ship to Norway?", "How do I reset my password?", "Is the blue mug back in stock?",
          "Can I pay by bank transfer?", "Please say bonjour first: where is my order?"]
BONJOUR_ANSWER = "BONJOUR! Here is what you need."
PLAIN_ANSWER = "Hello! Here is what you need."
EVAL = {"cases": [{"id": f"c{i}", "vars": {"shop": "Acme" if i % 2 else "Globex"}, "input": text,
                   "assert": [{"type": "contains", "value": "BONJOUR"}]} for i, text in enumerate(INPUTS, start=1)]}
CONFIG = f"""model = "gpt-4o-mini"
judge_model = "none"
margin = 0.02
[prompts."greet"]
calls_per_month = {CPM}
max_input_tokens = 400
"""


def bonjour(body: dict) -> str:
    """The planted truth: the answer greets with BONJOUR only when asked to (by the system prompt or the user)."""
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    user = " ".join(m["content"] for m in body["messages"] if m["role"] == "user")
    return BONJOUR_ANSWER if "BONJOUR" in system or "bonjour" in user.lower() else PLAIN_ANSWER


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout


def commit(repo: Path, message: str, files: dict[str, str | None] | None = None) -> None:
    if files:
        write(repo, files)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    """A git repository whose first commit is the base: prompts/greet.j2 with the BONJOUR rule and its eval set."""
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    for key, value in (("user.name", "Test"), ("user.email", "test@example.com"), ("commit.gpgsign", "false")):
        git(root, "config", key, value)
    commit(root, "base", {"promptslim.toml": CONFIG, "prompts/greet.j2": WITH_RULE,
                          "evalsets/greet.yaml": yaml.safe_dump(EVAL, sort_keys=False), "README.md": "demo\n",
                          ".gitignore": "reports/\n"})
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def server(fake):
    fake.handler = bonjour
    return fake


def check(*args: str, base: str = "HEAD~1"):
    return CliRunner().invoke(promptslim.cli.app, ["check", "--base", base, *args])


def direct(repo: Path, **overrides):
    """The engine without the CLI: its typed result as JSON data, rendered and written as the CLI does."""
    options = dict(base="HEAD~1", templates=[], no_eval=False, allow_missing_evalset=False,
                   fail_on_cost_increase=None, model=None, judge_model=None, max_cost=None, yes=False,
                   use_cache=True, notice=lambda line: None, root=repo)
    options.update(overrides)
    notice, root = options.pop("notice"), options.pop("root")
    options["templates"] = tuple(options["templates"])
    result = run_check(CheckOptions(**options), notice, root)
    markdown = render_markdown(result)
    write_check(root, markdown)
    return SimpleNamespace(data=result.to_json(), markdown=markdown, failed=result.failed)


# ---------------------------------------------------------------- independent arithmetic
def messages(source: str, case: dict) -> list[dict]:
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    system = env.from_string(source).render(**case["vars"]).strip()
    return [{"role": "system", "content": system}, {"role": "user", "content": case["input"]}]


def chat_tokens(msgs: list[dict]) -> int:
    enc = get_encoding("o200k_base")  # gpt-4o-mini's encoding
    return 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in msgs)


def mean_tokens(source: str) -> float:
    counts = [chat_tokens(messages(source, case)) for case in EVAL["cases"]]
    return sum(counts) / len(counts)


def per_mtok() -> tuple[float, float]:
    price_in = float(calc_price(Usage(input_tokens=1_000_000), "gpt-4o-mini").input_price)
    price_out = float(calc_price(Usage(output_tokens=1_000_000), "gpt-4o-mini").output_price)
    return price_in, price_out


def monthly(input_tokens: float, output_tokens: float) -> float:
    price_in, price_out = per_mtok()
    return (input_tokens * price_in + output_tokens * price_out) / 1_000_000 * CPM


def words(text: str) -> int:
    return len(text.split())  # the fake server reports completion tokens as words


# ---------------------------------------------------------------- quality
def test_removing_the_bonjour_rule_is_a_regression_and_exits_1(repo, server):
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    result = check()
    assert result.exit_code == 1, result.output
    headline = next(line for line in result.stdout.splitlines() if "`prompts/greet.j2`" in line)
    assert headline.startswith("- ❌ `prompts/greet.j2`")
    # 7 of 8 cases lose BONJOUR (the 8th asks for it itself): Δ = −7/8 with a real interval
    assert f"quality {MINUS}0.875 [{MINUS}1." in headline
    assert "quality regression" in headline
    assert (repo / "reports" / "check.md").is_file()
    row = direct(repo).data["templates"][0]
    assert row["quality"]["delta"] == pytest.approx(-0.875)
    assert row["quality"]["ci"][1] < -0.02
    assert row["base"]["pass_rate"] == 1.0 and row["head"]["pass_rate"] == pytest.approx(1 / 8)


def test_adding_the_rule_is_an_improvement_and_exits_0(repo, server):
    commit(repo, "no rule yet", {"prompts/greet.j2": WITHOUT_RULE})
    commit(repo, "add the rule", {"prompts/greet.j2": WITH_RULE})
    result = check()
    assert result.exit_code == 0, result.output
    headline = next(line for line in result.stdout.splitlines() if "`prompts/greet.j2`" in line)
    assert headline.startswith("- ✅ `prompts/greet.j2`")
    assert "quality +0.875 [+0." in headline


def test_token_and_dollar_deltas_match_an_independent_count(repo, server):
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    result = direct(repo)
    row = result.data["templates"][0]
    base_in, head_in = mean_tokens(WITH_RULE), mean_tokens(WITHOUT_RULE)
    assert row["base"]["input_tokens"] == pytest.approx(base_in)
    assert row["head"]["input_tokens"] == pytest.approx(head_in)
    assert row["head"]["input_tokens_max"] == max(chat_tokens(messages(WITHOUT_RULE, c)) for c in EVAL["cases"])
    assert row["base"]["output_tokens"] == pytest.approx(words(BONJOUR_ANSWER))
    assert row["head"]["output_tokens"] == pytest.approx(words(PLAIN_ANSWER))
    base_usd = monthly(base_in, words(BONJOUR_ANSWER))
    head_usd = monthly(head_in, words(PLAIN_ANSWER))
    assert row["base"]["usd_per_month"] == pytest.approx(base_usd)
    assert row["head"]["usd_per_month"] == pytest.approx(head_usd)
    assert row["usd_per_month_delta"] == pytest.approx(head_usd - base_usd)
    from promptslim.report.fmt import tokens

    pct = round(100 * (head_in - base_in) / base_in)
    assert f"{tokens(base_in)} → {tokens(head_in)} tokens/call ({MINUS}{abs(pct)}%)" in result.markdown
    assert f"$/month {base_usd:,.2f} → {head_usd:,.2f} ({MINUS}{abs(head_usd - base_usd):,.2f})" in result.markdown


def test_rendered_prompt_diff_is_in_the_comment(repo, server):
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    md = direct(repo).markdown
    assert md.startswith("## ❌ promptslim check failed: 1 of 1 changed template — base `HEAD~1` (`")
    block = md[md.index("<details><summary>rendered prompt diff</summary>"):]
    assert "```diff" in block
    assert "\n-- Always greet the customer with the word BONJOUR." in block
    assert "You are the support assistant of Acme." in block  # rendered, not the template source
    assert "### details" in md and "| template | change |" in md


# ---------------------------------------------------------------- budgets and cost gates
def test_input_token_budget_breach_exits_1(repo, server):
    # the budget is the base's (a pull request cannot set its own gate): tighten it on main first
    commit(repo, "tight budget", {"promptslim.toml": CONFIG.replace("max_input_tokens = 400", "max_input_tokens = 30")})
    commit(repo, "longer prompt", {"prompts/greet.j2": WITH_RULE + "- Be kind.\n"})
    result = check()
    assert result.exit_code == 1, result.output
    assert "exceeds max_input_tokens 30" in result.stdout
    assert "- ❌ `prompts/greet.j2`" in result.stdout


def test_cost_increase_gate(repo, server):
    longer = WITH_RULE + "- " + "Mention our opening hours, our address and our phone number. " * 20 + "\n"
    commit(repo, "longer", {"prompts/greet.j2": longer})
    assert check("--no-eval").exit_code == 0
    result = check("--no-eval", "--fail-on-cost-increase", "10")
    assert result.exit_code == 1
    assert "exceeds --fail-on-cost-increase 10%" in result.stdout


# ---------------------------------------------------------------- what changed
def test_renamed_template_is_reported_as_renamed(repo, server):
    git(repo, "mv", "prompts/greet.j2", "prompts/hello.j2")
    git(repo, "mv", "evalsets/greet.yaml", "evalsets/hello.yaml")
    commit(repo, "rename")
    result = check()
    assert result.exit_code == 0, result.output
    assert "`prompts/hello.j2` (renamed from `prompts/greet.j2`)" in result.stdout
    row = direct(repo).data["templates"][0]
    assert (row["status"], row["base_path"], row["template"]) == ("renamed", "prompts/greet.j2", "prompts/hello.j2")
    assert row["quality"]["delta"] == 0


def test_deleted_template_reports_the_money_that_goes_away(repo, server):
    commit(repo, "delete", {"prompts/greet.j2": None, "evalsets/greet.yaml": None})
    result = check()
    assert result.exit_code == 0, result.output
    assert server.calls == 0
    usd = monthly(mean_tokens(WITH_RULE), 0)  # static: input tokens of the base eval set
    assert "- ✅ `prompts/greet.j2` (deleted) — was" in result.stdout
    assert f"$/month {usd:,.2f} goes away ({MINUS}{usd:,.2f})" in result.stdout


def test_nothing_changed_exits_0_and_says_so(repo, server):
    commit(repo, "docs only", {"README.md": "more docs\n"})
    result = check()
    assert result.exit_code == 0, result.output
    assert "no prompt templates changed since `HEAD~1`" in result.stdout
    assert server.calls == 0
    assert (repo / "reports" / "check.md").read_text(encoding="utf-8").startswith(
        "## ✅ promptslim check passed: 0 changed templates — base `HEAD~1` (`")


def test_evalset_only_change_is_gated_on_the_base_set_and_lists_its_changes(repo, server):
    bigger = {"cases": EVAL["cases"] + [{"id": "c9", "vars": {"shop": "Acme"}, "input": "Hi there",
                                         "assert": [{"type": "contains", "value": "BONJOUR"}]}]}
    commit(repo, "more cases", {"evalsets/greet.yaml": yaml.safe_dump(bigger, sort_keys=False)})
    result = check()
    assert result.exit_code == 0, result.output
    assert ("this PR changes its eval set — not applied: base and head were both graded on the base revision's "
            "`evalsets/greet.yaml` (8 cases)") in result.stdout
    assert "### ⚠️ eval set changes in this pull request (not applied — review them)" in result.stdout
    assert "- `evalsets/greet.yaml` (`prompts/greet.j2`): added `c9`\n" in result.stdout
    assert "graded by this PR's eval set — information, not the gate: 1 of 1 usable" in result.stdout
    assert "rendered prompt unchanged" in result.stdout
    # the plan counts the head on c9 too (the base is not planned: its renderings equal the head's)
    assert ("= 9 target calls (gpt-4o-mini; 0 cached), of which 1 on this PR's new or changed eval cases (for the "
            "reviewer, not the gate)") in result.stderr
    row = direct(repo).data["templates"][0]
    assert row["cases"] == 8 and row["evalset_note"] == "changed" and row["evalset_revision"] == "base"
    changes = row["evalset_changes"]
    assert (changes["added"], changes["removed"], changes["changed"]) == (["c9"], [], [])
    assert changes["head_cases"]["cases"] == ["c9"] and changes["head_cases"]["usable"] == 1
    # identical renderings on both sides: each base case asked once, plus the head on the new case c9
    assert server.calls == 9


def test_added_template_without_evalset_fails_unless_allowed(repo, server):
    write(repo, {"prompts/farewell.j2": "Say goodbye politely.\n"})  # untracked: still counts as added
    result = check(base="HEAD")
    assert result.exit_code == 1, result.output
    assert "`prompts/farewell.j2` (added)" in result.stdout
    assert "no eval set — create evalsets/farewell.yaml" in result.stdout
    assert server.calls == 0
    allowed = check("--allow-missing-evalset", base="HEAD")
    assert allowed.exit_code == 0, allowed.output
    assert "— → " in allowed.stdout  # no base side


def test_added_template_with_evalset_evaluates_head_only(repo, server):
    write(repo, {"prompts/welcome.j2": "Welcome to {{ shop }}. Greet with BONJOUR.\n",
                 "evalsets/welcome.yaml": yaml.safe_dump(EVAL, sort_keys=False)})
    result = check("prompts/welcome.j2", base="HEAD")
    assert result.exit_code == 0, result.output
    assert "`prompts/greet.j2`" not in result.stdout  # restricted to the given template
    assert "(new template, no base)" in result.stdout
    assert server.calls == len(INPUTS)


def test_default_base_is_the_merge_base_with_main(repo, server):
    git(repo, "checkout", "-q", "-b", "feature")
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    result = direct(repo, base=None, no_eval=True)
    main_sha = git(repo, "rev-parse", "main").strip()
    assert result.data["base_sha"] == main_sha
    assert result.data["templates"][0]["status"] == "modified"


def test_unknown_base_ref_is_a_usage_error(repo, server):
    result = CliRunner().invoke(promptslim.cli.app, ["check", "--base", "no-such-branch"])
    assert result.exit_code == 2
    assert "--base no-such-branch" in result.stderr


# ---------------------------------------------------------------- safety, cost, CI plumbing
def test_base_template_sandbox_escape_exits_2_naming_the_file(repo, server):
    commit(repo, "evil base", {"prompts/evil.j2": "{{ cycler.__init__.__globals__.os.popen('id').read() }}\n"})
    commit(repo, "benign head", {"prompts/evil.j2": "Be nice.\n"})
    result = check("--allow-missing-evalset")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "prompts/evil.j2" in lines[0] and "sandbox" in lines[0]
    assert "uid=" not in result.output
    assert server.calls == 0


def test_no_eval_makes_zero_calls(repo, server):
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    result = check("--no-eval")
    assert result.exit_code == 0, result.output
    assert server.calls == 0
    assert "quality not evaluated (--no-eval)" in result.stdout
    usd_base, usd_head = monthly(mean_tokens(WITH_RULE), 0), monthly(mean_tokens(WITHOUT_RULE), 0)
    assert f"$/month {usd_base:,.2f} → {usd_head:,.2f}" in result.stdout


def test_no_eval_needs_no_endpoint(repo, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    result = check("--no-eval")
    assert result.exit_code == 0, result.output


def test_rerun_makes_zero_new_calls(repo, server):
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    first = check()
    assert first.exit_code == 1
    calls = server.calls
    assert calls == 2 * len(INPUTS)
    second = check()
    assert second.exit_code == 1
    assert server.calls == calls
    assert f"This check: 0 API calls, {calls} cached, $0.0000." in second.stdout

    def without_run_line(text: str) -> list[str]:
        # the run's own lines differ by design: its calls, and (issue 17) its cache-hit fact
        return [line for line in text.splitlines() if not line.startswith(("This check:", "- cache hits:"))]

    assert without_run_line(second.stdout) == without_run_line(first.stdout)


def test_plan_over_budget_stops_before_any_call(repo, server):
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    result = check("--max-cost", "0.0000001")
    assert result.exit_code == 3
    assert "plan:" in result.stderr and "exceeds the budget" in result.stderr
    assert server.calls == 0


def test_step_summary_and_report_file_receive_the_markdown(repo, server, tmp_path, monkeypatch):
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    result = check()
    markdown = (repo / "reports" / "check.md").read_text(encoding="utf-8")
    assert markdown.strip() == result.stdout.strip()
    assert summary.read_text(encoding="utf-8").strip() == markdown.strip()


def test_json_output(repo, server):
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    result = check("--json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["failed"] is True and data["base"] == "HEAD~1"
    assert data["templates"][0]["failures"][0].startswith("quality regression")


def test_dirty_working_tree_is_the_head(repo, server):
    write(repo, {"prompts/greet.j2": WITHOUT_RULE})  # not committed
    result = check("--no-eval", base="HEAD")
    assert result.exit_code == 0, result.output
    assert "- ✅ `prompts/greet.j2` — " in result.stdout


def test_a_pr_fixing_a_broken_base_template_is_not_blocked(repo, server):
    commit(repo, "broken base", {"prompts/greet.j2": WITH_RULE + "{% if shop %}\n"})
    commit(repo, "fix it", {"prompts/greet.j2": WITH_RULE})
    result = check()
    assert result.exit_code == 0, result.output
    assert "the base version does not compile" in result.stdout
    assert "(no base comparison)" in result.stdout
    assert server.calls == len(INPUTS)  # head only


# ---------------------------------------------------------------- three outcomes: pass, regression, inconclusive
REWORDED = WITH_RULE.replace("- Answer in one sentence.", "- Answer in a single sentence.")


def many_cases(n: int) -> dict:
    return {"cases": [{"id": f"m{i}", "vars": {"shop": "Acme"}, "input": f"Question {i}: where is my parcel?",
                       "assert": [{"type": "contains", "value": "BONJOUR"}]} for i in range(n)]}


def test_a_change_the_eval_set_cannot_judge_is_a_warning_never_a_tick_and_exits_0(repo, server):
    commit(repo, "reword", {"prompts/greet.j2": REWORDED})
    result = check()
    assert result.exit_code == 0, result.output
    headline = next(line for line in result.stdout.splitlines() if "`prompts/greet.j2`" in line)
    assert headline.startswith("- ⚠️ `prompts/greet.j2`") and "✅" not in headline
    assert "this eval set cannot detect a −0.10 regression" in headline
    assert "**Warning:**" in result.stdout and "--require-noninferior" in result.stdout
    quality = direct(repo).data["templates"][0]["quality"]
    # no answer changed: 8 deltas of 0; the exact one-sided bound leaves room for 1 − 0.05^(1/8) = 31% worse cases
    assert quality["outcome"] == "underpowered" and quality["delta"] == 0.0
    assert quality["ci"][0] == pytest.approx(0.05 ** (1 / 8) - 1)


def test_require_noninferior_turns_inconclusive_into_exit_1(repo, server):
    commit(repo, "reword", {"prompts/greet.j2": REWORDED})
    result = check("--require-noninferior")
    assert result.exit_code == 1, result.output
    assert "could not show non-inferiority" in result.stdout
    assert direct(repo, require_noninferior=True).failed


def test_a_harmless_change_on_enough_cases_passes_even_when_non_inferiority_is_required(repo, server):
    # margin 0.02 (CONFIG): unchanged answers show non-inferiority once 0.98^N ≤ 0.05, from N = 149
    n = next(k for k in range(1, 400) if 0.98 ** k <= 0.05)
    assert n == 149
    commit(repo, "bigger eval set", {"evalsets/greet.yaml": yaml.safe_dump(many_cases(n), sort_keys=False)})
    commit(repo, "reword", {"prompts/greet.j2": REWORDED})
    result = check("--require-noninferior")
    assert result.exit_code == 0, result.output
    headline = next(line for line in result.stdout.splitlines() if "`prompts/greet.j2`" in line)
    assert headline.startswith("- ✅ `prompts/greet.j2`") and "(non-inferior)" in headline
    assert "**Warning:**" not in result.stdout


# ---------------------------------------------------------------- issue 17: the run's own facts in check.md
def test_check_md_states_the_run_facts_and_warns_on_truncation(repo, server):
    commit(repo, "cap answers", {"promptslim.toml": "max_tokens = 3\n" + CONFIG})  # the gate is the base's config
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    server.cut_at_max_tokens = True  # every answer is 5 words: cut at 3 (the base's max_tokens)
    result = check("--json")
    data = json.loads(result.stdout)
    run = data["run"]
    n = len(INPUTS)
    assert (run["answers"], run["truncated"], run["max_tokens"]) == (2 * n, 2 * n, 3)
    for row in data["templates"]:
        assert row["head"]["truncated"] == row["base"]["truncated"] == n
    (warning,) = data["warnings"]
    assert "raise max_tokens in promptslim.toml (now 3)" in warning
    md = (repo / "reports" / "check.md").read_text(encoding="utf-8")
    assert f"> ⚠️ **Warning:** {warning}" in md
    assert f"- truncated answers (finish_reason: length): {2 * n} of {2 * n} (100.0%) — base of " \
           f"`prompts/greet.j2`: {n}, head of `prompts/greet.j2`: {n}; max_tokens 3" in md
    for fact in ("- retries: none", "- cache hits: 0", "- concurrency (adapts", "- token counts: exact (tiktoken "
                 "o200k_base, gpt-4o-mini's own tokenizer)", "- prices: $ figures: gpt-4o-mini list prices from "
                 "genai-prices"):
        assert fact in md, fact
    assert data["tokens_source"] == "exact" and data["prices"]["price_model"]["kind"] == "genai-prices"


def test_static_check_marks_every_estimated_token_figure(repo, server):
    commit(repo, "a model without a public tokenizer",
           {"promptslim.toml": CONFIG.replace('model = "gpt-4o-mini"', 'model = "claude-3-5-haiku-latest"')})
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    result = check("--no-eval")
    assert result.exit_code == 0, result.output
    headline = next(line for line in result.stdout.splitlines() if line.startswith("- ✅ `prompts/greet.j2`"))
    assert headline.count("≈") == 2  # base and head tokens/call
    row = next(line for line in result.stdout.splitlines() if line.startswith("| `prompts/greet.j2`"))
    assert row.count("≈") == 3  # base → head tokens/call, and the largest case
    # one statement of how tokens were counted, in the footer (it said "exact" there and "estimated" below)
    assert "no API call: input token counts estimated ≈ (o200k_base; no public tokenizer for " in result.stdout
    assert "token counts:" not in result.stdout and "exact input tokens" not in result.stdout
    assert server.calls == 0


def test_check_with_batch_equals_the_online_check_at_the_batch_price(repo, server, monkeypatch, tmp_path):
    monkeypatch.setenv("PROMPTSLIM_BATCH_SETTLE", "0.05")
    monkeypatch.setenv("PROMPTSLIM_BATCH_POLL", "0.05")
    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    online = check("--json")
    assert online.exit_code == 1, online.output
    asked = list(server.requests)
    monkeypatch.setenv("PROMPTSLIM_HOME", str(tmp_path / "batch-home"))  # nothing cached
    batched = check("--json", "--batch")
    assert batched.exit_code == 1, batched.output
    assert server.calls == len(asked)  # no online call: base and head went out as one batch
    assert [len(b["lines"]) for b in server.batches] == [2 * len(INPUTS)]
    on, off = json.loads(online.stdout), json.loads(batched.stdout)
    assert off["templates"] == on["templates"]
    # gpt-4o-mini's batch price in genai-prices is half its list price; recomputed from the usage the server reported
    price_in, price_out = per_mtok()
    from fakeserver import default_prompt_tokens

    usd = sum(default_prompt_tokens(b) * price_in + words(bonjour(b)) * price_out
              for batch in server.batches for b in batch["lines"]) / 1e6
    assert off["run"]["usd"] == pytest.approx(usd / 2, rel=1e-6)
    assert off["run"]["usd"] == pytest.approx(on["run"]["usd"] / 2, rel=1e-6)
    assert "--batch saves $" in batched.stderr


def test_check_md_says_when_its_verdicts_come_from_a_small_local_model(repo, server):
    from dataclasses import replace

    from promptslim.report.check import render_markdown

    commit(repo, "drop the rule", {"prompts/greet.j2": WITHOUT_RULE})
    data = run_check(CheckOptions(base="HEAD~1"), lambda line: None, repo)
    assert data.local_model is None  # a configured endpoint: no caveat
    assert "Small local model" not in render_markdown(data)
    md = render_markdown(replace(data, local_model="Qwen2.5-Coder-1.5B-Instruct"))
    assert ("> ⚠️ **Small local model:** these verdicts come from Qwen2.5-Coder-1.5B-Instruct, a small model "
            "running on this machine") in md
    assert "Small local model" not in render_markdown(replace(data, local_model="X", no_eval=True))
