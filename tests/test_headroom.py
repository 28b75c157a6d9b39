"""Issue 24 finding 1: a model that always answers the majority label of a Yes/No task scores about what "always No"
scores, and every instruction — the task's definition included — comes out removable. The headroom check says so
before leave-one-out starts, marks every report headline, and gives per-label pass rates."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

import promptslim
from promptslim.cli import app
from promptslim.engine.events import Detail, Notice, PhaseStarted
from promptslim.engine.headroom import answer_label, trivial
from promptslim.evalset import load_evalset

TEMPLATE = """Definition: a statement is a question when it asks for information.
Things to avoid: do not explain your answer.
Emphasis: answer with one word.
- Example: "Where is it?" -> Yes
- Example: "It is here." -> No
"""
# 13 of 20 expected "No": always answering "No" scores 0.65, exactly what a model stuck on "No" scores
EXPECTED = ["No"] * 13 + ["Yes"] * 7
CASES = [{"id": f"s{i}", "input": f"Statement {i}", "assert": [{"type": "one-of", "value": ["Yes", "No"]},
                                                               {"type": "icontains", "value": label}]}
         for i, label in enumerate(EXPECTED)]
FILES = {"prompts/q.j2": TEMPLATE, "evalsets/q.yaml": yaml.safe_dump({"cases": CASES}, sort_keys=False),
         "promptslim.toml": '[prompts."q"]\ncalls_per_month = 1000\nmargin = 0.1\n[prices."m"]\ninput = 1.0\noutput = 2.0\n'}
ABLATE = ["ablate", "prompts/q.j2", "--model", "m", "--judge-model", "none", "--yes"]


def always_no(body: dict) -> str:
    return "No"


def right(body: dict) -> str:
    number = int(body["messages"][-1]["content"].split()[-1])
    return EXPECTED[number]


def test_the_trivial_answer_is_known_before_any_call(make_repo):
    root = make_repo(FILES)
    evalset = load_evalset(root / "evalsets/q.yaml", root)
    found = trivial(evalset, "gpt-4o-mini", judged=False)
    assert (found.answer, found.score) == ("No", 13 / 20)
    assert list(found.labels) == EXPECTED  # each case's one passing label
    assert trivial(evalset, "gpt-4o-mini", judged=True) is None  # a judge's score of "No" is unknown without it


def test_a_majority_label_model_is_warned_about_before_leave_one_out(fake, make_repo):
    root = make_repo(FILES)
    fake.handler = always_no
    seen: list[tuple[object, int]] = []
    result = promptslim.ablate(promptslim.AblateRequest("prompts/q.j2", model="m", judge_model="none", yes=True,
                                                        root=root), events=lambda e: seen.append((e, fake.calls)))
    details = [e.text for e, _ in seen if isinstance(e, Detail) and e.text.startswith("headroom:")]
    assert details == ['headroom: always answering "No" (the majority label) scores 0.650 on this eval set\'s '
                       "assertions; the verdicts can separate 'needed' from 'ignored' only if the baseline scores at "
                       "least 0.850 (twice the margin above it)"]
    warned = [(e.text, calls) for e, calls in seen if isinstance(e, Notice) and "no headroom" in e.text]
    assert len(warned) == 1
    text, calls_then = warned[0]
    assert calls_then == len(CASES)  # the baseline only: said before any leave-one-out call
    phases = [e.name for e, _ in seen if isinstance(e, PhaseStarted)]
    assert seen.index(next(x for x in seen if x[0].__class__ is Notice and "no headroom" in x[0].text)) < \
        seen.index(next(x for x in seen if isinstance(x[0], PhaseStarted) and x[0].name.startswith("leave-one-out")))
    assert phases[0] == "baseline"
    assert text.startswith('warning: no headroom: the baseline scores 0.650, only 0.000 above always answering "No" '
                           "(0.650), less than twice the margin (0.2)")
    room = result.data.headroom
    assert (room.trivial_answer, room.trivial_score, room.baseline_score, room.lead, room.enough) == \
        ("No", 0.65, 0.65, 0.0, False)
    assert [(r.label, r.cases, r.passes, r.pass_rate, r.answered) for r in room.labels] == \
        [("No", 13, 13, 1.0, 20), ("Yes", 7, 0, 0.0, 0)]
    assert result.data.warnings[0].startswith("no headroom: the baseline scores 0.650")
    # what the issue saw: the ignored instructions all come out removable — now under the warning
    assert {u.verdict.value for u in result.data.units} <= {"removable", "inconclusive"}


def test_every_report_headline_is_marked(fake, make_repo):
    root = make_repo(FILES)
    fake.handler = always_no
    result = CliRunner().invoke(app, ABLATE)
    assert result.exit_code == 0, result.output
    headline = '⚠️ no headroom (baseline 0.650, always answering "No" 0.650) — '
    assert result.stdout.startswith(headline)
    assert "per label: No 13/13 passed (100%), answered 20 · Yes 0/7 passed (0%), answered 0" in result.stdout
    data = json.loads((root / "reports/q/ablation.json").read_text(encoding="utf-8"))
    assert data["headroom"]["enough"] is False and data["headroom"]["trivial_answer"] == "No"
    md = (root / "reports/q/ablation.md").read_text(encoding="utf-8")
    html = (root / "reports/q/ablation.html").read_text(encoding="utf-8")
    assert f"**{headline}" in md and "| No | 13 | 13 | 100% | 20 |" in md and "| Yes | 7 | 0 | 0% | 0 |" in md
    assert "⚠️ no headroom (baseline 0.650, always answering &#34;No&#34; 0.650)" in html
    index = CliRunner().invoke(app, ["report"])
    assert index.exit_code == 0
    assert "no headroom" in (root / "reports/index.md").read_text(encoding="utf-8")


def test_a_model_that_does_the_task_has_headroom_and_no_warning(fake, make_repo):
    root = make_repo(FILES)
    fake.handler = right
    result = CliRunner().invoke(app, ABLATE)
    assert result.exit_code == 0, result.output
    assert "no headroom" not in result.stderr + result.stdout
    room = json.loads((root / "reports/q/ablation.json").read_text(encoding="utf-8"))["headroom"]
    assert (room["baseline_score"], room["lead"], room["enough"]) == (1.0, pytest.approx(0.35), True)
    assert [(r["label"], r["passes"], r["answered"]) for r in room["labels"]] == [("No", 13, 13), ("Yes", 7, 7)]


@pytest.mark.parametrize("answer, label", [("No", "No"), (" no.", "No"), ("No, it is not.", "No"),
                                           ("Yes!", "Yes"), ("Nope", None), ("Maybe", None)])
def test_an_answer_gives_the_label_it_equals_or_opens_with(answer, label):
    assert answer_label(answer, ["No", "Yes"]) == label


def test_eval_shows_each_answer_and_the_per_label_rates(fake, make_repo):
    make_repo(FILES)
    fake.handler = always_no
    result = CliRunner().invoke(app, ["eval", "prompts/q.j2", "--model", "m", "--judge-model", "none"])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.stdout.splitlines() if "│ s13 " in line)  # a "Yes" case
    cells = [c.strip() for c in row.strip("│ ").split("│")]
    assert cells[:4] == ["s13", "0.00", "icontains 'Yes': not found", "No"]  # the answer the assertion saw
    assert ("per label: No 13/13 passed (100%), answered 20 · Yes 0/7 passed (0%), answered 0"
            in result.stdout.splitlines())
    assert ('headroom: always answering "No" scores 0.650 on the eval set\'s assertions; the baseline scores 0.650 '
            "(lead 0.000; twice the margin is 0.2)") in result.stdout.splitlines()
    assert any(line.startswith("warning: no headroom: the baseline scores 0.650") for line in result.stdout.splitlines())
    data = json.loads(CliRunner().invoke(app, ["eval", "prompts/q.j2", "--model", "m", "--judge-model", "none",
                                               "--json"]).stdout)
    assert [(r["label"], r["cases"], r["passes"], r["answered"]) for r in data["headroom"]["labels"]] == \
        [("No", 13, 13, 20), ("Yes", 7, 0, 0)]
    assert data["cases"][13]["outputs"] == ["No"]


def test_check_shows_per_label_rates_and_a_base_without_headroom(fake, make_repo):
    import subprocess

    root = make_repo(FILES)
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.email=t@e", "-c", "user.name=t", "commit",
                                                                 "-qm", "base"]):
        subprocess.run(["git", *args], check=True, capture_output=True)
    (root / "prompts/q.j2").write_text(TEMPLATE.replace("Things to avoid: do not explain your answer.\n", ""))
    fake.handler = always_no
    result = CliRunner().invoke(app, ["check", "--base", "HEAD", "--model", "m", "--judge-model", "none"])
    assert result.exit_code == 0, result.output
    assert "- `prompts/q.j2` per label, passed/cases base → head: `No` 13/13 → 13/13 · `Yes` 0/7 → 0/7" in result.stdout
    assert '> ⚠️ **Warning:** `prompts/q.j2` (base): no headroom: the baseline scores 0.650, only 0.000 above always ' \
           'answering "No"' in result.stdout
    data = json.loads(CliRunner().invoke(app, ["check", "--base", "HEAD", "--model", "m", "--judge-model", "none",
                                               "--json"]).stdout)
    head = data["templates"][0]["head"]["headroom"]
    assert [(r["label"], r["passes"], r["cases"]) for r in head["labels"]] == [("No", 13, 13), ("Yes", 0, 7)]


def test_case_specific_facts_are_not_labels_but_the_demos_routes_are():
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    support = trivial(load_evalset(repo / "evalsets/support_reply.yaml", repo), "gpt-4o-mini", judged=False)
    assert (support.answer, set(support.labels)) == ("", {None})  # a phone number here, a URL there: facts
    router = trivial(load_evalset(repo / "evalsets/ticket_router.yaml", repo), "gpt-4o-mini", judged=False)
    cases = yaml.safe_load((repo / "evalsets/ticket_router.yaml").read_text(encoding="utf-8"))["cases"]
    expected = [c["assert"][0]["value"] for c in cases]
    top = max(set(expected), key=expected.count)
    assert router.answer == top and router.score == expected.count(top) / len(cases)  # the majority label
    assert router.score <= 0.4  # make demo's baseline needs ≥ 0.6 at its margin 0.1 to have headroom


def test_tier_warns_the_same_way(fake, make_repo):
    files = {**FILES, "promptslim.toml": FILES["promptslim.toml"] + '[prices."m2"]\ninput = 0.1\noutput = 0.2\n'}
    root = make_repo(files)
    fake.handler = always_no  # both models: the baseline (m) cannot beat always answering "No"
    result = CliRunner().invoke(app, ["tier", "prompts/q.j2", "--model", "m2", "--judge-model", "none", "--yes"])
    assert result.exit_code == 0, result.output
    data = json.loads((root / "reports/q/tier.json").read_text(encoding="utf-8"))
    assert data["warnings"][0].startswith('no headroom: the baseline scores 0.650, only 0.000 above always answering '
                                          '"No" (0.650)')
    assert any(line.startswith("warning: no headroom: the baseline scores 0.650") for line in result.stdout.splitlines())
