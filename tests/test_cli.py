"""The command line as a user meets it: tables and JSON for units/count/cache, one-line errors with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.cost.prices import price_for
from promptslim.tokens import get_encoding

TEMPLATE = """You are a helpful assistant. Answer briefly.

Rules:
- Use the customer's name, {{ name }}.
- Never invent prices.
"""


@pytest.fixture
def repo(make_repo):
    cases = [{"id": "a", "vars": {"name": "Ana"}, "input": "Hello there", "assert": [{"type": "icontains", "value": "x"}]},
             {"id": "b", "vars": {"name": "Bo"}, "input": "Hi", "assert": [{"type": "icontains", "value": "x"}]}]
    return make_repo({"prompts/t.j2": TEMPLATE, "evalsets/t.yaml": yaml.safe_dump({"cases": cases}),
                      "promptslim.toml": 'model = "gpt-4o-mini"\n[prompts."t"]\ncalls_per_month = 2_000_000\n'})


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def chat_tokens(messages: list[dict]) -> int:
    enc = get_encoding("o200k_base")
    return 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in messages)


def test_units_json_lists_units_and_fixed_parts(repo):
    result = invoke("units", "prompts/t.j2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [(u["id"], u["line"], u["kind"]) for u in data["units"]] == [
        (1, 1, "sentence"), (2, 1, "sentence"), (3, 4, "bullet"), (4, 5, "bullet")]
    assert data["units"][1]["text"] == "Answer briefly."
    assert data["units"][1]["tokens"] == len(get_encoding("o200k_base").encode("Answer briefly."))
    assert data["fixed"] == [{"line": 3, "kind": "heading", "text": "Rules:"}]


def test_units_table_marks_pinned_and_fixed(repo):
    (repo / "prompts" / "t.j2").write_text("{# promptslim: keep #}\nBe kind.\n\nRules:\n- One.\n")
    result = invoke("units", "prompts/t.j2")
    assert result.exit_code == 0
    assert "kept" in result.output and "fixed (heading)" in result.output and "One." in result.output


def test_count_averages_input_over_the_eval_cases_and_prices_each_model(repo):
    result = invoke("count", "prompts/t.j2", "--model", "gpt-4o-mini", "--model", "claude-3-5-haiku-latest", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    per_case = [chat_tokens([{"role": "system", "content": TEMPLATE.replace("{{ name }}", name).strip()},
                             {"role": "user", "content": text}]) for name, text in (("Ana", "Hello there"), ("Bo", "Hi"))]
    expected = sum(per_case) / 2  # like eval: the mean over the eval set's cases, not the first case
    mini, haiku = data["models"]
    assert mini["input_tokens"] == expected and mini["approximate"] is False
    assert haiku["approximate"] is True
    price = price_for("gpt-4o-mini")
    # no ablation of this text yet: output is left out, and the line says so
    assert mini["output_basis"] == "not included" and "not included" in data["output_note"]
    assert mini["usd_per_call"] == pytest.approx(expected * price.input / 1e6)
    assert mini["usd_per_month"] == pytest.approx(expected * price.input / 1e6 * 2_000_000)
    assert data["rendered_with"] == "evalsets/t.yaml (2 cases, mean)"
    # the table's title says what the token figure is (it read "rendered with evalsets/t.yaml (2 cases, mean)")
    table = invoke("count", "prompts/t.j2")
    title = table.stdout.splitlines()[0].strip()
    assert title == "prompts/t.j2 — 2,000,000 calls/month; input tokens: mean over the 2 cases of evalsets/t.yaml"
    assert "input: mean over the 2 cases of evalsets/t.yaml; output not included" in table.stdout


def test_count_with_vars_file_and_output_estimate(repo):
    (repo / "v.yaml").write_text("name: Zoe\ninput: Bonjour\n")
    result = invoke("count", "prompts/t.j2", "--vars", "v.yaml", "--output-tokens", "100", "--calls-per-month", "10",
                    "--json")
    data = json.loads(result.stdout)
    system = TEMPLATE.replace("{{ name }}", "Zoe").strip()
    tokens = chat_tokens([{"role": "system", "content": system}, {"role": "user", "content": "Bonjour"}])
    price = price_for("gpt-4o-mini")
    row = data["models"][0]
    assert row["input_tokens"] == tokens
    assert row["usd_per_month"] == pytest.approx((tokens * price.input + 100 * price.output) / 1e6 * 10)


def test_unknown_model_is_a_one_line_error_naming_the_config_key(repo):
    result = invoke("count", "prompts/t.j2", "--model", "my-ft")
    assert result.exit_code == 2
    assert "no price for model 'my-ft'" in result.output and '[prices."my-ft"]' in result.output
    assert "Traceback" not in result.output


def test_price_override_makes_an_unknown_model_countable(repo):
    with open(repo / "promptslim.toml", "a") as f:
        f.write('[prices."my-ft"]\ninput = 0.30\noutput = 1.20\n')
    data = json.loads(invoke("count", "prompts/t.j2", "--model", "my-ft", "--json").stdout)
    row = data["models"][0]
    assert row["usd_per_call"] == pytest.approx(row["input_tokens"] * 0.30 / 1e6)
    assert "promptslim.toml" in row["price_source"]


def test_syntax_error_names_file_and_line(repo):
    (repo / "prompts" / "t.j2").write_text("Fine line.\n{% if x %}\nUnclosed {{ name \n")
    result = invoke("units", "prompts/t.j2")
    assert result.exit_code == 2
    assert result.output.startswith("error: prompts/t.j2:3: syntax error")
    assert len(result.output.strip().splitlines()) == 1


def test_missing_variable_names_line_and_eval_set(repo):
    (repo / "prompts" / "t.j2").write_text("Hello.\nYour plan is {{ plan }}.\n")
    result = invoke("count", "prompts/t.j2")
    assert result.exit_code == 2
    assert "prompts/t.j2:2: undefined variable 'plan'" in result.output
    assert "add it to the case's vars" in result.output


def test_sandbox_escape_is_refused_not_executed(repo):
    marker = repo / "pwned"
    (repo / "prompts" / "t.j2").write_text(
        "{{ cycler.__init__.__globals__.os.popen('touch " + str(marker) + "').read() }}\n")
    result = invoke("count", "prompts/t.j2")
    assert result.exit_code == 2
    assert "prompts/t.j2:1: refused by the sandbox" in result.output
    assert not marker.exists()


def test_malformed_config_names_key_and_line(repo):
    (repo / "promptslim.toml").write_text('model = "gpt-4o-mini"\nmargn = 0.1\n')
    result = invoke("units", "prompts/t.j2")
    assert result.exit_code == 2
    assert "promptslim.toml:2: unknown key 'margn'" in result.output


def test_invalid_toml_names_the_line(repo):
    (repo / "promptslim.toml").write_text('model = "gpt-4o-mini"\nmargin = = 1\n')
    result = invoke("units", "prompts/t.j2")
    assert result.exit_code == 2
    assert "promptslim.toml:2: invalid TOML" in result.output


def test_missing_template_and_missing_evalset(repo):
    assert "no such template" in invoke("units", "prompts/nope.j2").output
    (repo / "prompts" / "other.j2").write_text("Hello.\n")
    result = invoke("eval", "prompts/other.j2", "--model", "gpt-4o-mini")
    assert result.exit_code == 2
    assert "no eval set — create evalsets/other.yaml" in result.output


def test_eval_and_cache_stats_and_clear(repo, fake):
    fake.handler = lambda body: "x marks the spot"
    first = invoke("eval", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["summary"]["score"]["mean"] == 1.0
    assert fake.calls == 2
    second = invoke("eval", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--json")
    assert json.loads(second.stdout)["run"]["cache_hits"] == 2 and fake.calls == 2
    stats = json.loads(invoke("cache", "stats", "--json").stdout)
    assert stats["entries"] == 2 and stats["last_run_hit_rate"] == 1.0 and stats["size_bytes"] > 0
    assert "removed 2 cached responses" in invoke("cache", "clear").output
    assert json.loads(invoke("cache", "stats", "--json").stdout)["entries"] == 0
    invoke("eval", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--json")
    assert fake.calls == 4


def test_no_cache_asks_again(repo, fake):
    fake.handler = lambda body: "x"
    invoke("eval", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none")
    invoke("eval", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--no-cache")
    assert fake.calls == 4


def test_python_dash_m_promptslim_works():
    done = subprocess.run([sys.executable, "-m", "promptslim", "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0
    for command in ("units", "count", "eval", "ablate", "check", "report", "cache"):
        assert command in done.stdout


def test_a_plan_over_budget_does_not_start_without_yes(repo, fake):
    fake.handler = lambda body: "x"
    result = invoke("eval", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--max-cost", "0.0000001")
    assert result.exit_code == 3
    assert "plan: 1 variant(s) × 2 cases × 1 repeat(s) = 2 target calls" in result.output
    assert "exceeds the budget" in result.output and "--yes" in result.output
    assert fake.calls == 0


def test_yes_starts_anyway_and_the_run_stops_at_the_budget(repo, fake):
    fake.handler = lambda body: "x marks"
    (repo / "promptslim.toml").write_text('model = "gpt-4o-mini"\nconcurrency = 1\n[prompts."t"]\ncalls_per_month = 2\n')
    result = invoke("eval", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--max-cost",
                    "0.0000001", "--yes")
    assert result.exit_code == 3
    assert "stopped at the cost budget" in result.output and "resume" in result.output
    assert fake.calls == 1  # one at a time: after the first call the budget is spent and nothing new starts
    rerun = invoke("eval", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--json")
    assert rerun.exit_code == 0
    assert json.loads(rerun.stdout)["run"]["cache_hits"] == fake.calls - json.loads(rerun.stdout)["run"]["calls"]


def test_version_and_dash_h(repo):
    from importlib.metadata import version

    shown = invoke("--version")
    assert shown.exit_code == 0 and shown.stdout.strip() == f"promptslim {version('promptslim')}"
    for args in (["-h"], ["ablate", "-h"], ["cache", "-h"]):
        result = invoke(*args)
        assert result.exit_code == 0 and "--help" in result.stdout and "Usage:" in result.stdout, args


def test_cache_stats_after_clear_no_longer_shows_the_old_hit_rate(repo, fake):
    fake.handler = lambda body: "x marks the spot"
    for _ in range(2):
        invoke("eval", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--json")
    assert json.loads(invoke("cache", "stats", "--json").stdout)["last_run_hit_rate"] == 1.0
    invoke("cache", "clear")
    stats = json.loads(invoke("cache", "stats", "--json").stdout)
    assert stats["entries"] == 0 and stats["last_run"].startswith("cache clear")
    assert stats["last_run_calls"] == 0 and stats["last_run_hit_rate"] is None


def test_write_says_nothing_removed_when_the_slim_prompt_is_the_template(repo, fake):
    fake.handler = lambda body: "x marks the spot"
    before = (repo / "prompts" / "t.j2").read_text(encoding="utf-8")
    result = invoke("ablate", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--write")
    assert result.exit_code == 0, result.output
    data = json.loads((repo / "reports" / "t" / "ablation.json").read_text(encoding="utf-8"))
    assert data["slim"]["removed"] == []  # 2 cases cannot verify anything
    assert "nothing removed: no unit was verified removable together, so prompts/t.j2 is unchanged" in result.stdout
    assert "applied the slim template" not in result.stdout
    assert (repo / "prompts" / "t.j2").read_text(encoding="utf-8") == before


def test_count_by_default_lists_the_model_under_test_not_the_judge(repo, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    (repo / "promptslim.toml").write_text('model = "gpt-4o-mini"\njudge_model = "gpt-4o"\n'
                                          '[prompts."t"]\ncalls_per_month = 2_000_000\n')
    data = json.loads(invoke("count", "prompts/t.j2", "--json").stdout)
    assert [row["model"] for row in data["models"]] == ["gpt-4o-mini"]
