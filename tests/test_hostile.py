"""The hostile corpus (tests/hostile/): SSTI payloads, resource bombs, YAML bombs and symlinks, each arriving in a
pull request. Every item must be refused by `check` with exit 2 within the render limit, before any API call,
with no secret in any output or file."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import promptslim.cli
from test_check import CONFIG, commit, repo, write  # noqa: F401 - the repo fixture is found by name

CORPUS = Path(__file__).parent / "hostile"
RENDER_TIMEOUT = 0.5
SECRET = "SECRET-0123456789"  # part of the fake fixture's OPENAI_API_KEY
CASE = {"cases": [{"id": "a", "input": "hi", "assert": [{"type": "contains", "value": "x"}]}]}


@pytest.fixture
def base(repo, fake):
    """A base whose config bounds rendering at 0.5 s; the PR under test adds prompts/evil.j2."""
    commit(repo, "render limit", {"promptslim.toml": f"render_timeout = {RENDER_TIMEOUT}\n" + CONFIG})
    return repo


def refused(root: Path, fake) -> str:
    started = time.monotonic()
    result = CliRunner().invoke(promptslim.cli.app, ["check", "--base", "HEAD"])
    elapsed = time.monotonic() - started
    assert result.exit_code == 2, result.output
    assert elapsed < RENDER_TIMEOUT + 5, elapsed  # the render bound, plus CLI start and git
    assert fake.calls == 0
    assert SECRET not in result.output
    for path in (root / "reports").rglob("*") if (root / "reports").exists() else []:
        if path.is_file():
            assert SECRET not in path.read_text(errors="replace")
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.j2")))
def test_hostile_template_is_refused(base, fake, name):
    write(base, {"prompts/evil.j2": (CORPUS / name).read_text(), "evalsets/evil.yaml": yaml.safe_dump(CASE)})
    assert refused(base, fake).startswith("error: prompts/evil.j2")


@pytest.mark.parametrize("name", sorted(p.name for p in CORPUS.glob("*.yaml")))
def test_hostile_evalset_is_refused(base, fake, name):
    write(base, {"prompts/evil.j2": "Be brief.\n", "evalsets/evil.yaml": (CORPUS / name).read_text()})
    assert refused(base, fake).startswith("error: evalsets/evil.yaml")


@pytest.mark.parametrize("target", ["/proc/self/environ", "../.git/config", "/etc/passwd", "/dev/zero"])
def test_symlinked_template_is_refused(base, fake, target):
    (base / "prompts" / "evil.j2").symlink_to(target)
    write(base, {"evalsets/evil.yaml": yaml.safe_dump(CASE)})
    assert refused(base, fake).startswith("error: prompts/evil.j2: is a symlink")


def test_symlinked_folder_is_refused(base, fake, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "evil.j2").write_text("Be brief.\n")
    (base / "prompts" / "linked").symlink_to(outside)
    write(base, {"evalsets/linked/evil.yaml": yaml.safe_dump(CASE)})
    assert refused(base, fake).startswith("error: prompts/linked: is a symlink")
