"""`check --junit FILE`: JUnit XML for CI test views — one test case per changed template, a failure where a gate
failed; `--md FILE` writes the markdown there instead of reports/check.md."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest
from typer.testing import CliRunner

from ci_repo import HEAD, commit, init_repo
from promptslim.cli import app


@pytest.fixture
def pr(tmp_path, monkeypatch):
    root = init_repo(tmp_path / "repo")
    commit(root, "the pull request", HEAD)
    monkeypatch.chdir(root)
    return root


def test_junit_has_one_case_per_template_and_fails_the_budget_breach(pr, tmp_path):
    out = tmp_path / "ci" / "check.xml"
    md = tmp_path / "ci" / "check.md"
    result = CliRunner().invoke(app, ["check", "--base", "HEAD~1", "--no-eval", "--junit", str(out), "--md", str(md)])
    assert result.exit_code == 1, result.output
    root = ET.parse(out).getroot()
    assert root.tag == "testsuites" and root.get("tests") == "2" and root.get("failures") == "1"
    (suite,) = root.findall("testsuite")
    assert suite.get("name") == "promptslim check" and suite.get("tests") == "2" and suite.get("failures") == "1"
    props = {p.get("name"): p.get("value") for p in suite.find("properties")}
    assert props["base"] == "HEAD~1" and props["no_eval"] == "true"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"prompts/greet.j2", "prompts/label.j2"}
    failure = cases["prompts/greet.j2"].find("failure")
    assert failure is not None and "max_input_tokens 40" in failure.get("message")
    assert failure.get("type") == "gate" and "input tokens/call" in failure.text
    assert cases["prompts/label.j2"].find("failure") is None
    assert md.read_text().startswith(result.stdout.split("\n", 1)[0])  # the markdown went to --md …
    assert not (pr / "reports" / "check.md").exists()  # … and not into the checkout


def test_hostile_names_cannot_break_the_xml(pr, tmp_path):
    name = 'prompts/a<b>&"c]]>\x1b.j2'
    commit(pr, "hostile name", {name: "Hello.\n"})
    out = tmp_path / "check.xml"
    result = CliRunner().invoke(app, ["check", "--base", "HEAD~1", "--no-eval", "--allow-missing-evalset",
                                      "--junit", str(out)])
    assert result.exit_code == 0, result.output
    (case,) = ET.parse(out).getroot().iter("testcase")
    assert case.get("name") == name.replace("\x1b", "\ufffd")


def test_without_md_the_report_is_reports_check_md(pr):
    result = CliRunner().invoke(app, ["check", "--base", "HEAD~1", "--no-eval"])
    assert result.exit_code == 1
    assert (pr / "reports" / "check.md").read_text().strip() == result.stdout.strip()
