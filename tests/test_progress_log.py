"""Issue 24 finding 3: a 25-minute ablation whose output was not a terminal printed only its plan — a CI log saw
nothing for the whole run. Off a terminal, each phase says one line and a status line comes every
PROMPTSLIM_PROGRESS_EVERY seconds (30 by default; a fraction of a second here, so the test does not sleep)."""

from __future__ import annotations

import os
import re
import subprocess
import sys

from typer.testing import CliRunner

from promptslim.cli import app
from test_ablate import ABLATE, N, handler, make_repo

STATUS = re.compile(r"^progress: (?P<phase>.+) (?P<done>\d+)/(?P<total>\d+) cases · calls (?P<calls>\d+), cached "
                    r"(?P<cached>\d+), \$(?P<usd>[\d.]+) · (?P<elapsed>\S+( \S+)?) elapsed · "
                    r"(phase ETA \S+( \S+)?|ETA unknown until a case is done)$")


def test_an_ablation_off_a_terminal_prints_phase_and_periodic_progress_lines(tmp_path, monkeypatch, fake):
    fake.handler = handler
    fake.latency = 0.02  # 40 cases × 7 variants in a few seconds: several periods of 0.2 s
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    monkeypatch.setenv("PROMPTSLIM_PROGRESS_EVERY", "0.2")
    result = CliRunner().invoke(app, ABLATE)  # CliRunner's stderr is not a terminal, like a CI log
    assert result.exit_code == 0, result.output
    lines = [line for line in result.stderr.splitlines() if line.startswith("progress: ")]
    starts = [line.split(" — ")[0][len("progress: "):] for line in lines if " case(s) to grade · " in line]
    assert starts[:3] == ["baseline", "leave-one-out (stage 1)", "leave-one-out (stage 2)"]
    assert starts[3:] and all(name.startswith(("slim search (", "slim (")) for name in starts[3:])
    assert lines[0].startswith(f"progress: baseline — {N} case(s) to grade · calls 0, cached 0, $0.0000 · ")
    periodic = [m for m in map(STATUS.match, lines) if m]
    assert len(periodic) >= 3  # several 0.2 s periods in a run of a few seconds
    for m in periodic:
        assert int(m["done"]) <= int(m["total"]) and m["phase"] in starts
    calls = [int(m["calls"]) for m in periodic]
    assert calls == sorted(calls) and calls[-1] > 0  # spend moves forward
    end = re.match(r"^progress: finished after \S+( \S+)? · calls (\d+), cached (\d+), \$[\d.]+$", lines[-1])
    assert end and int(end[2]) == fake.calls  # every call the server saw is counted
    assert not any("━" in line for line in result.stderr.splitlines())  # no bar drawn into the log


def test_json_runs_and_terminals_get_no_progress_lines(tmp_path, monkeypatch, fake):
    fake.handler = handler
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    monkeypatch.setenv("PROMPTSLIM_PROGRESS_EVERY", "0.01")
    result = CliRunner().invoke(app, [*ABLATE, "--json"])
    assert result.exit_code == 0 and "progress:" not in result.stderr
    # on a terminal the rich bars draw instead (TTY_COMPATIBLE=1 makes rich treat the pipe as one)
    done = subprocess.run([sys.executable, "-m", "promptslim", *ABLATE], capture_output=True, text=True,
                          env={**os.environ, "TTY_COMPATIBLE": "1"}, cwd=root)
    assert done.returncode == 0, done.stderr
    assert "progress:" not in done.stderr and "baseline" in done.stderr
