"""The pre-commit hook (.pre-commit-hooks.yaml) runs its entry command on staged templates: token budgets and
$/month against HEAD, no API call, no network, nothing written into the repository."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ci_repo import GREET, HEAD, git, init_repo

REPO = Path(__file__).resolve().parents[1]
(HOOK,) = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())


def run_hook(root: Path, fake_url: str) -> subprocess.CompletedProcess:
    """The entry as pre-commit runs it for language: python (the package's console script, no file names)."""
    args = shlex.split(HOOK["entry"])
    assert args[0] == "promptslim"
    executable = Path(sys.executable).parent / "promptslim"
    env = {"PATH": os.environ["PATH"], "HOME": str(root.parent), "PROMPTSLIM_HOME": str(root.parent / "state"),
           # an endpoint and a key are there: the hook must not use them
           "OPENAI_BASE_URL": fake_url, "OPENAI_API_KEY": "sk-test-HOOK-0123456789"}
    return subprocess.run([str(executable), *args[1:]], cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_hook_is_declared_for_prompt_files_only():
    assert HOOK["id"] == "promptslim-check" and HOOK["language"] == "python" and HOOK["pass_filenames"] is False
    files = re.compile(HOOK["files"])
    assert files.search("prompts/support.j2") and files.search("evalsets/support.yaml")
    assert not files.search("README.md") and not files.search("src/prompts.py")
    assert "--no-eval" in shlex.split(HOOK["entry"])


@pytest.fixture
def repo(tmp_path):
    return init_repo(tmp_path / "repo")


def test_a_staged_template_over_its_budget_fails_without_any_call(repo, fake):
    (repo / "prompts/greet.j2").write_text(HEAD["prompts/greet.j2"])
    git(repo, "add", "prompts/greet.j2")
    done = run_hook(repo, fake.url)
    assert done.returncode == 1, done.stderr
    assert "prompts/greet.j2" in done.stdout and "max_input_tokens 40" in done.stdout
    assert fake.calls == 0
    # nothing written into the repository: only the staged change is there
    assert git(repo, "status", "--porcelain") == "M  prompts/greet.j2\n"


def test_a_staged_template_within_budget_passes(repo, fake):
    (repo / "prompts/greet.j2").write_text(GREET + "- Use the customer's name.\n")
    git(repo, "add", "prompts/greet.j2")
    done = run_hook(repo, fake.url)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "prompts/greet.j2" in done.stdout and fake.calls == 0


def test_nothing_staged_passes(repo, fake):
    done = run_hook(repo, fake.url)
    assert done.returncode == 0, done.stderr
    assert fake.calls == 0
