"""Issue 25, a lying endpoint: usage that is negative, NaN or 10^400, a body dripped a byte at a time, a 100 MB
answer, a million choices, a batch left running past its expiry. Each is a provider error — exit 4, one line,
nothing cached — and the budget can only be reached sooner, never later. The real SDK talks to tests/hostileserver.py
(or the fake server's Batch API) over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fakeserver import Reply
from hostileserver import Answer, HostileServer, completion, usage
from promptslim.cli import app

CORPUS = Path(__file__).parent / "hostile"
LIES = [line.split(" ", 1) for line in (CORPUS / "usage_lies.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")]
CONFIG = ('model = "pricey"\njudge_model = "none"\nconcurrency = 1\nmax_cost_usd = 0.01\ntimeout = 1\n'
          'max_retries = 1\nmax_tokens = 512\n[prices."pricey"]\ninput = 1000.0\noutput = 1000.0\n')
CASES = [{"id": f"c{i}", "input": f"question {i}", "assert": [{"type": "contains", "value": "ok"}]} for i in range(5)]


@pytest.fixture
def project(make_repo, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-SECRET-0123456789")
    monkeypatch.setenv("PROMPTSLIM_BATCH_SETTLE", "0.05")
    monkeypatch.setenv("PROMPTSLIM_BATCH_POLL", "0.05")
    return make_repo({"promptslim.toml": CONFIG, "prompts/p.j2": "Be brief.\n",
                      "evalsets/p.yaml": yaml.safe_dump({"cases": CASES})})


@pytest.fixture
def hostile(monkeypatch):
    with HostileServer() as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        yield server


def run(*args: str):
    started = time.monotonic()
    result = CliRunner().invoke(app, ["eval", "prompts/p.j2", "--yes", "--json", *args])
    result.seconds = time.monotonic() - started
    return result


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip() and not line.startswith("plan:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def cached(home: Path) -> int:
    path = Path(home) / "cache.sqlite"
    if not path.exists():
        return 0
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
    finally:
        db.close()


# ---------------------------------------------------------------- 5 and 7. usage is checked before it is believed
@pytest.mark.parametrize("field, value", LIES, ids=[f"{f}={v[:12]}" for f, v in LIES])
def test_impossible_usage_is_a_provider_error(project, hostile, _isolated_env, field, value):
    hostile.respond = lambda request: Answer(completion(usage=usage(**{field: value})))
    result = run()
    assert result.exit_code == 4, result.output
    line = one_line(result)
    assert "impossible usage" in line and f"usage.{field}" in line and hostile.url in line
    assert hostile.chat_calls() == 1  # stopped at the first: never counted at its word, never retried
    assert cached(_isolated_env) == 0
    assert "SECRET" not in result.output


def test_negative_tokens_cannot_run_past_the_budget(project, fake, _isolated_env):
    # the probe: five $0.60 calls past a $0.01 budget, reported as "$-597.00"
    fake.handler = lambda body: Reply("ok", completion_tokens=-10**9)
    result = run()
    assert result.exit_code == 4, result.output
    assert fake.calls == 1 and cached(_isolated_env) == 0
    assert "$-" not in result.output and "−$" not in result.output


def test_a_batch_line_with_impossible_usage_is_a_provider_error(project, fake, _isolated_env):
    fake.handler = lambda body: Reply("ok", prompt_tokens=10**400)
    result = run("--batch")
    assert result.exit_code == 4, result.output
    assert "impossible usage" in one_line(result) and "usage.prompt_tokens" in one_line(result)
    assert cached(_isolated_env) == 0


# ---------------------------------------------------------------- 6. a total deadline and a byte cap per answer
def test_a_dripped_body_is_cut_at_the_total_deadline(project, hostile, _isolated_env):
    # one byte every 0.3 s: each read is well inside the 1 s timeout, the whole body would take a minute
    hostile.respond = lambda request: Answer(completion(), drip=0.3)
    result = run()
    assert result.exit_code == 4, result.output
    assert result.seconds < 15, result.seconds  # two attempts of 1 s each, plus start-up
    assert "timed out" in one_line(result).lower()
    assert cached(_isolated_env) == 0


def _megabytes(n: int):
    for _ in range(n):
        yield b" " * (1 << 20)


@pytest.mark.parametrize("announced", [True, False], ids=["content-length", "until-close"])
def test_a_100_mb_answer_is_refused_while_it_is_read(project, hostile, _isolated_env, announced):
    hostile.respond = lambda request: Answer(_megabytes(100), length=100 << 20 if announced else None)
    result = run()
    assert result.exit_code == 4, result.output
    assert "-byte limit" in one_line(result) or "bytes" in one_line(result)
    assert result.seconds < 30
    assert cached(_isolated_env) == 0


def test_a_million_choices_are_refused(project, hostile, _isolated_env):
    choice = json.dumps({"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"})

    def body():
        head = completion(choices="[" + choice + "]")
        before, after = head.split(choice.encode(), 1)
        yield before + choice.encode()
        for _ in range(1000):
            yield ("," + choice) .encode() * 1000
        yield after

    hostile.respond = lambda request: Answer(body())
    result = run()
    assert result.exit_code == 4, result.output
    assert "bytes" in one_line(result)
    assert cached(_isolated_env) == 0


def test_more_choices_than_asked_for_are_refused(project, hostile, _isolated_env):
    choice = json.dumps({"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"})
    hostile.respond = lambda request: Answer(completion(choices="[" + ",".join([choice] * 100) + "]"))
    result = run()
    assert result.exit_code == 4, result.output
    assert "100 choices" in one_line(result)
    assert cached(_isolated_env) == 0


def test_a_compressed_answer_that_was_not_asked_for_is_refused(project, hostile, _isolated_env):
    import gzip

    bomb = gzip.compress(b" " * (50 << 20))  # 50 KB on the wire, 50 MB once inflated
    hostile.respond = lambda request: Answer(bomb, headers={"Content-Encoding": "gzip"})
    result = run()
    assert result.exit_code == 4, result.output
    assert "gzip-encoded" in one_line(result)
    # besides the served-model lookup (issue 24, read under the same bounds: test_served_model.py), only answers
    assert all(r.path.endswith("/chat/completions") for r in hostile.requests if r.method == "POST")
    assert [r.path for r in hostile.requests if r.method != "POST"] == ["/v1/models"]


def test_an_honest_answer_passes_every_bound(project, hostile, _isolated_env):
    hostile.respond = lambda request: Answer(completion("ok, done"))
    result = run("--max-cost", "10")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["passes"] == 5
    assert cached(_isolated_env) == 5


# ---------------------------------------------------------------- 6. a batch past its expiry is given up
def test_a_batch_left_in_progress_past_its_expiry_is_given_up(project, hostile, _isolated_env):
    now = int(time.time())
    batch = {"id": "batch_stuck", "object": "batch", "endpoint": "/v1/chat/completions", "input_file_id": "file-in",
             "completion_window": "24h", "status": "in_progress", "created_at": now - 52 * 3600,
             "expires_at": now - 28 * 3600, "request_counts": {"total": 5, "completed": 0, "failed": 0}}

    def respond(request):
        if request.path == "/v1/files":
            return Answer(json.dumps({"id": "file-in", "object": "file", "bytes": 1, "created_at": now,
                                      "filename": "x.jsonl", "purpose": "batch", "status": "processed"}).encode())
        return Answer(json.dumps(batch).encode())

    hostile.respond = respond
    result = run("--batch")
    assert result.exit_code == 4, result.output
    line = one_line(result)
    assert "batch_stuck is still in_progress" in line and "past its expiry" in line
    assert result.seconds < 15
    polls = [r for r in hostile.requests if r.path == "/v1/batches/batch_stuck"]
    assert len(polls) == 1
    db = sqlite3.connect(Path(_isolated_env) / "cache.sqlite")
    assert db.execute("SELECT status FROM batches").fetchall() == [("abandoned",)]


# ---------------------------------------------------------------- 7. a judge's numbers are provider data too
@pytest.mark.parametrize("score", ["1" + "0" * 400, "NaN", "1e400", "-1e308", '"ten"'])
def test_a_judge_score_that_is_no_number_is_a_judge_error_not_a_crash(make_repo, fake, score):
    from test_eval import CONFIG as JUDGED, TEMPLATE, evalset, make_handler

    make_repo({"promptslim.toml": JUDGED, "prompts/x.j2": TEMPLATE, "evalsets/x.yaml": evalset()})
    fake.handler = make_handler(score=lambda output: '{"reason": "x", "score": ' + score + "}")
    result = CliRunner().invoke(app, ["eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "fake-judge",
                                      "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)["summary"]
    assert summary["judge_errors"] == 5 and summary["graded"] == 0


def test_a_priced_answer_without_usage_cannot_slip_past_the_budget(project, hostile, _isolated_env):
    hostile.respond = lambda request: Answer(completion(usage="null"))
    result = run()
    assert result.exit_code == 4, result.output
    assert "sent no usage for model 'pricey', which is priced" in one_line(result)
    assert hostile.chat_calls() == 1 and cached(_isolated_env) == 0


def test_a_free_model_without_usage_still_runs(project, hostile, _isolated_env):
    Path("promptslim.toml").write_text(CONFIG.replace("input = 1000.0\noutput = 1000.0", "input = 0.0\noutput = 0.0"))
    hostile.respond = lambda request: Answer(completion(usage="null"))
    result = run()
    assert result.exit_code == 0, result.output
