"""Issue 13: a template outside prompts/ is refused the same way by every command — one line, exit 2."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

import promptslim.cli


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    for rel, text in {"prompts/in.j2": "Be kind.\n- Say hi.\n", "other/x.j2": "Be kind.\n- Say hi.\n",
                      "evalsets/in.yaml": "cases:\n  - {id: a, input: hi}\n",
                      "evalsets/x.yaml": "cases:\n  - {id: a, input: hi}\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)
    for args in (["init", "-q", "-b", "main"], ["config", "user.email", "t@example.com"], ["config", "user.name", "T"],
                 ["add", "-A"], ["commit", "-q", "-m", "base"]):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.parametrize("args", [
    ["units", "other/x.j2"], ["count", "other/x.j2"], ["eval", "other/x.j2", "--model", "gpt-4o-mini"],
    ["ablate", "other/x.j2", "--model", "gpt-4o-mini", "--yes"], ["check", "other/x.j2", "--base", "HEAD", "--no-eval"],
])
def test_every_command_refuses_a_template_outside_prompts_with_exit_2(repo, fake, args):
    result = CliRunner().invoke(promptslim.cli.app, args)
    assert result.exit_code == 2, result.output
    (line,) = result.stderr.strip().splitlines()
    assert line == ("error: other/x.j2: not under prompts/ — promptslim reads templates from prompts/ (their eval "
                    "sets from evalsets/ under the same path): move it to prompts/x.j2")
    assert fake.calls == 0


def test_a_template_under_prompts_is_still_accepted(repo):
    assert CliRunner().invoke(promptslim.cli.app, ["units", "prompts/in.j2"]).exit_code == 0
