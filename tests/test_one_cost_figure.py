"""Issue 13: count, eval, ablate, check and report give one $/call and $/month for the same prompt and model.

One prompt, the fake server over real HTTP, all five commands; every figure is recomputed here from the eval
set's exact input tokens, the answers' reported output tokens and the configured price.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import promptslim.cli
from promptslim.savings import build_index
from promptslim.tokens import get_encoding

CONFIG = """model = "gpt-4o-mini"
judge_model = "none"
[prompts."x"]
calls_per_month = 100_000
[prices."gpt-4o-mini"]
input = 1.0
output = 4.0
"""
TEMPLATE = "You answer questions for {{ shop }}.\n- Be brief.\n- Answer in English.\n"
CASES = [("Acme", "Where is my parcel?"), ("Bolt", "Can I pay by card?"), ("Acme", "Do you ship to Norway and Iceland?")]
ANSWER = "Yes, we can help with that today."


def cli(*args: str):
    return CliRunner().invoke(promptslim.cli.app, list(args))


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    cases = [{"id": f"c{i}", "vars": {"shop": shop}, "input": text, "assert": [{"type": "icontains", "value": "yes"}]}
             for i, (shop, text) in enumerate(CASES)]
    files = {"promptslim.toml": CONFIG, "prompts/x.j2": TEMPLATE, "evalsets/x.yaml": yaml.safe_dump({"cases": cases}),
             ".gitignore": "reports/\n"}
    for rel, text in files.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text, encoding="utf-8")
    git(tmp_path, "init", "-q", "-b", "main")
    for key, value in (("user.name", "T"), ("user.email", "t@example.com"), ("commit.gpgsign", "false")):
        git(tmp_path, "config", key, value)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def expected_figures(fake) -> tuple[float, float]:
    """$/call and $/month from first principles: mean exact input over the cases, mean reported output."""
    enc = get_encoding("o200k_base")
    inputs = []
    for shop, text in CASES:
        system = TEMPLATE.replace("{{ shop }}", shop).strip()
        inputs.append(3 + sum(3 + len(enc.encode(r)) + len(enc.encode(c)) for r, c in (("system", system), ("user", text))))
    from tests.fakeserver import default_completion_tokens

    out = default_completion_tokens(ANSWER)
    per_call = (sum(inputs) / len(inputs) * 1.0 + out * 4.0) / 1e6
    return per_call, per_call * 100_000


def test_count_eval_ablate_check_and_report_agree_on_dollars(repo, fake):
    fake.handler = lambda body: ANSWER
    per_call, per_month = expected_figures(fake)

    ablate = cli("ablate", "prompts/x.j2", "--yes")
    assert ablate.exit_code == 0, ablate.output
    baseline = json.loads((repo / "reports/x/ablation.json").read_text())["baseline"]

    evaluated = cli("eval", "prompts/x.j2", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    summary = json.loads(evaluated.stdout)["summary"]

    counted = cli("count", "prompts/x.j2", "--json")
    assert counted.exit_code == 0, counted.output
    row = json.loads(counted.stdout)["models"][0]
    assert row["output_basis"] == "estimated" and "estimated from reports/x/ablation.json" in row["output_note"]

    reported = cli("report")
    assert reported.exit_code == 0, reported.output
    (entry,) = build_index(repo).to_json()["entries"]  # the data `report` rendered into reports/index.{md,html}
    index_md = (repo / "reports/index.md").read_text()
    assert f"{entry['usd_per_month']:,.2f}" in index_md and "output tokens are estimated from its latest ablation" in index_md

    # check: the base revision holds the template and its ablation; the head adds a unit
    git(repo, "add", "-A")
    git(repo, "add", "-f", "reports/x/ablation.json")
    git(repo, "commit", "-q", "-m", "base")
    (repo / "prompts/x.j2").write_text(TEMPLATE + "- Thank the customer.\n")
    checked = cli("check", "--base", "HEAD", "--json")
    assert checked.exit_code == 0, checked.output
    base_side = json.loads(checked.stdout)["templates"][0]["base"]
    static = cli("check", "--base", "HEAD", "--no-eval", "--json")
    assert static.exit_code == 0, static.output
    static_side = json.loads(static.stdout)["templates"][0]["base"]
    assert "the base's, assumed for both sides" in static_side["output_note"]

    figures = {"eval": (summary["usd_per_call"], summary["usd_per_month"]),
               "ablate": (baseline["usd_per_call"], baseline["usd_per_month"]),
               "count": (row["usd_per_call"], row["usd_per_month"]),
               "report": (entry["usd_per_call"], entry["usd_per_month"]),
               "check": (base_side["usd_per_call"], base_side["usd_per_month"]),
               "check --no-eval": (static_side["usd_per_call"], static_side["usd_per_month"])}
    for command, (call, month) in figures.items():
        assert call == pytest.approx(per_call, rel=1e-9), command
        assert month == pytest.approx(per_month, rel=1e-9), command


def test_a_template_without_traffic_warns_that_its_monthly_figure_is_zero(repo, fake):
    fake.handler = lambda body: ANSWER
    (repo / "promptslim.toml").write_text(CONFIG.replace('[prompts."x"]\ncalls_per_month = 100_000\n', ""))
    for args in (("eval", "prompts/x.j2"), ("ablate", "prompts/x.j2", "--yes"), ("count", "prompts/x.j2")):
        result = cli(*args)
        assert result.exit_code == 0, result.output
        text = " ".join(result.output.split())
        assert "$/month is 0 because calls_per_month is not set" in text, args
        assert '[prompts."x"] calls_per_month = N' in text, args
