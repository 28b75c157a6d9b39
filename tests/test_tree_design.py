"""Choosing the design and planning the tree (issue 23): --design, what the plan says, payback, --max-cost, max_units."""

from __future__ import annotations

import json

import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.engine.requests import AblateRequest
from promptslim.engine.setup import prepare
from promptslim.engine.strategies.tree import plan_design
from promptslim.hierarchy import cases_unchanged
from promptslim.results.readback import read_ablation

RULES = {"Tone": ["Be kind to people.", "Stay calm always.", "Use plain words.", "Avoid long words."],
         "Greeting": ["Say BONJOUR first.", "Keep it short.", "Skip small talk.", "Match the time of day."],
         "Style": ["Prefer short lines.", "Avoid jargon here.", "Stay polite always.", "Use active voice."],
         "Closing": ["End on a helpful note.", "Offer a next step.", "Do not add a signature.", "Avoid slogans."]}
SOURCE = "".join(f"## {title}\n" + "".join(f"- {rule}\n" for rule in rules) + "\n" for title, rules in RULES.items())


def answer(body: dict) -> str:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    return ("BONJOUR! " if "BONJOUR" in system else "") + "Here is your answer."


def repo(make_repo, n: int, traffic: bool = True, extra: str = "") -> None:
    cases = [{"id": f"q{i}", "input": f"question {i}", "assert": [{"type": "contains", "value": "BONJOUR"}]}
             for i in range(n)]
    config = extra + ('[prompts."p"]\ncalls_per_month = 1_000_000\n' if traffic else "") + \
        '[prices."fake-model"]\ninput = 2.0\noutput = 8.0\n'
    make_repo({"prompts/p.md": SOURCE, "evalsets/p.yaml": yaml.safe_dump({"cases": cases}), "promptslim.toml": config})


def ablate(*more: str):
    return CliRunner().invoke(app, ["ablate", "prompts/p.md", "--model", "fake-model", "--judge-model", "none", *more])


def test_an_unknown_design_is_a_usage_error(make_repo, fake):
    repo(make_repo, 10)
    result = ablate("--design", "sideways", "--yes")
    assert result.exit_code == 2 and "--design: unknown design 'sideways' (known: auto, flat, tree)" in result.output
    assert fake.calls == 0


def test_auto_stays_flat_when_neither_design_can_decide_and_says_what_the_tree_would_cost(make_repo, fake):
    fake.handler = answer
    repo(make_repo, 20)
    result = ablate("--yes")
    assert result.exit_code == 0, result.output
    data = json.loads(open("reports/p/ablation.json", encoding="utf-8").read())
    assert "design" not in data and "nodes" not in data and len(data["units"]) == 16  # flat: ablation.json as before
    line = next(x for x in result.stderr.splitlines() if x.startswith("design: flat"))
    assert "neither design can call a node that changes no answer removable at 20 cases" in line
    assert "--design tree would test the sections for" in line


def test_a_tree_run_reports_every_node_and_reads_back_as_it_was_written(make_repo, fake):
    fake.handler = answer
    repo(make_repo, 100)
    result = ablate("--design", "tree", "--yes")
    assert result.exit_code == 0, result.output
    text = open("reports/p/ablation.json", encoding="utf-8").read()
    data = json.loads(text)
    assert data["design"] == "tree" and data["tree"]["depth"] == 1 and data["tree"]["sections_tested"] == 4
    assert [n["id"] for n in data["nodes"] if n["parent"] is None] == ["s1", "s2", "s3", "s4"]
    assert {n["id"]: n["verdict"] for n in data["nodes"] if n["parent"] is None} == {
        "s1": "removable", "s2": "keep", "s3": "removable", "s4": "removable"}  # 0.95^100 = 0.0059 ≤ α/4
    assert read_ablation(text).to_json() == data  # typed read-back, schema checked
    md = open("reports/p/ablation.md", encoding="utf-8").read()
    assert "## The prompt's tree" in md and "| s2 | section |" in md and "removed with s1" in md
    assert "The prompt's tree" in open("reports/p/ablation.html", encoding="utf-8").read()
    assert "tree design: 3 of 4 sections removable whole" in result.stdout
    listed = json.loads(CliRunner().invoke(app, ["runs", "prompts/p.md", "--json"]).stdout)
    assert [r["design"] for r in listed["runs"]] == ["tree, two-stage"]  # the removable sections ran both stages


def test_at_60_cases_only_the_section_that_saves_the_most_can_be_decided_so_only_it_is_tested(make_repo, fake):
    fake.handler = answer
    repo(make_repo, 60)
    result = ablate("--design", "tree", "--yes")
    assert result.exit_code == 0, result.output
    data = json.loads(open("reports/p/ablation.json", encoding="utf-8").read())
    # 0.95^60 = 0.046: an unchanged section is removable only at α/1, so one section gets all of α
    tested = [n for n in data["nodes"] if n["tested"]]
    assert len(tested) == 1 and tested[0]["level"] == 0.05 and tested[0]["verdict"] in ("removable", "keep")
    others = [n for n in data["nodes"] if n["parent"] is None and not n["tested"]]
    assert len(others) == 3 and all(n["why"].startswith("not decidable at 60 cases") for n in others)


def test_without_traffic_nothing_is_ruled_out_and_the_plan_says_so(make_repo, fake):
    fake.handler = answer
    repo(make_repo, 30, traffic=False)
    result = ablate("--design", "tree", "--yes")
    assert result.exit_code == 0, result.output
    assert "tree: no calls_per_month — no node is ruled out as not worth testing" in result.stderr
    data = json.loads(open("reports/p/ablation.json", encoding="utf-8").read())
    assert data["tree"]["traffic"] is False and data["tree"]["not_worth_testing"] == 0
    # 0.95^30 = 0.21: the three harmless sections stay inconclusive, and what would settle them is said
    assert data["inconclusive_hint"].startswith("3 of 4 tested nodes are inconclusive at 30 cases")
    assert f"about {cases_unchanged(0.05 / 4, 0.05)} cases" in data["inconclusive_hint"]  # 86: Holm's first step


def test_max_cost_caps_the_descent_and_the_plan_and_report_say_what_is_left_untested(make_repo, fake):
    fake.handler = answer
    repo(make_repo, 200)
    setup = prepare(AblateRequest("prompts/p.md", model="fake-model", judge_model="none"))
    full = plan_design(setup.evaluator, 0.05)
    assert full.levels.depth == 2 and len(full.levels.tested) == 20  # at 200 cases the units get the reserve
    shallow = plan_design(setup.evaluator, 0.05, budget=full.cost.usd * 0.5)
    assert shallow.levels.depth == 1 and len(shallow.capped) == 16 and shallow.cost.usd <= full.cost.usd * 0.5
    result = ablate("--design", "tree", "--max-cost", f"{full.cost.usd * 0.5:.6f}", "--yes")
    assert result.exit_code in (0, 3), result.output
    assert "tree: --max-cost leaves 16 nodes below depth 1 untested" in result.stderr


def test_the_tree_is_bounded_by_max_units_in_the_nodes_it_tests(make_repo, fake):
    repo(make_repo, 20, extra="max_units = 3\n")
    result = ablate("--design", "tree", "--yes")
    assert result.exit_code == 2 and "more than 3 (max_units)" in result.output
    assert fake.calls == 0
