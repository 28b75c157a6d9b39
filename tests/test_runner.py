"""The runner over real HTTP: the openai SDK talks to the fake server; cache, dedup, cap, retries, ledger, budget."""
from __future__ import annotations

import asyncio
import time
import traceback
from pathlib import Path

import pytest

from promptslim.errors import BudgetStop, EndpointError
from promptslim.llm.base import Completion, Params, cache_key
from promptslim.llm.openai_backend import OpenAIBackend
from promptslim.llm.retry import RetryPolicy
from promptslim.llm.runner import Role, Runner
from promptslim.llm.store import Store
from promptslim.cost.prices import Price

try:
    from tests.fakeserver import Reply
except ImportError:  # tests/ itself on sys.path (no package)
    from fakeserver import Reply  # type: ignore

KEY = "sk-test-SECRET-0123456789"
MODEL = "gpt-test-mini"
PRICE = Price("m", 1.0, 0.5, 2.0, "test")  # USD per million: input, cached input, output


# -- helpers ------------------------------------------------------------------------------------------------------


def shout(body: dict) -> str:
    """The fake's answer is a function of the request, so a mixed-up result is visible."""
    return body["messages"][-1]["content"].upper()


def ask(text: str, system: str | None = "Answer in capitals.") -> list[dict[str, str]]:
    messages = [{"role": "system", "content": system}] if system else []
    return messages + [{"role": "user", "content": text}]


def expected_prompt_tokens(messages: list[dict[str, str]]) -> int:
    """The fake's documented usage rule, recomputed here: 3 + Σ(3 + words of content)."""
    return 3 + sum(3 + len(m["content"].split()) for m in messages)


def expected_usd(messages: list[dict[str, str]], answer: str, cached: int = 0) -> float:
    prompt, completion = expected_prompt_tokens(messages), len(answer.split())
    return ((prompt - cached) * 1.0 + cached * 0.5 + completion * 2.0) / 1_000_000


def make_runner(fake, path: Path, *, concurrency: int = 4, budget_usd: float | None = None, timeout: float = 5.0,
                retry: RetryPolicy | None = None, key_env: str = "OPENAI_API_KEY") -> Runner:
    backend = OpenAIBackend(fake.url, KEY, timeout=timeout, key_env=key_env)
    extra = {"retry": retry} if retry is not None else {}
    return Runner(roles={"target": Role(backend, PRICE)}, store=Store(path), concurrency=concurrency,
                  budget_usd=budget_usd, **extra)


def run(runner: Runner, calls: list[tuple[list[dict[str, str]], Params]]) -> list[Completion]:
    """One event loop per run, as the CLI does; the SDK client is closed in the same loop."""

    async def main() -> list[Completion]:
        try:
            return await runner.gather(runner.complete("target", messages, params) for messages, params in calls)
        finally:
            await runner.aclose()

    return asyncio.run(main())


def batch(n: int, prefix: str = "question number") -> list[tuple[list[dict[str, str]], Params]]:
    return [(ask(f"{prefix} {i}"), Params(MODEL)) for i in range(n)]


def ledger(runner: Runner) -> list[tuple]:
    assert runner.store is not None
    return runner.store.db.execute(
        "SELECT role, model, prompt_tokens, cached_tokens, completion_tokens, usd, cache_hit FROM calls "
        "WHERE run_id = ? ORDER BY id", (runner.run_id,)).fetchall()


@pytest.fixture
def cache_path(tmp_path: Path) -> Path:
    return tmp_path / "cache.sqlite"


# -- retries ------------------------------------------------------------------------------------------------------


def test_retries_recover_and_nothing_is_lost(fake, cache_path):
    fake.handler = shout
    fake.hang_seconds = 1.0
    faults = ("429", "500", "503", "drop", "badjson", "hang")
    fake.add_faults(*faults)
    calls = batch(20)
    runner = make_runner(fake, cache_path, concurrency=4, timeout=0.3)

    results = run(runner, calls)

    assert [r.text for r in results] == [messages[-1]["content"].upper() for messages, _ in calls]
    assert fake.pending_faults == 0
    assert fake.calls == 20 + len(faults)
    assert runner.api_calls == 20 and runner.cache_hits == 0
    store = Store(cache_path)
    endpoint = fake.url
    for (messages, params), result in zip(calls, results):
        cached = store.get(cache_key(endpoint, messages, params))
        assert cached is not None and cached.text == result.text


def test_retry_after_is_honoured(fake, cache_path):
    fake.retry_after = "0.3"
    fake.add_faults("429")
    runner = make_runner(fake, cache_path)  # PROMPTSLIM_RETRY_BASE=0: any wait comes from Retry-After

    started = time.monotonic()
    [result] = run(runner, batch(1))
    elapsed = time.monotonic() - started

    assert result.text == "ok"
    assert fake.calls == 2
    assert elapsed >= 0.3


def test_after_max_retries_of_500s_the_run_ends_with_endpoint_error(fake, cache_path):
    fake.add_faults(*["500"] * 4)
    runner = make_runner(fake, cache_path, retry=RetryPolicy(max_retries=3, base=0.0))

    with pytest.raises(EndpointError) as caught:
        run(runner, batch(1))

    err = caught.value
    assert err.exit_code == 4
    assert fake.calls == 4  # the first try and 3 retries
    assert "still failing after 3 retries" in err.message
    assert "rerun" in err.message and "resume" in err.message
    assert KEY not in err.message


@pytest.mark.parametrize("fault, says", [
    ("401", ["401", "OPENAI_API_KEY"]),
    ("403", ["403", "permission"]),
    ("404", ["404", "model name", "base URL"]),
    ("400", ["400", "Invalid request"]),
])
def test_refusals_exit_4_without_retry_and_without_the_key(fake, cache_path, fault, says):
    fake.add_faults(fault)
    runner = make_runner(fake, cache_path, concurrency=1)

    with pytest.raises(EndpointError) as caught:
        run(runner, batch(3))

    err = caught.value
    assert err.exit_code == 4
    assert fake.calls == 1  # no retry, and the calls queued behind it never start
    for text in says:
        assert text in err.message
    shown = "".join(traceback.format_exception(err)) + str(err) + repr(err)
    assert KEY not in shown and "SECRET" not in shown
    assert fake.request_headers[0]["authorization"] == f"Bearer {KEY}"  # the key was sent, just never shown


def test_401_names_the_configured_key_variable(fake, cache_path):
    fake.add_faults("401")
    runner = make_runner(fake, cache_path, key_env="MY_PROVIDER_KEY")

    with pytest.raises(EndpointError, match=r"\$MY_PROVIDER_KEY") as caught:
        run(runner, batch(1))

    assert "SECRET" not in caught.value.message


# -- concurrency and dedup --------------------------------------------------------------------------------------


def test_the_concurrency_cap_holds(fake, cache_path):
    fake.latency = 0.05
    runner = make_runner(fake, cache_path, concurrency=5)

    results = run(runner, batch(40))

    assert len(results) == 40 and fake.calls == 40
    assert fake.max_in_flight == 5  # never more, and actually reached


def test_identical_calls_in_flight_are_made_once(fake, cache_path):
    fake.handler = shout
    fake.latency = 0.05
    runner = make_runner(fake, cache_path, concurrency=8)

    results = run(runner, [(ask("same question"), Params(MODEL))] * 10)

    assert fake.calls == 1
    assert {r.text for r in results} == {"SAME QUESTION"}
    assert runner.api_calls == 1
    assert runner.cache_hits == 9


# -- the cache key ------------------------------------------------------------------------------------------------


def test_the_cache_key_separates_what_changes_the_answer():
    endpoint, messages, params = "http://127.0.0.1:9/v1", ask("hello"), Params(MODEL)
    base = cache_key(endpoint, messages, params)

    assert base.startswith("v1:")
    assert cache_key(endpoint, messages, Params(MODEL)) == base
    assert cache_key(endpoint + "/", messages, params) == base
    different = {
        "sample": cache_key(endpoint, messages, Params(MODEL, sample=1)),
        "temperature": cache_key(endpoint, messages, Params(MODEL, temperature=0.7)),
        "model": cache_key(endpoint, messages, Params("other-model")),
        "messages": cache_key(endpoint, ask("hello!"), params),
        "role": cache_key(endpoint, [{"role": "user", "content": "hello"}], params),
        "endpoint": cache_key("http://127.0.0.1:10/v1", messages, params),
        "max_tokens": cache_key(endpoint, messages, Params(MODEL, max_tokens=50)),
        "seed": cache_key(endpoint, messages, Params(MODEL, seed=1)),
        "attempt": cache_key(endpoint, messages, Params(MODEL, attempt=1)),
    }
    assert base not in different.values()
    assert len(set(different.values())) == len(different)


def test_timeout_and_concurrency_stay_out_of_the_key(fake, tmp_path):
    fast = OpenAIBackend(fake.url, KEY, timeout=0.5)
    slow = OpenAIBackend(fake.url, KEY, timeout=60.0)
    assert fast.endpoint == slow.endpoint
    messages, params = ask("hello"), Params(MODEL)
    assert cache_key(fast.endpoint, messages, params) == cache_key(slow.endpoint, messages, params)

    path = tmp_path / "cache.sqlite"
    run(make_runner(fake, path, concurrency=1, timeout=0.5), [(messages, params)])
    rerun = make_runner(fake, path, concurrency=16, timeout=60.0)
    run(rerun, [(messages, params)])

    assert fake.calls == 1
    assert rerun.cache_hits == 1 and rerun.api_calls == 0


def test_sample_indexes_are_separate_calls_through_the_runner(fake, cache_path):
    messages = ask("hello")
    runner = make_runner(fake, cache_path)

    results = run(runner, [(messages, Params(MODEL, sample=0)), (messages, Params(MODEL, sample=1))])

    assert len(results) == 2
    assert fake.calls == 2
    assert runner.api_calls == 2 and runner.cache_hits == 0


# -- reruns -------------------------------------------------------------------------------------------------------


def test_rerun_makes_zero_calls(fake, cache_path):
    fake.handler = shout
    calls = batch(8)
    first = run(make_runner(fake, cache_path), calls)
    assert fake.calls == 8

    rerun = make_runner(fake, cache_path)  # a new process: new Runner, new Store, same file
    again = run(rerun, calls)

    assert fake.calls == 8
    assert rerun.api_calls == 0
    assert rerun.cache_hits == 8
    assert [r.text for r in again] == [r.text for r in first]
    assert all(r.from_cache for r in again)
    assert rerun.totals["target"].usd == 0.0


def test_empty_answers_are_not_cached(fake, cache_path):
    fake.add_faults("empty")
    messages, params = ask("hello"), Params(MODEL)

    [empty] = run(make_runner(fake, cache_path), [(messages, params)])
    assert empty.text == ""
    assert Store(cache_path).get(cache_key(fake.url, messages, params)) is None

    rerun = make_runner(fake, cache_path)
    [answer] = run(rerun, [(messages, params)])
    assert fake.calls == 2
    assert rerun.api_calls == 1 and answer.text == "ok"


def test_errors_are_not_cached(fake, cache_path):
    fake.add_faults("400")
    with pytest.raises(EndpointError):
        run(make_runner(fake, cache_path), batch(1))
    assert Store(cache_path).stats().entries == 0

    rerun = make_runner(fake, cache_path)
    [answer] = run(rerun, batch(1))
    assert fake.calls == 2
    assert answer.text == "ok" and rerun.api_calls == 1


# -- budget and ledger --------------------------------------------------------------------------------------------


def test_the_budget_stop_leaves_a_resumable_state(fake, cache_path):
    fake.handler = shout
    calls = batch(10)
    per_call = expected_usd(calls[0][0], calls[0][0][-1]["content"].upper())
    assert all(expected_usd(m, m[-1]["content"].upper()) == per_call for m, _ in calls)
    runner = make_runner(fake, cache_path, concurrency=1, budget_usd=2.5 * per_call)

    with pytest.raises(BudgetStop) as caught:
        run(runner, calls)

    stop = caught.value
    assert stop.exit_code == 3
    assert "rerun" in stop.message and "resume" in stop.message
    completed = fake.calls
    assert completed == 3  # the call that crosses the budget finishes; nothing starts after it
    assert runner.api_calls == completed
    assert runner.spent == pytest.approx(completed * per_call)

    store = Store(cache_path)
    cached = [store.get(cache_key(fake.url, m, p)) for m, p in calls]
    assert [c is not None for c in cached] == [True] * completed + [False] * (10 - completed)
    rows = ledger(runner)
    prompt, answer_words = expected_prompt_tokens(calls[0][0]), len(calls[0][0][-1]["content"].split())
    assert len(rows) == completed
    for row in rows:
        assert row[:5] == ("target", MODEL, prompt, 0, answer_words)
        assert row[5] == pytest.approx(per_call)
        assert row[6] == 0
    assert sum(row[5] for row in rows) == pytest.approx(runner.totals["target"].usd)

    resumed = make_runner(fake, cache_path, concurrency=1, budget_usd=100.0)
    results = run(resumed, calls)

    assert fake.calls == 10
    assert resumed.api_calls == 10 - completed
    assert resumed.cache_hits == completed
    assert [r.text for r in results] == [m[-1]["content"].upper() for m, _ in calls]


def test_the_ledger_matches_the_usage_the_api_reported(fake, cache_path):
    fake.handler = shout
    calls = [(ask("one"), Params(MODEL)), (ask("two words"), Params(MODEL)),
             (ask("a much longer user question here", system="Be brief and exact please."), Params(MODEL))]
    runner = make_runner(fake, cache_path)

    run(runner, calls)

    totals = runner.totals["target"]
    answers = [m[-1]["content"].upper() for m, _ in calls]
    assert totals.calls == 3
    assert totals.prompt_tokens == sum(expected_prompt_tokens(m) for m, _ in calls)
    assert totals.completion_tokens == sum(len(a.split()) for a in answers)
    assert totals.usd == pytest.approx(sum(expected_usd(m, a) for (m, _), a in zip(calls, answers)), rel=1e-12)
    assert sum(row[5] for row in ledger(runner)) == pytest.approx(totals.usd, rel=1e-12)


def test_cached_tokens_are_billed_at_the_cached_price(fake, cache_path):
    fake.handler = lambda body: Reply(shout(body), cached_tokens=4)
    messages = ask("please answer this question")
    runner = make_runner(fake, cache_path)

    [result] = run(runner, [(messages, Params(MODEL))])

    assert result.cached_tokens == 4
    want = expected_usd(messages, "PLEASE ANSWER THIS QUESTION", cached=4)
    assert want < expected_usd(messages, "PLEASE ANSWER THIS QUESTION")
    assert runner.totals["target"].usd == pytest.approx(want, rel=1e-12)
    [row] = ledger(runner)
    assert row[3] == 4 and row[5] == pytest.approx(want, rel=1e-12)
