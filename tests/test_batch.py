"""`--batch` end to end: the real openai SDK uploads, creates, polls and downloads Batch API jobs on the fake server.

The ablation is test_ablate's planted truth; the eval with an LLM judge is test_eval's. Every figure the batch run
reports is compared with the same run made online, and every dollar recomputed from the requests the server saw.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.llm.batch import batch_price, custom_id
from promptslim.llm.base import Params, cache_key
from promptslim.cost.prices import Price, price_for

import test_ablate as planted
import test_eval as judged

REPO_ROOT = Path(__file__).resolve().parents[1]
BATCH = [*planted.ABLATE, "--batch"]
# baseline; leave-one-out stage 1; stage 2; the slim search's prompts on its quarter of the cases and the
# verification ladder's on the rest (test_ablate.SEARCH_RUNS, VERIFY_RUNS)
PHASES = 3 + planted.SEARCH_RUNS + planted.VERIFY_RUNS


@pytest.fixture(autouse=True)
def _fast_batches(monkeypatch):
    monkeypatch.setenv("PROMPTSLIM_BATCH_SETTLE", "0.05")
    monkeypatch.setenv("PROMPTSLIM_BATCH_POLL", "0.05")


def ledger(home: Path) -> list[tuple]:
    db = sqlite3.connect(home / "cache.sqlite")
    try:
        return db.execute("SELECT role, prompt_tokens, completion_tokens, usd, cache_hit FROM calls").fetchall()
    finally:
        db.close()


def batch_rows(home: Path) -> list[tuple]:
    db = sqlite3.connect(home / "cache.sqlite")
    try:
        return db.execute("SELECT batch_id, role, requests, status FROM batches ORDER BY created").fetchall()
    finally:
        db.close()


def lines(fake) -> list[dict]:
    return [body for batch in fake.batches for body in batch["lines"]]


def without_run(data: dict) -> dict:
    """ablation.json minus what differs by construction: the run's own spend, timing and concurrency, and when it ran."""
    return {k: v for k, v in data.items() if k not in ("run", "created_at")}


# -- the ablation: same verdicts and figures, half the spend --------------------------------------------------------


@pytest.fixture(scope="module")
def both(fake_server, tmp_path_factory):
    """The planted ablation online and with --batch, each in its own repo and state folder."""
    out = {}
    for mode, args in (("online", planted.ABLATE), ("batch", BATCH)):
        root = planted.make_repo(tmp_path_factory.mktemp(f"{mode}-repo"))
        home = tmp_path_factory.mktemp(f"{mode}-home")
        with pytest.MonkeyPatch.context() as mp:
            for key, value in {"PROMPTSLIM_HOME": str(home), "PROMPTSLIM_RETRY_BASE": "0",
                               "PROMPTSLIM_BATCH_SETTLE": "0.05", "PROMPTSLIM_BATCH_POLL": "0.05",
                               "MPLCONFIGDIR": str(home / "mpl"), "OPENAI_BASE_URL": fake_server.url,
                               "OPENAI_API_KEY": "sk-test-SECRET-0123456789"}.items():
                mp.setenv(key, value)
            mp.delenv("GITHUB_STEP_SUMMARY", raising=False)
            mp.chdir(root)
            fake_server.reset()
            fake_server.handler = planted.handler
            result = CliRunner().invoke(app, args)
            assert result.exit_code == 0, result.output
            first = {"result": result, "data": planted.load(root), "home": home, "root": root,
                     "chat": list(fake_server.requests), "batches": list(fake_server.batches),
                     "lines": lines(fake_server)}
            rerun = CliRunner().invoke(app, args)
            assert rerun.exit_code == 0, rerun.output
            first["rerun_batches"] = len(fake_server.batches) - len(first["batches"])
            first["rerun_chat"] = len(fake_server.requests) - len(first["chat"])
            first["rerun_data"] = planted.load(root)
            fake_server.reset()
        out[mode] = first
    return out


def test_a_batch_ablation_equals_the_online_one(both):
    online, batch = both["online"]["data"], both["batch"]["data"]
    assert without_run(batch) == without_run(online)
    for key in ("calls", "cache_hits", "answers", "truncated"):
        assert batch["run"][key] == online["run"][key], key


def test_a_batch_ablation_makes_no_online_call_and_one_batch_per_phase(both):
    batch = both["batch"]
    assert batch["chat"] == []
    assert len(batch["batches"]) == PHASES
    assert len(batch["lines"]) == len(both["online"]["chat"]) == planted.FULL_RUN_CALLS
    # the batched requests are the online ones, line for line
    canon = sorted(json.dumps(b, sort_keys=True) for b in batch["lines"])
    assert canon == sorted(json.dumps(b, sort_keys=True) for b in both["online"]["chat"])
    assert batch["data"]["run"]["batch"]["submitted"] == [b["object"]["id"] for b in batch["batches"]]
    assert batch["data"]["run"]["batch"]["resumed"] == []


def test_a_batch_ablation_costs_half_in_the_ledger(both):
    online = sum(row[3] for row in ledger(both["online"]["home"]))
    batch = sum(row[3] for row in ledger(both["batch"]["home"]))
    # recomputed from what the server answered, at half the config's list price (fake-model has no batch price)
    expected = planted.fake_usage_usd(both["batch"]["lines"]) * 0.5
    assert batch == pytest.approx(expected, rel=1e-9)
    assert batch == pytest.approx(online * 0.5, rel=1e-9)
    assert both["batch"]["data"]["run"]["usd"] == pytest.approx(expected, rel=1e-9)
    price = both["batch"]["data"]["run"]["batch"]["price"]["target"]
    assert "batch at 50% of list" in price["source"]


def test_the_plan_shows_the_batch_saving(both):
    online = re.search(r"estimated \$(\d+\.\d+) of", both["online"]["result"].stderr).group(1)
    saving = re.search(r"estimated \$(\d+\.\d+) at the batch price \(online \$(\d+\.\d+); --batch saves "
                       r"\$(\d+\.\d+)\)", both["batch"]["result"].stderr)
    assert saving, both["batch"]["result"].stderr
    billed, listed, saved = map(float, saving.groups())
    assert listed == float(online)
    assert billed == pytest.approx(listed / 2, abs=1e-4) and saved == pytest.approx(listed / 2, abs=1e-4)


def test_the_progress_shows_each_batch(both):
    stderr = both["batch"]["result"].stderr
    assert stderr.count("batch target") >= PHASES
    assert "completed" in stderr


def test_a_batch_rerun_is_free(both):
    batch = both["batch"]
    assert batch["rerun_batches"] == 0 and batch["rerun_chat"] == 0
    assert batch["rerun_data"]["run"]["calls"] == 0
    first, rerun = batch["data"], batch["rerun_data"]
    assert [u["verdict"] for u in rerun["units"]] == [u["verdict"] for u in first["units"]]
    assert rerun["slim"]["removed"] == first["slim"]["removed"]
    assert rerun["baseline"]["score"] == first["baseline"]["score"]
    assert [row[3] for row in batch_rows(batch["home"])] == ["completed"] * PHASES


# -- resume: a run killed while it polls finds its batch again -----------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_run_killed_mid_batch_resumes_without_resubmitting(tmp_path, monkeypatch, fake, sig):
    fake.handler = planted.handler
    root = planted.make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    proc = start_and_kill_mid_batch(fake, root, sig)  # the provider then finishes it while nobody is watching
    if sig == signal.SIGINT:
        stderr = proc.stderr.read().decode()
        assert proc.returncode == 130 and "rerun the same command to resume" in stderr, stderr
        assert "Traceback" not in stderr
    else:
        assert proc.returncode == -signal.SIGKILL
    home = Path(os.environ["PROMPTSLIM_HOME"])
    [(batch_id, role, requests, status)] = batch_rows(home)
    assert (batch_id, role, requests, status) == (fake.batches[0]["object"]["id"], "target", planted.N, "submitted")
    result = CliRunner().invoke(app, ["eval", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none",
                                      "--batch", "--json"])
    assert result.exit_code == 0, result.output
    assert len(fake.batches) == 1 and fake.calls == 0  # the same batch, nothing asked twice
    data = json.loads(result.stdout)
    assert data["run"]["batch"] == {"submitted": [], "resumed": [batch_id], "price": data["run"]["batch"]["price"]}
    assert data["run"]["calls"] == planted.N
    assert data["summary"]["pass_rate"] == 1.0
    assert batch_rows(home)[0][3] == "completed"


# -- failures ---------------------------------------------------------------------------------------------------------


def eval_batch(*extra: str):
    return CliRunner().invoke(app, ["eval", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none",
                                    "--batch", "--json", *extra])


@pytest.fixture
def small(tmp_path, monkeypatch, fake):
    fake.handler = planted.handler
    root = planted.make_repo(tmp_path / "repo", cases=planted.CASES[:6])
    monkeypatch.chdir(root)
    return root


def test_partial_failures_are_retried_in_a_follow_up_batch(small, fake):
    failed_log: list[str] = []

    def fail_twice_then_answer(body: dict) -> str | None:
        user = body["messages"][-1]["content"]
        if user.startswith(("Question 2:", "Question 5:")) and failed_log.count(user) < 2:
            failed_log.append(user)
            return "500" if user.startswith("Question 2:") else "429"
        return None

    fake.batch_line_fault = fail_twice_then_answer
    result = eval_batch()
    assert result.exit_code == 0, result.output
    assert [len(b["lines"]) for b in fake.batches] == [6, 2, 2]  # two follow-ups, only the failed lines
    assert {b["messages"][-1]["content"] for b in fake.batches[1]["lines"]} == set(failed_log)
    data = json.loads(result.stdout)
    assert data["summary"]["pass_rate"] == 1.0 and data["run"]["calls"] == 6


def test_a_line_that_keeps_failing_ends_the_run_with_exit_4_and_keeps_the_rest(small, fake):
    fake.batch_line_fault = lambda body: "500" if body["messages"][-1]["content"].startswith("Question 3:") else None
    result = eval_batch()
    assert result.exit_code == 4, result.output
    assert [len(b["lines"]) for b in fake.batches] == [6, 1, 1]  # bounded: two follow-up batches
    message = result.stderr.strip().splitlines()[-1]
    assert "still failed after 2 follow-up batches" in message and "500" in message
    assert "sk-test" not in result.output
    fake.batch_line_fault = None
    again = eval_batch()
    assert again.exit_code == 0, again.output
    assert len(fake.batches[3]["lines"]) == 1  # the five answered ones came from the cache


def test_a_rejected_line_is_not_retried(small, fake):
    fake.batch_line_fault = lambda body: "400" if body["messages"][-1]["content"].startswith("Question 3:") else None
    result = eval_batch()
    assert result.exit_code == 4, result.output
    assert len(fake.batches) == 1
    assert "rejected a batched request for model 'fake-model' (400: Invalid request (fake 400).)" in result.stderr


@pytest.mark.parametrize("outcome", ["expired", "cancelled"])
def test_an_ended_batch_is_reported_in_one_line_and_its_answers_kept(small, fake, outcome):
    fake.batch_outcome = outcome
    fake.batch_expire_after = 4
    result = eval_batch()
    assert result.exit_code == 4, result.output
    lines_out = [line for line in result.stderr.splitlines() if line.strip()]
    batch_id = fake.batches[0]["object"]["id"]
    assert lines_out[-1] == (f"batch {batch_id} {outcome}: 4 of 6 requests answered and cached, 2 not — rerun the "
                             "same command to submit them again")
    fake.batch_outcome = "completed"
    again = eval_batch()
    assert again.exit_code == 0, again.output
    assert len(fake.batches) == 2 and len(fake.batches[1]["lines"]) == 2
    assert json.loads(again.stdout)["run"]["cache_hits"] == 4


def test_a_failed_batch_names_the_providers_reason(small, fake):
    fake.batch_outcome = "failed"
    result = eval_batch()
    assert result.exit_code == 4, result.output
    assert "failed (invalid_request: fake: the input file was rejected): 0 of 6 requests answered" in result.stderr


def test_an_endpoint_without_a_batch_api_exits_2_in_one_line(small, fake):
    fake.batch_api = False  # vLLM, Ollama, llama.cpp: 404 on /v1/files
    result = eval_batch()
    assert result.exit_code == 2, result.output
    assert result.stderr.strip().splitlines()[-1] == (
        f"error: {fake.url} has no Batch API (POST /v1/files answered 404) — --batch needs OpenAI's /v1/files and "
        "/v1/batches; run without --batch")
    assert fake.calls == 0


@pytest.mark.parametrize("model, judge, flag", [("local", "none", "--model"), ("fake-model", "local", "--judge-model")])
def test_the_embedded_model_has_no_batch_api(tmp_path, monkeypatch, fake, model, judge, flag):
    judged.write(tmp_path, {"promptslim.toml": judged.CONFIG, "prompts/x.j2": judged.TEMPLATE,
                            "evalsets/x.yaml": judged.evalset()})
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["eval", "prompts/x.j2", "--model", model, "--judge-model", judge, "--batch"])
    assert result.exit_code == 2, result.output
    assert result.stderr.strip() == (f"error: --batch: the embedded local model ({flag} local) has no Batch API — "
                                     f"run without --batch, or pass {flag} with an API model")
    assert fake.calls == 0


# -- an eval with an LLM judge: target calls, then the judge's steps, then its scores ------------------------------


def test_a_judged_eval_batches_target_and_judge_calls_and_equals_online(tmp_path, monkeypatch, fake):
    fake.handler = judged.make_handler()
    judged.write(tmp_path, {"promptslim.toml": judged.CONFIG, "prompts/x.j2": judged.TEMPLATE,
                            "evalsets/x.yaml": judged.evalset()})
    monkeypatch.chdir(tmp_path)
    online = judged.eval_json()
    assert fake.calls == 5 + 1 + 5
    monkeypatch.setenv("PROMPTSLIM_HOME", str(tmp_path / "batch-home"))  # nothing cached, no stored steps
    result = judged.run_eval("--json", "--batch")
    assert result.exit_code == 0, result.output
    batch = json.loads(result.stdout)
    assert fake.calls == 11  # no online call
    kinds = [[judged.kind_of(b) for b in batch_["lines"]] for batch_ in fake.batches]
    assert kinds == [["target"] * 5, ["steps"], ["score"] * 5]
    assert judged.scores(batch) == judged.scores(online)
    assert batch["summary"] == online["summary"]
    expected = sum(judged.usage_usd(b, fake.handler(b)) for b in lines(fake)) * 0.5
    assert batch["run"]["usd"] == pytest.approx(expected, rel=1e-9)
    assert batch["run"]["usd"] == pytest.approx(online["run"]["usd"] * 0.5, rel=1e-9)


# -- prices and ids ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model, expected", [("gpt-4o-mini", (0.075, 0.075, 0.30)),
                                             ("gpt-4.1-nano", (0.05, 0.025, 0.20))])
def test_the_batch_price_comes_from_genai_prices(model, expected):
    from genai_prices import Usage, calc_price

    price = batch_price(price_for(model))
    # genai-prices' own answer for a batched request, per million tokens: input, cached input, output
    batch = {"processing": "batch"}
    recomputed = (float(calc_price(Usage(input_tokens=10**6), model, price_context=batch).input_price),
                  float(calc_price(Usage(input_tokens=10**6, cache_read_tokens=10**6), model,
                                   price_context=batch).input_price),
                  float(calc_price(Usage(output_tokens=10**6), model, price_context=batch).output_price))
    assert (price.input, price.cached_input, price.output) == pytest.approx(recomputed)
    assert recomputed == pytest.approx(expected)  # the figures the README quotes
    assert price.source.endswith(", batch price")


def test_a_config_price_may_set_the_batch_price(tmp_path):
    from promptslim.config import load_config

    (tmp_path / "promptslim.toml").write_text('[prices."ft"]\ninput = 1.0\noutput = 4.0\nbatch_input = 0.6\n'
                                              'batch_output = 2.2\n', encoding="utf-8")
    price = batch_price(price_for("ft", load_config(tmp_path)))
    assert (price.input, price.output) == (0.6, 2.2)


def test_without_a_batch_price_it_is_half_the_list_price_and_says_so():
    listed = Price("m", 2.0, 1.0, 8.0, "config", kind="config")
    price = batch_price(listed)
    assert (price.input, price.cached_input, price.output) == (1.0, 0.5, 4.0)
    assert "batch at 50% of list (no batch price known for m)" in price.source
    assert price.cost(1000, 100) == pytest.approx(listed.cost(1000, 100) / 2)


def test_custom_ids_are_the_cache_key():
    messages = [{"role": "user", "content": "hi"}]
    key = cache_key("http://x/v1", messages, Params("m"))
    assert custom_id(key) == "ps-" + key.removeprefix("v1:")
    assert custom_id(cache_key("http://x/v1", messages, Params("m", sample=1))) != custom_id(key)



def start_and_kill_mid_batch(fake, root: Path, sig: int = signal.SIGKILL) -> subprocess.Popen:
    """Run `eval --batch` in a subprocess and kill it (or interrupt it) while it polls an unfinished batch."""
    fake.batch_delay = 60.0
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "PROMPTSLIM_INTERRUPT_GRACE": "0.2"}
    args = [sys.executable, "-m", "promptslim", "eval", "prompts/p.j2", "--model", "fake-model", "--judge-model",
            "none", "--batch", "--json"]
    proc = subprocess.Popen(args, env=env, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while fake.batch_polls < 2 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert fake.batch_polls >= 2 and len(fake.batches) == 1, proc.stderr.read().decode() if proc.poll() else ""
    finally:
        proc.send_signal(sig)
        proc.wait(timeout=30)
    fake.batch_delay = 0.0
    return proc


def test_a_recorded_batch_the_provider_forgot_is_submitted_again(small, fake):
    start_and_kill_mid_batch(fake, small)
    forgotten = fake.batches.pop()["object"]["id"]  # deleted at the provider, or past its retention
    result = eval_batch()
    assert result.exit_code == 0, result.output
    assert len(fake.batches) == 1 and len(fake.batches[0]["lines"]) == 6
    home = Path(os.environ["PROMPTSLIM_HOME"])
    assert [(row[0], row[3]) for row in batch_rows(home)] == [(forgotten, "gone"),
                                                              (fake.batches[0]["object"]["id"], "completed")]


def test_the_eval_table_names_the_batches_and_the_batch_price(small, fake):
    result = CliRunner().invoke(app, ["eval", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none",
                                      "--batch"])
    assert result.exit_code == 0, result.output
    facts = [line.strip() for line in result.stdout.splitlines()]
    assert ("Batch API: 1 batch(es) submitted, 0 resumed from an earlier run; this run's calls billed at the batch "
            "price (target at promptslim.toml [prices.\"fake-model\"], batch at 50% of list (no batch price known "
            "for fake-model)); $/call and $/month stay at the online price") in facts
    assert not any(line.startswith("concurrency") for line in facts)  # a batch has no concurrency to adapt


def test_batches_hold_one_model_and_respect_the_request_limit(monkeypatch):
    from promptslim.llm import batch as batch_module

    monkeypatch.setattr(batch_module, "MAX_REQUESTS", 3)
    requests = [batch_module._Request(f"ps-{i}", f"v1:{i}", model, {"model": model}, False)
                for i, model in enumerate(["b", "a", "b", "a", "a", "a", "a"])]
    chunks = batch_module._chunks(requests)
    assert [[r.model for r in chunk] for chunk in chunks] == [["a"] * 3, ["a"] * 2, ["b"] * 2]
