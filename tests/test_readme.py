"""README is true: every `promptslim …` command in its Commands block runs, in a copy of this repository, on the fake server."""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from promptslim.cli import app

REPO = Path(__file__).resolve().parents[1]
LABELS = ("billing", "technical", "account", "feature-request", "other")


def readme_commands() -> list[str]:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    block = text.split("## Commands", 1)[1].split("```", 2)[1]
    return [line.strip() for line in block.splitlines() if line.strip().startswith("promptslim ")]


def answer(body: dict) -> str:
    """A plausible model: labels for the classifier, short notes, support replies; GEval JSON for the judge."""
    messages = body["messages"]
    if len(messages) == 1 and "steps" in messages[0]["content"] and '"score"' not in messages[0]["content"]:
        return json.dumps({"steps": ["Check the answer against the criteria.", "Penalise invented facts."]})
    if len(messages) == 1:
        return json.dumps({"reason": "fits the criteria", "score": 8})
    system, user = messages[0]["content"], messages[-1]["content"].lower()
    if "label" in system.lower() and "categor" in system.lower():
        for label, words in (("billing", ("charge", "invoice", "refund", "price", "card")),
                             ("account", ("log in", "password", "login", "2fa", "email")),
                             ("feature-request", ("please add", "would be great", "feature", "support for")),
                             ("technical", ("error", "down", "fail", "slow", "bug"))):
            if any(w in user for w in words):
                return label
        return "other"
    if "handoff" in system.lower():
        return "Customer reports a failing deploy; support restarted the build. Next: tier-2 checks the logs."
    return "Hi! You can request a refund under Billing > Refunds within 30 days. Anything else I can help with?"


@pytest.fixture
def repo_copy(tmp_path, fake, monkeypatch):
    for name in ("prompts", "evalsets"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "promptslim.toml", tmp_path / "promptslim.toml")

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q", "-b", "main")
    git("config", "user.email", "t@example.com")
    git("config", "user.name", "t")
    git("add", "-A")
    git("commit", "-qm", "base")
    path = tmp_path / "prompts" / "support_reply.j2"
    path.write_text(path.read_text().replace("Thank you for helping our customers!\n", ""))
    git("commit", "-qam", "drop the thank-you line")
    fake.handler = answer
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_readme_lists_every_command():
    names = {cmd.split()[1] for cmd in readme_commands()}
    assert names == {"units", "count", "eval", "ablate", "runs", "tier", "check", "report", "cache"}


def test_every_readme_command_runs(repo_copy, fake):
    runner = CliRunner()
    for command in readme_commands():
        args = shlex.split(command)[1:]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, f"{command}\n{result.output}"
        assert "Traceback" not in result.output
    assert (repo_copy / "reports" / "support_reply" / "ablation.html").is_file()
    (kept,) = (repo_copy / "reports" / "support_reply" / "runs").iterdir()  # the run `runs` listed
    assert (kept / "ablation.html").read_bytes() == (repo_copy / "reports" / "support_reply" / "ablation.html").read_bytes()
    assert (repo_copy / "reports" / "index.md").read_text().count("$") > 0
    assert "support_reply" in (repo_copy / "reports" / "check.md").read_text()
    assert fake.calls > 0


def test_readme_states_the_exit_codes_the_cli_uses():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    table = text.split("## Exit codes", 1)[1]
    assert [int(code) for code in re.findall(r"^\| (\d) \|", table, re.M)] == [0, 1, 2, 3, 4]


def pricing_section() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("## What a call costs", 1)[1].split("\n## ", 1)[0]


def test_every_batch_command_in_the_pricing_section_runs(repo_copy, fake, monkeypatch):
    monkeypatch.setenv("PROMPTSLIM_BATCH_SETTLE", "0.05")
    monkeypatch.setenv("PROMPTSLIM_BATCH_POLL", "0.05")
    block = pricing_section().split("```", 2)[1]
    commands = [line.strip() for line in block.splitlines() if line.strip().startswith("promptslim ")]
    assert {cmd.split()[1] for cmd in commands} == {"eval", "ablate", "check"}
    for command in commands:
        assert "--batch" in command
        result = CliRunner().invoke(app, shlex.split(command)[1:])
        assert result.exit_code == 0, f"{command}\n{result.output}"
        assert "at the batch price (online $" in result.stderr, command
    assert fake.calls == 0  # every call went through a batch
    assert len(fake.batches) >= 3 + 2  # eval: target, steps, scores; ablate and check: at least one each


def test_the_readme_price_table_is_genai_prices(fake):
    from genai_prices import Usage, calc_price

    rows = re.findall(r"^\| (gpt-[\w.-]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|$",
                      pricing_section(), re.M)
    assert len(rows) == 2
    for model, *figures in rows:
        found = []
        for context in (None, {"processing": "batch"}):
            found += [float(calc_price(Usage(input_tokens=1000), model, price_context=context).input_price) * 1000,
                      float(calc_price(Usage(input_tokens=1000, cache_read_tokens=1000), model,
                                       price_context=context).input_price) * 1000,
                      float(calc_price(Usage(output_tokens=1000), model, price_context=context).output_price) * 1000]
        assert [float(x) for x in figures] == pytest.approx(found), model
