"""The typed results: ablation.json's published schema comes from the types and describes real output."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from promptslim.results import (SCHEMA_VERSION, AblationResult, IndexResult, ablation_schema, shipped_schema,
                                Verdict)

GOLDEN = Path(__file__).parent / "golden" / "planted_ablation.json"


def golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def test_the_shipped_schema_is_the_one_generated_from_the_types():
    assert shipped_schema() == ablation_schema(), (
        'regenerate with: python -c "from promptslim.results import write_schema; write_schema()"')
    jsonschema.Draft202012Validator.check_schema(shipped_schema())


def test_the_planted_runs_ablation_json_satisfies_the_schema():
    jsonschema.validate(golden(), shipped_schema(), cls=jsonschema.Draft202012Validator)


def test_the_schema_refuses_what_design_md_rules_out():
    validator = jsonschema.Draft202012Validator(shipped_schema())
    bad_verdict = golden()
    bad_verdict["units"][0]["verdict"] = "maybe"
    assert not validator.is_valid(bad_verdict)
    missing = golden()
    del missing["slim"]
    assert not validator.is_valid(missing)
    old = golden()
    old["schema_version"] = 1
    assert not validator.is_valid(old)
    assert golden()["schema_version"] == SCHEMA_VERSION == 2


def test_reading_and_writing_ablation_json_gives_back_the_same_bytes():
    text = GOLDEN.read_text(encoding="utf-8")
    result = AblationResult.from_json(json.loads(text))
    assert json.dumps(result.to_json(), indent=2, ensure_ascii=False) + "\n" == text
    assert result.units[2].verdict is Verdict.KEEP and result.slim.verdict is Verdict.REMOVABLE
    assert result.run.facts.by_role["target"].calls == result.run.calls


def test_an_unknown_or_missing_key_is_an_error_naming_it():
    data = golden()
    data["units"][0]["surprise"] = 1
    with pytest.raises(ValueError, match=r"\$\.units\[0\]: unknown key"):
        AblationResult.from_json(data)
    data = golden()
    del data["baseline"]["n"]
    with pytest.raises(ValueError, match=r"\$\.baseline: missing key 'n'"):
        AblationResult.from_json(data)


def test_verdicts_are_the_strings_design_md_names():
    assert [v.value for v in Verdict] == ["removable", "keep", "inconclusive"]  # the slim prompt too (issue 13)
    assert Verdict("keep") == "keep" and str(Verdict.REMOVABLE) == "removable"


def test_an_empty_index_round_trips():
    data = {"entries": [], "totals": {"usd_per_month_now": 0.0, "usd_per_month_removable": 0.0, "templates": 0,
                                      "ablated": 0, "stale": 0}, "model": "gpt-4o-mini", "price_source": "x"}
    assert IndexResult.from_json(data).to_json() == data
