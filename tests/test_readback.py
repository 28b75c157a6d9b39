"""Typed read-back: report and the static cost figure read ablation.json as the type that wrote it, checked against
its schema_version, an older file migrated in one function (results/readback.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.results import SCHEMA_VERSION, AblationResult, Verdict
from promptslim.results.readback import Unreadable, migrate, read_ablation

GOLDEN = Path(__file__).parent / "golden" / "planted_ablation.json"
# what promptslim wrote before ablation.json had a schema_version (its first decision method)
VERSION_1 = {
    "template": "prompts/a.j2", "template_sha256": "0" * 64, "git_commit": None, "model": "gpt-4o-mini",
    "judge_model": "none", "evalset": "evalsets/a.yaml", "cases": 3, "repeats": 1, "margin": 0.05,
    "calls_per_month": 1000, "tokens_approximate": False,
    "baseline": {"input_tokens": 40.0, "output_tokens": 12.5, "score": 1.0, "ci": [1.0, 1.0], "pass_rate": 1.0,
                 "usd_per_call": 1e-05, "usd_per_month": 0.01, "usd_per_usable_output": 1e-05},
    "units": [{"id": 1, "line": 2, "text": "Greet.", "tokens": 3, "input_tokens_saved": 3.0, "output_tokens_delta": 0.0,
               "score_delta": 0.0, "ci": [-0.1, 0.1], "n": 3, "verdict": "inconclusive", "usd_per_call_saved": 1e-07,
               "usd_per_month_saved": 0.0001}],
    "slim": {"removed": [], "restored": [], "path": "reports/a/slim.j2", "input_tokens": 40.0, "output_tokens": 12.5,
             "input_tokens_saved": 0.0, "output_tokens_delta": 0.0, "score": 1.0, "score_delta": None, "ci": None,
             "n": 0, "verdict": "none", "usd_per_call_saved": 0.0, "usd_per_month_saved": 0.0},
    "run": {"calls": 6, "cache_hits": 0, "usd": 0.0001, "usd_target": 0.0001, "usd_judge": 0.0, "wall_seconds": 1.2,
            "payback_hours": None},
    "price_model": "gpt-4o-mini", "judge_note": None, "created_at": "2026-11-01T10:00:00+00:00",
    "method": "paired t-interval", "inconclusive_hint": None, "pinned": [],
}


def test_the_current_version_reads_back_as_written():
    text = GOLDEN.read_text(encoding="utf-8")
    result = read_ablation(text)
    assert isinstance(result, AblationResult) and result.schema_version == SCHEMA_VERSION
    assert json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n" == text


def test_a_version_1_file_is_migrated_to_the_current_type():
    result = read_ablation(json.dumps(VERSION_1))
    assert result.schema_version == SCHEMA_VERSION
    assert result.slim.verdict is Verdict.INCONCLUSIVE  # version 1's "none" (issue 13)
    assert result.units[0].verdict is Verdict.INCONCLUSIVE and result.units[0].usd_per_call_saved == 1e-07
    assert result.baseline.output_tokens == 12.5 and result.run.calls == 6
    # keys version 1 did not write read as blanks, never as invented figures
    assert result.power.cases == 0 and result.units[0].p_value == 0.0 and result.warnings == []
    assert result.sections == ()
    assert migrate(dict(VERSION_1))["schema_version"] == SCHEMA_VERSION


@pytest.mark.parametrize("version", [SCHEMA_VERSION + 1, "2"])
def test_a_version_this_promptslim_does_not_know_is_refused(version):
    with pytest.raises(Unreadable, match="schema_version"):
        read_ablation(json.dumps({**VERSION_1, "schema_version": version}))


def test_a_file_without_verdicts_is_not_an_ablation():
    data = json.loads(json.dumps(VERSION_1))
    del data["slim"]["verdict"]
    with pytest.raises(Unreadable, match="verdict"):
        read_ablation(json.dumps(data))


def test_report_names_a_file_written_by_a_newer_promptslim(make_repo):
    make_repo({"prompts/a.j2": "Greet.\n",
               "reports/a/ablation.json": json.dumps({**VERSION_1, "schema_version": SCHEMA_VERSION + 1})})
    result = CliRunner().invoke(app, ["report"])
    assert result.exit_code == 0, result.output  # skipped with a warning naming it (issue 25), never a crash
    assert result.stderr.startswith("warning: reports/a/ablation.json: not a valid ablation result (schema_version")
    assert "Traceback" not in result.output


def test_report_reads_a_version_1_ablation(make_repo):
    make_repo({"prompts/a.j2": "Greet.\n", "reports/a/ablation.json": json.dumps(VERSION_1)})
    result = CliRunner().invoke(app, ["report", "--json"])
    assert result.exit_code == 0, result.output
    (entry,) = json.loads(result.stdout)["entries"]
    assert entry["ablation"]["slim_verdict"] == "inconclusive" and entry["ablation"]["units"] == 1
    assert entry["ablation"]["stale"] is True and "levers" not in entry  # nothing proven
