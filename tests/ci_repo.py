"""A small repository with a base commit and a pull request's change: what CI runs `check` in (the Action, the
pre-commit hook, --junit). Two templates with budgets in the base config; the head changes both."""

from __future__ import annotations

import subprocess
from pathlib import Path

from repofiles import write_files

CONFIG = """model = "gpt-4o-mini"
judge_model = "none"
[prompts."greet"]
calls_per_month = 100_000
max_input_tokens = 40
[prompts."label"]
calls_per_month = 100_000
max_input_tokens = 400
"""
GREET = "You greet customers of ACME.\n- Be brief.\n"
LABEL = "Label the ticket as billing or other.\n- Answer with the label only.\n"
EVALSET = "cases:\n  - id: one\n    input: Hello there\n    assert:\n      - {type: contains, value: Hi}\n"
BASE = {"promptslim.toml": CONFIG, "prompts/greet.j2": GREET, "prompts/label.j2": LABEL,
        "evalsets/greet.yaml": EVALSET, "evalsets/label.yaml": EVALSET}
# the head blows greet's 40-token budget and trims label
HEAD = {"prompts/greet.j2": GREET + "- " + " ".join(["Always be extremely courteous and thorough."] * 8) + "\n",
        "prompts/label.j2": "Label the ticket as billing or other.\n"}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def init_repo(root: Path, files: dict[str, str | None] | None = None) -> Path:
    """A git repository on main whose first commit ("base") holds `files` (default BASE)."""
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    for key, value in (("user.name", "Test"), ("user.email", "test@example.com"), ("commit.gpgsign", "false")):
        git(root, "config", key, value)
    commit(root, "base", BASE if files is None else files)
    return root


def commit(root: Path, message: str, files: dict[str, str | None]) -> str:
    write_files(root, files)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message)
    return git(root, "rev-parse", "HEAD").strip()
