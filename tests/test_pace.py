"""Issue 24 finding 3: time in every plan, from the latency earlier runs measured on the same endpoint and model
(kept in the ledger), "unknown" rather than 0 when nothing was timed; and the "what would settle it" hint of a
cached rerun priced at that pace, not at "~$0.00, ~0 min at this run's rates"."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.numfmt import duration
from test_ablate import ABLATE, CASES, handler, load, make_repo

TEMPLATE = "You answer.\n- Be brief.\n"
EVALSET = "cases:\n" + "".join(f"  - {{id: c{i}, input: 'q{i}', assert: [{{type: contains, value: ok}}]}}\n"
                               for i in range(6))
CONFIG = '[prices."fake-model"]\ninput = 1.0\noutput = 2.0\n'
EVAL = ["eval", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none"]


def plan_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("plan: "))


def ledger(home: Path) -> list[tuple]:
    db = sqlite3.connect(home / "cache.sqlite")
    rows = db.execute("SELECT endpoint, model, latency, in_flight, cache_hit FROM calls ORDER BY id").fetchall()
    db.close()
    return rows


def test_the_plan_says_unknown_then_the_time_earlier_runs_measured(fake, make_repo, _isolated_env):
    make_repo({"prompts/p.j2": TEMPLATE, "evalsets/p.yaml": EVALSET, "promptslim.toml": CONFIG})
    fake.handler = lambda body: "ok"
    fake.latency = 0.05
    first = CliRunner().invoke(app, EVAL)
    assert first.exit_code == 0, first.output
    assert plan_line(first.stderr).endswith("; time unknown (no earlier timed call to this endpoint and model)")
    rows = ledger(_isolated_env)
    timed = [r for r in rows if r[4] == 0]
    assert len(timed) == 6 and all(r[0] == fake.url and r[1] == "fake-model" for r in timed)
    assert all(r[2] >= 0.05 and 1 <= r[3] <= 8 for r in timed)  # seconds, and the calls in flight beside it

    cached = CliRunner().invoke(app, EVAL)
    assert plan_line(cached.stderr).endswith("; no call to make (every answer is cached)")

    again = CliRunner().invoke(app, [*EVAL, "--no-cache"])
    pace = sum(latency / in_flight for _, _, latency, in_flight, hit in timed) / len(timed)
    assert plan_line(again.stderr).endswith(f"; ~{duration(6 * pace)} at the pace of earlier runs on this endpoint")


def test_a_cached_rerun_prices_what_would_settle_it_at_the_ledgers_pace(tmp_path, monkeypatch, fake):
    fake.handler = handler
    root = make_repo(tmp_path / "repo", cases=CASES[:5])
    monkeypatch.chdir(root)
    args = [*ABLATE[:-3], "--margin", "0.01", "--yes"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    hint = load(root)["inconclusive_hint"]
    calls = int(re.search(r"~([\d,]+) calls, ", hint).group(1).replace(",", ""))
    money = float(re.search(r"calls, ~\$([\d.]+), ", hint).group(1))
    assert calls > 0 and money > 0  # fake-model costs $2/$8 per million tokens
    assert "time unknown" not in hint
    rerun = CliRunner().invoke(app, args)
    assert rerun.exit_code == 0 and json.loads((root / "reports/p/ablation.json").read_text())["run"]["calls"] == 0
    assert load(root)["inconclusive_hint"] == hint  # no new call: the same pace, never "~$0.00, ~0 min"
