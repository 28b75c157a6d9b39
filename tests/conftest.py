"""Shared fixtures: every test gets its own PROMPTSLIM_HOME, no backoff sleeps, no real endpoint, one fake server."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeServer  # noqa: E402

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
