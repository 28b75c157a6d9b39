"""Issue 24 finding 6: `check --no-eval` right after `eval` and `ablate` said output was "not included (no measured
answers …)" — it read the base's ablation through git, and reports/ is git-ignored — so it gave another $/month
than `count`. It now reads this checkout's own untracked ablation as `count` does (never one a commit put there: a
pull request must not set its own cost figure), and says how tokens were counted once."""

from __future__ import annotations

import json

from typer.testing import CliRunner

import promptslim.cli
from test_check import RULE, WITH_RULE, WITHOUT_RULE, bonjour, commit, git, repo  # noqa: F401 - the fixture


def cli(*args: str):
    return CliRunner().invoke(promptslim.cli.app, list(args))


def month(data: dict, side: str) -> float:
    return data["templates"][0][side]["usd_per_month"]


def test_static_check_after_a_local_ablate_gives_counts_figure(repo, fake):
    fake.handler = bonjour
    assert cli("ablate", "prompts/greet.j2", "--yes").exit_code == 0
    assert git(repo, "status", "--porcelain") == ""  # reports/ is ignored: nothing for git to carry
    counted = json.loads(cli("count", "prompts/greet.j2", "--json").stdout)["models"][0]
    assert counted["output_basis"] == "estimated"
    (repo / "prompts/greet.j2").write_text(WITHOUT_RULE, encoding="utf-8")  # the change under review
    result = cli("check", "--base", "HEAD", "--no-eval", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    base = data["templates"][0]["base"]
    assert base["output_basis"] == "estimated" and base["output_tokens"] is None
    assert month(data, "base") == counted["usd_per_month"]  # one cost figure: count's, for the same text
    assert "(this checkout's own run, not in git, assumed for both sides)" in base["output_note"]
    md = cli("check", "--base", "HEAD", "--no-eval").stdout
    assert md.count("token counts") == 1 and "exact input tokens" not in md
    assert "no API call: input token counts exact (tiktoken o200k_base, gpt-4o-mini's own tokenizer)" in md
    assert fake.calls > 0 and "not included" not in md


def test_a_report_a_commit_put_in_the_checkout_is_not_trusted(repo, fake):
    fake.handler = bonjour
    assert cli("ablate", "prompts/greet.j2", "--yes").exit_code == 0
    doctored = json.loads((repo / "reports/greet/ablation.json").read_text(encoding="utf-8"))
    doctored["baseline"]["output_tokens"] = 100_000.0  # a PR that would dilute its own cost increase
    (repo / "reports/greet/ablation.json").write_text(json.dumps(doctored), encoding="utf-8")
    git(repo, "add", "-f", "reports/greet/ablation.json")
    commit(repo, "a PR that drops the rule and brings its own report", {"prompts/greet.j2": WITHOUT_RULE})
    data = json.loads(cli("check", "--base", "HEAD~1", "--no-eval", "--json").stdout)
    base = data["templates"][0]["base"]
    assert base["output_basis"] == "not included" and "no ablation of this template text yet" in base["output_note"]
    assert RULE not in WITHOUT_RULE and WITH_RULE != WITHOUT_RULE
