"""README is true: the "Coming from promptfoo / deepeval" section — its config, goldens and every command in it —
runs on the fake server in a fresh repository."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from test_readme import answer

REPO = Path(__file__).resolve().parents[1]


def section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("## Coming from promptfoo / deepeval", 1)[1].split("\n## ", 1)[0]


def blocks() -> list[tuple[str, str]]:
    """(language, body) of every fenced block in the section, in order."""
    return re.findall(r"```(\w*)\n(.*?)```", section(), re.S)


def commands(body: str) -> list[list[str]]:
    return [shlex.split(line)[1:] for line in body.splitlines() if line.startswith("promptslim ")]


@pytest.fixture
def repo(tmp_path, monkeypatch, fake):
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    fake.handler = answer
    monkeypatch.chdir(tmp_path)
    return tmp_path


def run(args: list[str]):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, f"promptslim {' '.join(args)}\n{result.output}"
    assert "Traceback" not in result.output
    return result


def test_the_section_has_a_promptfoo_and_a_deepeval_recipe():
    kinds = [lang for lang, _ in blocks()]
    assert kinds == ["yaml", "", "json", ""]
    assert [c[:2] for c in commands(blocks()[1][1])] == [["import", "promptfoo"], ["eval", "prompts/support.j2"],
                                                        ["ablate", "prompts/support.j2"], ["export", "promptfoo"]]


def test_the_promptfoo_recipe_runs(repo, fake):
    config, steps = blocks()[0][1], blocks()[1][1]
    (repo / "promptfooconfig.yaml").write_text(config)
    outputs = [run(args).output for args in commands(steps)]
    assert "javascript ×1: never executed" in outputs[0]  # the unmapped assertion is listed
    evalset = yaml.safe_load((repo / "evalsets/support.yaml").read_text())
    assert evalset["criteria"] == "Answers the customer's question politely."
    assert 'model = "gpt-4o-mini"' in (repo / "promptslim.toml").read_text()
    assert (repo / "reports/support/slim.j2").is_file()
    exported = yaml.safe_load((repo / "reports/support/promptfooconfig.yaml").read_text())
    assert len(exported["tests"]) == 2 and fake.calls > 0
    assert "reports/support/promptfooconfig.yaml" in outputs[3]


def test_the_deepeval_recipe_runs(repo, fake):
    goldens, steps = blocks()[2][1], blocks()[3][1]
    (repo / "goldens.json").write_text(goldens)
    (repo / "prompts").mkdir()
    # deepeval holds no prompt: the README says to write the one the app sends
    (repo / "prompts/faq.j2").write_text("Answer from these facts only.\n{{ context | join('\\n') }}\n")
    outputs = [run(args).output for args in commands(steps)]
    evalset = yaml.safe_load((repo / "evalsets/faq.yaml").read_text())
    data = json.loads(goldens)
    assert [c["input"] for c in evalset["cases"]] == [g["input"] for g in data]
    assert [c["expected"] for c in evalset["cases"]] == [g["expected_output"] for g in data]
    assert evalset["cases"][0]["vars"]["context"] == data[0]["context"]
    assert "score:" in outputs[1] and fake.calls > 0
