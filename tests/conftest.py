"""Shared fixtures: every test gets its own PROMPTSLIM_HOME, no backoff sleeps, no real endpoint, one fake server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeServer  # noqa: E402
from repofiles import write_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_env(tmp_path_factory, monkeypatch):
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("PROMPTSLIM_HOME", str(home))
    monkeypatch.setenv("PROMPTSLIM_RETRY_BASE", "0")
    monkeypatch.setenv("MPLCONFIGDIR", str(home / "mpl"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GITHUB_STEP_SUMMARY"):
        monkeypatch.delenv(name, raising=False)
    yield home


@pytest.fixture(scope="session")
def fake_server():
    with FakeServer() as server:
        yield server


@pytest.fixture
def fake(fake_server, monkeypatch):
    """The session's fake server, reset, with the SDK's environment pointing at it."""
    fake_server.reset()
    monkeypatch.setenv("OPENAI_BASE_URL", fake_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-0123456789")
    yield fake_server
    fake_server.reset()


@pytest.fixture
def make_repo(tmp_path, monkeypatch):
    """make_repo({"prompts/x.j2": ..., "evalsets/x.yaml": ...}): write the files, cd into the repo, return its root."""

    def make(files: dict[str, str | None], root: Path | None = None) -> Path:
        root = tmp_path if root is None else root
        root.mkdir(parents=True, exist_ok=True)
        write_files(root, files)
        monkeypatch.chdir(root)
        return root

    return make
