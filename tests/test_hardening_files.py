"""Issue 25, the files promptslim writes and reads back: CSV cells a spreadsheet would run as formulas, forged or
malformed ablation.json, resource limits on eval sets and templates, chart labels. Through the CLI."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fakeserver import Reply
from promptslim.cli import app

CORPUS = Path(__file__).parent / "hostile"
FORMULA = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")  # OWASP's list, and their full-width forms
PAYLOADS = ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1", "\r=1+1", "＝1+1"]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(path: str) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:  # a carriage return inside a cell stays one
        return list(csv.DictReader(handle))


def assert_no_live_formula(table: list[dict], numeric: set[str]) -> None:
    for row in table:
        for column, cell in row.items():
            if column in numeric or not cell:
                continue
            assert not cell.startswith(FORMULA), (column, cell)


# ---------------------------------------------------------------- 8. CSV formula injection
def test_eval_csv_writes_an_answer_and_a_case_id_as_text_not_formulas(make_repo, fake):
    cases = [{"id": payload, "input": f"question {i}", "assert": [{"type": "contains", "value": "x"}]}
             for i, payload in enumerate(PAYLOADS)]
    make_repo({"prompts/p.j2": "Be brief.\n", "evalsets/p.yaml": yaml.safe_dump({"cases": cases}),
               "promptslim.toml": '[prices."fake-model"]\ninput = 1.0\noutput = 1.0\n'})
    answers = dict(zip((f"question {i}" for i in range(len(PAYLOADS))), PAYLOADS))
    fake.handler = lambda body: Reply(answers[body["messages"][-1]["content"]])
    result = cli("eval", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none", "--csv", "out.csv")
    assert result.exit_code == 0, result.output
    table = rows("out.csv")
    assert_no_live_formula(table, numeric={"score", "input_tokens", "output_tokens", "judge_errors", "samples",
                                           "truncated", "passed"})
    assert [r["id"] for r in table] == ["'" + p for p in PAYLOADS]  # the OWASP quote prefix, the text kept whole
    assert [r["output"] for r in table] == ["'" + p for p in PAYLOADS]


def test_ablation_csv_writes_unit_texts_as_text_not_formulas(make_repo, fake):
    source = "You are the assistant.\n- =HYPERLINK(\"https://example.invalid\",\"x\")\n- @SUM(1+1)\n- Be brief.\n"
    cases = [{"id": f"c{i}", "input": f"q{i}", "assert": [{"type": "contains", "value": "ok"}]} for i in range(4)]
    make_repo({"prompts/p.j2": source, "evalsets/p.yaml": yaml.safe_dump({"cases": cases}),
               "promptslim.toml": '[prices."fake-model"]\ninput = 1.0\noutput = 1.0\n'})
    fake.handler = lambda body: Reply("ok")
    result = cli("ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none", "--yes")
    assert result.exit_code == 0, result.output
    table = rows("reports/p/ablation.csv")
    assert_no_live_formula(table, numeric={"id", "line", "tokens", "input_tokens_saved", "output_tokens_delta",
                                           "score_delta", "ci_low", "ci_high", "n", "usd_per_call_saved",
                                           "usd_per_month_saved", "judge_errors", "truncated", "in_slim"})
    texts = [r["text"] for r in table]
    assert "'- =HYPERLINK(\"https://example.invalid\",\"x\")" in texts and "'- @SUM(1+1)" in texts
