"""Issue 24 finding 4: rerunning at another margin replaced the previous run's reports. Every run now keeps its
reports under reports/<name>/runs/<run id>/, the top-level files are the latest run's, and `promptslim runs T` lists
the kept runs."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.history import run_id
from test_ablate import ABLATE, handler, make_repo

RUN_FILES = {"ablation.json", "ablation.md", "ablation.csv", "ablation.html", "slim.j2"}


def ablate_at(margin: str):
    result = CliRunner().invoke(app, [*ABLATE[:-3], "--margin", margin, "--yes"])
    assert result.exit_code == 0, result.output
    return result


def kept(root: Path) -> list[Path]:
    return sorted((root / "reports/p/runs").iterdir())


def verdicts(data: dict) -> tuple[int, int, int]:
    found = [u["verdict"] for u in data["units"]]
    return found.count("removable"), found.count("keep"), found.count("inconclusive")


def test_a_rerun_at_another_margin_keeps_both_runs_and_runs_lists_them(tmp_path, monkeypatch, fake):
    fake.handler = handler
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    first = ablate_at("0.25")
    (one,) = kept(root)
    assert {p.name for p in one.iterdir()} == RUN_FILES
    assert f"  run    reports/p/runs/{one.name}" in first.stdout.splitlines()
    second = ablate_at("0.4")
    one_again, two = kept(root)
    assert one_again == one and two.name.endswith("-m0.4") and one.name.endswith("-m0.25")
    old = json.loads((one / "ablation.json").read_text(encoding="utf-8"))
    new = json.loads((two / "ablation.json").read_text(encoding="utf-8"))
    assert (old["margin"], new["margin"]) == (0.25, 0.4)  # the first run's reports survive the second
    top = root / "reports/p"
    for name in RUN_FILES:  # the top level is the latest run's copy
        assert (top / name).read_bytes() == (two / name).read_bytes()
    assert f"  run    reports/p/runs/{two.name}" in second.stdout.splitlines()

    listed = json.loads(CliRunner().invoke(app, ["runs", "prompts/p.j2", "--json"]).stdout)
    assert listed["template"] == "prompts/p.j2" and listed["unreadable"] == []
    assert [r["id"] for r in listed["runs"]] == [two.name, one.name]  # newest first
    assert [r["latest"] for r in listed["runs"]] == [True, False]
    for entry, data in zip(listed["runs"], (new, old)):
        assert entry["margin"] == data["margin"] and entry["created_at"] == data["created_at"]
        assert (entry["removable"], entry["keep"], entry["inconclusive"]) == verdicts(data)
        assert entry["slim_removed"] == data["slim"]["removed"]
        assert entry["usd_per_month_found"] == data["slim"]["usd_per_month_saved"]
        assert entry["design"] == "flat, two-stage" and entry["stale"] is False
    table = CliRunner().invoke(app, ["runs", "prompts/p.j2"])
    assert table.exit_code == 0
    rows = [line for line in table.stdout.splitlines() if line.startswith("│ ")]
    assert rows[0].startswith(f"│ {two.name} (latest) ") and rows[1].startswith(f"│ {one.name} ")
    # the template changes: both runs are of an older text
    (root / "prompts/p.j2").write_text("Something else.\n", encoding="utf-8")
    again = json.loads(CliRunner().invoke(app, ["runs", "prompts/p.j2", "--json"]).stdout)
    assert [r["stale"] for r in again["runs"]] == [True, True]


def test_runs_of_a_template_never_ablated_says_how_to_get_one(tmp_path, monkeypatch, fake):
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    result = CliRunner().invoke(app, ["runs", "prompts/p.j2"])
    assert result.exit_code == 0
    assert result.stdout.startswith("no kept runs of prompts/p.j2 yet — `promptslim ablate prompts/p.j2`")
    assert CliRunner().invoke(app, ["runs", "prompts/missing.j2"]).exit_code == 2


def test_a_broken_run_folder_is_named_not_fatal(tmp_path, monkeypatch, fake):
    fake.handler = handler
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    ablate_at("0.25")
    broken = root / "reports/p/runs/20200101-000000-m0.1"
    broken.mkdir()
    (broken / "ablation.json").write_text("{not json", encoding="utf-8")
    # a symlink to a real ablation (outside the run folder) is not followed: reports are read as results/readback.py
    linked = root / "reports/p/runs/20200102-000000-m0.1"
    linked.mkdir()
    (linked / "ablation.json").symlink_to(root / "reports/p/ablation.json")
    result = CliRunner().invoke(app, ["runs", "prompts/p.j2", "--json"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert len(data["runs"]) == 1 and data["unreadable"] == ["reports/p/runs/20200102-000000-m0.1",
                                                             "reports/p/runs/20200101-000000-m0.1"]


def test_two_runs_in_one_second_get_their_own_folders(tmp_path):
    assert run_id("2026-12-07T14:45:12+00:00", 0.1, tmp_path) == "20261207-144512-m0.1"
    (tmp_path / "20261207-144512-m0.1").mkdir()
    assert run_id("2026-12-07T14:45:12+00:00", 0.1, tmp_path) == "20261207-144512-m0.1-2"
    assert run_id("2026-12-07T14:45:12+00:00", 0.05, tmp_path) == "20261207-144512-m0.05"
