"""Issue 17: what the run saw is in every report — judge re-asks and errors, invalid steps, truncation, retries and
timeouts, cache hits, the adaptive concurrency, the price source, and which token counts were used.

Every finding runs against the fake server over real HTTP (the real openai SDK and deepeval's GEval), and the
figures are recomputed here from what the server received and answered.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import os
import re
from importlib.metadata import version
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import promptslim.cli
from promptslim.llm.limiter import AdaptiveLimit

try:
    from tests.fakeserver import Reply, count_words, default_prompt_tokens
except ImportError:  # tests/ itself on sys.path (no package)
    from fakeserver import Reply, count_words, default_prompt_tokens  # type: ignore

try:
    from tests.repofiles import write_files as write
except ImportError:  # tests/ itself on sys.path (no package)
    from repofiles import write_files as write  # type: ignore

CONFIG = """concurrency = 4
[prompts."x"]
calls_per_month = 1000
[prices."fake-model"]
input = 1.0
output = 2.0
[prices."fake-judge"]
input = 3.0
output = 6.0
"""
TEMPLATE = "You are the support assistant of {{ shop }}.\n- Be brief.\n- Answer in English.\n"
CRITERIA = "The reply answers the question."
STEPS = ["Check that the reply answers the question.", "Check that it is polite."]
INPUTS = ["Where is my parcel?", "Can I pay by card?", "Do you ship to Norway?", "Is the mug in stock?"]
SHORT = "Yes, we can."  # 3 words
LONG = "Yes, we can, and here is a long explanation of how it works for you."  # 15 words
CORRECTED = "could not be used"  # what promptslim's corrective re-ask says


# ------------------------------------------------------------------ the fake server's side
def kind_of(body: dict) -> str:
    if body["model"] != "fake-judge":
        return "target"
    prompt = body["messages"][0]["content"]
    if "Evaluation Steps:" in prompt and '"score"' in prompt:
        return "score"
    if '"steps"' in prompt:
        return "steps"
    raise AssertionError(prompt[:200])


def system_of(body: dict) -> str:
    return " ".join(m["content"] for m in body["messages"] if m["role"] == "system")


def answer(body: dict) -> str:
    """A brief answer while the prompt says 'Be brief.', else a long one (which max_tokens 8 cuts)."""
    return SHORT if "Be brief." in system_of(body) else LONG


def reasked(body: dict) -> bool:
    return CORRECTED in body["messages"][0]["content"]


def judge_handler(score=lambda body: json.dumps({"reason": "fine", "score": 8}),
                  steps=lambda body: json.dumps({"steps": STEPS}), target=answer):
    def handler(body: dict):
        kind = kind_of(body)
        if kind == "target":
            return target(body)
        return steps(body) if kind == "steps" else score(body)
    return handler


def of_kind(fake, kind: str) -> list[dict]:
    return [b for b in fake.requests if "model" in b and kind_of(b) == kind]


# ------------------------------------------------------------------ the repo under test
@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({"promptslim.toml": CONFIG, "prompts/x.j2": TEMPLATE, "evalsets/x.yaml": evalset()})


def evalset(inputs=INPUTS, criteria: str | None = CRITERIA, asserts: list | None = None) -> str:
    data: dict = {"criteria": criteria} if criteria else {}
    data["cases"] = [{"id": f"c{i}", "vars": {"shop": "Acme"}, "input": text,
                      **({"assert": json.loads(json.dumps(asserts))} if asserts else {})}  # no shared objects: no
                     for i, text in enumerate(inputs, start=1)]                                 # YAML anchors
    return yaml.safe_dump(data, sort_keys=False)


def cli(*args: str):
    return CliRunner().invoke(promptslim.cli.app, list(args))


def eval_json(*args: str, judge: str = "fake-judge") -> dict:
    result = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", judge, "--json", *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def ablate(root: Path, *args: str, judge: str = "none") -> dict:
    result = cli("ablate", "prompts/x.j2", "--model", "fake-model", "--judge-model", judge, "--yes", *args)
    assert result.exit_code == 0, result.output
    return {name: (root / "reports" / "x" / name).read_text(encoding="utf-8")
            for name in ("ablation.json", "ablation.md", "ablation.html", "ablation.csv")} | {"stdout": result.stdout}


# ================================================================== 1. the judge's re-ask changes something
def test_the_judge_reask_is_a_different_request_and_is_counted(repo, fake):
    # the judge breaks its JSON for "Can I pay by card?" unless it is told what went wrong
    def score(body):
        if "Can I pay by card?" in body["messages"][0]["content"] and not reasked(body):
            return '{"score": 8, "reason": "cut off'
        return json.dumps({"reason": "fine", "score": 8})

    fake.handler = judge_handler(score=score)
    data = eval_json()
    asks = [b for b in of_kind(fake, "score") if "Can I pay by card?" in b["messages"][0]["content"]]
    assert len(asks) == 2
    first, again = asks
    assert again["messages"][0]["content"] != first["messages"][0]["content"]
    assert again["messages"][0]["content"].startswith(first["messages"][0]["content"])
    assert again.get("response_format") == {"type": "json_object"}  # JSON mode where the endpoint takes it
    assert all(c["score"] == pytest.approx(0.8) for c in data["cases"])  # recovered: no judge error
    judge = data["run"]["judge"]
    assert (judge["asked"], judge["retries"], judge["recovered"], judge["errors"]) == (4, 1, 1, 0)
    assert data["summary"]["judge_errors"] == 0 and data["warnings"] == []


def test_a_judge_that_cannot_score_is_a_judge_error_with_its_own_words(repo, fake):
    fake.handler = judge_handler(score=lambda body: '{"verdict": "good, I think"}'
                                 if "Is the mug in stock?" in body["messages"][0]["content"]
                                 else json.dumps({"reason": "fine", "score": 8}))
    data = eval_json()
    case = data["cases"][3]
    assert case["score"] is None and case["judge_errors"] == 1  # never a silent 0
    (reason,) = case["judge_error_reasons"]
    assert "no 'score' field" in reason and "verdict" in reason and "good, I think" in reason
    judge = data["run"]["judge"]
    assert (judge["retries"], judge["recovered"], judge["errors"]) == (1, 0, 1)
    assert judge["error_reasons"] == ["no 'score' field in its JSON"]
    assert data["summary"]["score"]["n"] == 3
    (warning,) = data["warnings"]
    assert warning.startswith("1 judge error(s)")
    table = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "fake-judge")
    assert "judge: 4 answers judged; 1 re-asked with a corrective note (0 recovered); 1 judge error" in table.stdout
    assert "warning: 1 judge error(s)" in table.stdout


def test_an_out_of_range_score_is_a_judge_error_not_clipped(repo, fake):
    fake.handler = judge_handler(score=lambda body: json.dumps({"reason": "very good", "score": 15}))
    data = eval_json()
    assert [c["score"] for c in data["cases"]] == [None] * 4
    assert "score 15 is outside the 0..10 scale" in data["cases"][0]["judge_error_reasons"][0]


def test_an_endpoint_without_json_mode_gets_the_reask_without_it(repo, fake):
    fake.fault_when(lambda body: "400" if "response_format" in body else None)

    def score(body):
        if "Can I pay by card?" in body["messages"][0]["content"] and not reasked(body):
            return "I would say eight."
        return json.dumps({"reason": "fine", "score": 8})

    fake.handler = judge_handler(score=score)
    data = eval_json()
    refused = [b for b in fake.requests if "response_format" in b]
    assert len(refused) == 1  # tried once, then never again in this run
    assert data["cases"][1]["score"] == pytest.approx(0.8)
    assert data["run"]["judge"]["json_mode_refused"] is True
    assert data["run"]["judge"]["recovered"] == 1


def test_a_judge_answer_cut_at_max_tokens_is_reasked_longer_and_named(repo, fake):
    fake.handler = judge_handler(score=lambda body: Reply('{"score": 8, "reason": "the reply', finish_reason="length")
                                 if "Is the mug" in body["messages"][0]["content"]
                                 else json.dumps({"reason": "fine", "score": 8}))
    data = eval_json()
    asks = [b for b in of_kind(fake, "score") if "Is the mug" in b["messages"][0]["content"]]
    assert [b["max_tokens"] for b in asks] == [600, 1200]
    assert "answer cut at max_tokens 1200 (finish_reason: length)" in data["cases"][3]["judge_error_reasons"][0]
    assert data["run"]["judge"]["truncated"] == 2
    assert data["run"]["by_role"]["judge"]["truncated"] == 2


# ================================================================== 2. judge steps are validated before caching
def steps_files() -> list[Path]:
    return sorted((Path(os.environ["PROMPTSLIM_HOME"]) / "geval_steps").glob("*.json"))


def test_invalid_steps_are_asked_for_again_and_only_valid_ones_are_stored(repo, fake):
    objects = json.dumps({"steps": [{"step": 1, "text": "Check the answer."}]})
    fake.handler = judge_handler(steps=lambda body: json.dumps({"steps": STEPS}) if reasked(body) else objects)
    data = eval_json()
    assert len(of_kind(fake, "steps")) == 2
    (stored,) = steps_files()
    assert json.loads(stored.read_text())["steps"] == STEPS
    assert data["run"]["judge"]["steps_retries"] == 1
    for body in of_kind(fake, "score"):
        assert "1. Check that the reply answers the question." in body["messages"][0]["content"]


def test_steps_invalid_twice_stop_the_run_with_exit_2_naming_the_judge(repo, fake):
    fake.handler = judge_handler(steps=lambda body: json.dumps({"steps": [{"step": "Check."}, ""]}))
    result = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "fake-judge")
    assert result.exit_code == 2, result.output
    assert "judge model 'fake-judge' could not write usable evaluation steps" in result.stderr
    assert "evalsets/x.yaml" in result.stderr and "Traceback" not in result.output
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert "asked twice; every step must be a non-empty string" in error
    assert steps_files() == []  # nothing invalid is cached for later runs
    assert of_kind(fake, "score") == []


def test_stored_steps_with_an_empty_step_are_regenerated(repo, fake):
    fake.handler = judge_handler()
    eval_json()
    (stored,) = steps_files()
    content = json.loads(stored.read_text())
    stored.write_text(json.dumps({**content, "steps": ["Check it.", "   "]}))
    fake.reset()
    fake.handler = judge_handler()
    eval_json("--no-cache")
    assert len(of_kind(fake, "steps")) == 1
    assert json.loads(stored.read_text())["steps"] == STEPS


# ================================================================== 3. truncation, cache hits, facts in every report
TRUNC_CONFIG = "max_tokens = 8\n" + CONFIG
TRUNC_INPUTS = [f"Question {i}?" for i in range(1, 9)]


def test_truncated_answers_are_counted_per_variant_warned_about_and_in_every_report(repo, fake):
    # without "Be brief." the answer runs to 15 words; the server cuts it at max_tokens 8 (finish_reason: length)
    write(repo, {"promptslim.toml": TRUNC_CONFIG,
                 "evalsets/x.yaml": evalset(TRUNC_INPUTS, criteria=None, asserts=[{"type": "icontains", "value": "yes"}])})
    fake.cut_at_max_tokens = True
    fake.handler = answer
    files = ablate(repo)
    data = json.loads(files["ablation.json"])
    n = len(TRUNC_INPUTS)
    cut = [b for b in fake.requests if "Be brief." not in system_of(b)]  # every answer the server cut
    assert all(b["max_tokens"] == 8 for b in fake.requests)
    units = {u["text"]: u for u in data["units"]}
    assert data["baseline"]["truncated"] == 0 and data["baseline"]["answers"] == n
    assert units["- Be brief."]["truncated"] == n and units["- Be brief."]["answers"] == n
    assert units["- Answer in English."]["truncated"] == 0
    run = data["run"]
    # each evaluated answer counts, the cached re-use of a leave-one-out answer by the slim step included
    answers = n * (1 + len(data["units"])) + sum(1 for _ in data["slim"]["steps"]) * n
    assert run["answers"] == answers
    slim_cut = sum(n for step in data["slim"]["steps"] if 2 in step["removed"])
    assert run["truncated"] == n + slim_cut
    assert len(cut) == n  # the slim steps that drop "Be brief." reuse the leave-one-out answers from the cache
    assert run["truncated_rate"] == pytest.approx(run["truncated"] / answers)
    assert run["max_tokens"] == 8 and run["by_role"]["target"]["truncated"] == n
    (warning,) = data["warnings"]
    assert warning.startswith(f"{run['truncated']} of {answers} answers ({run['truncated'] / answers:.1%}) stopped "
                              "at the token limit (finish_reason: length)")
    assert "raise max_tokens in promptslim.toml (now 8)" in warning
    md, html = files["ablation.md"], files["ablation.html"]
    assert f"> ⚠️ **Warning:** {warning}" in md
    assert "⚠️ <strong>Warning:</strong>" in html and "stopped at the token limit" in html
    assert f"truncated answers (finish_reason: length): {run['truncated']} of {answers}" in md
    assert "baseline" not in md.split("truncated answers")[1].splitlines()[0].split(";")[0].split("—")[1]
    assert f"— unit 2: {n}; max_tokens 8" in md and f"unit 2: {n}" in html
    assert f"warning: {warning}" in files["stdout"]
    frame = pd.read_csv(io.StringIO(files["ablation.csv"]))
    assert frame.set_index("id")["truncated"].to_dict() == {1: 0, 2: n, 3: 0}

    # the eval --json of the same prompt says it too, and a rerun from the cache still does
    data = eval_json(judge="none")
    assert (data["summary"]["truncated"], data["run"]["truncated"]) == (0, 0)
    write(repo, {"prompts/x.j2": TEMPLATE.replace("- Be brief.\n", "")})
    fake.reset()
    data = eval_json(judge="none")
    assert fake.calls == 0  # all from the cache
    assert data["summary"]["truncated"] == n and data["summary"]["cache_hits"] == n
    assert [c["truncated"] for c in data["cases"]] == [1] * n
    assert "raise max_tokens in promptslim.toml (now 8)" in data["warnings"][0]


def test_under_the_threshold_truncation_is_reported_but_not_warned(repo, fake):
    # 1 of 25 answers cut: 4% is a fact in the report, not a warning
    inputs = [f"Question {i}?" for i in range(25)]
    write(repo, {"promptslim.toml": TRUNC_CONFIG,
                 "evalsets/x.yaml": evalset(inputs, criteria=None, asserts=[{"type": "icontains", "value": "yes"}])})
    fake.cut_at_max_tokens = True
    fake.handler = lambda body: LONG if "Question 7?" in body["messages"][-1]["content"] else SHORT
    data = eval_json(judge="none")
    assert (data["run"]["answers"], data["run"]["truncated"]) == (25, 1)
    assert data["warnings"] == []
    table = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "none")
    assert "truncated answers (finish_reason: length): 1 of 25 (4.0%); max_tokens 8" in table.stdout
    assert "warning:" not in table.stdout


def test_every_report_lists_every_run_fact(repo, fake):
    fake.handler = judge_handler()
    files = ablate(repo, judge="fake-judge")
    data = json.loads(files["ablation.json"])
    for key in ("answers", "truncated", "truncated_rate", "max_tokens", "retries", "timeouts", "rate_limited",
                "server_errors", "other_errors", "judge", "by_role", "concurrency"):
        assert key in data["run"], key
    assert data["prices"]["price_model"]["kind"] == "config"
    assert data["prices"]["judge"]["source"] == 'promptslim.toml [prices."fake-judge"]'
    for key in ("answers", "truncated", "cache_hits", "tokens_source", "judge_errors"):
        assert key in data["baseline"] and key in data["slim"], key
    for name in ("ablation.md", "ablation.html"):
        text = files[name]
        for fact in ("judge: ", "truncated answers (finish_reason: length): none of", "retries: none",
                     "cache hits: ", "concurrency (adapts", "prices: $ figures: fake-model at a hand-entered config "
                     "price", "token counts: server-reported"):
            assert fact in text, (name, fact)
    assert "Run facts" in files["ablation.md"] and "<h2>Run facts</h2>" in files["ablation.html"]
    # a rerun answers everything from the cache and says so
    fake.reset()
    files = ablate(repo, judge="fake-judge")
    data = json.loads(files["ablation.json"])
    assert data["run"]["calls"] == 0
    assert data["baseline"]["cache_hits"] == data["baseline"]["answers"] == len(INPUTS)
    hits = data["run"]["by_role"]
    assert f"cache hits: {data['run']['cache_hits']:,} (target {hits['target']['cache_hits']:,}, judge " \
           f"{hits['judge']['cache_hits']:,})" in files["ablation.md"]


# ================================================================== 4. retries, timeouts and adaptive concurrency
def test_the_limit_halves_on_overload_once_per_burst_and_recovers_a_window_at_a_time():
    async def scenario() -> AdaptiveLimit:
        limit = AdaptiveLimit(8)
        epochs = [await limit.acquire() for _ in range(8)]
        assert limit.in_flight == 8
        for epoch in epochs[:5]:  # five timeouts of requests started together: one signal, not five
            await limit.release(epoch, "timeout")
        assert limit.limit == 4
        for epoch in epochs[5:]:
            await limit.release(epoch, "ok")
        second = await limit.acquire()
        await limit.release(second, "rate_limit")  # started after the halving: halves again
        assert limit.limit == 2
        for _ in range(2 + 3 + 4 + 5 + 6 + 7):  # a window of successes as large as the limit adds one
            await limit.release(await limit.acquire(), "ok")
        await limit.release(await limit.acquire(), "server_error")  # not an overload signal
        return limit

    limit = asyncio.run(scenario())
    assert limit.limit == 8
    summary = limit.summary()
    assert (summary["start"], summary["lowest"], summary["end"]) == (8, 2, 8)
    assert [(c["limit"], c["why"]) for c in summary["changes"]] == [
        (4, "timeout"), (2, "rate_limit"), (3, "recovered"), (4, "recovered"), (5, "recovered"), (6, "recovered"),
        (7, "recovered"), (8, "recovered")]


def test_the_limit_never_exceeds_itself_while_requests_wait():
    async def scenario() -> int:
        limit = AdaptiveLimit(3)
        peak = 0

        async def one(i: int) -> None:
            nonlocal peak
            epoch = await limit.acquire()
            peak = max(peak, limit.in_flight)
            await asyncio.sleep(0.001)
            await limit.release(epoch, "rate_limit" if i == 0 else "ok")

        await asyncio.gather(*(one(i) for i in range(30)))
        return peak

    assert asyncio.run(scenario()) == 3


def test_timeouts_on_a_single_slot_server_are_retried_counted_and_back_off_the_concurrency(repo, fake):
    # one request at a time, 0.1 s each; the client gives up after 0.35 s: eight at once cannot all be answered
    write(repo, {"promptslim.toml": "timeout = 0.35\n" + CONFIG.replace("concurrency = 4", "concurrency = 8"),
                 "evalsets/x.yaml": evalset([f"Question {i}?" for i in range(12)], criteria=None,
                                            asserts=[{"type": "icontains", "value": "yes"}])})
    fake.slots, fake.latency = 1, 0.1
    fake.handler = answer
    data = eval_json(judge="none")
    run = data["run"]
    assert [c["score"] for c in data["cases"]] == [1.0] * 12  # every case answered in the end
    assert run["timeouts"] >= 1
    assert run["retries"] == run["timeouts"] == fake.calls - 12  # each timeout is one more request, nothing else
    assert run["by_role"]["target"]["timeouts"] == run["timeouts"]
    concurrency = run["concurrency"]["target"]
    assert concurrency["start"] == 8 and concurrency["lowest"] <= 4
    assert concurrency["changes"][0]["why"] == "timeout" and concurrency["changes"][0]["limit"] == 4
    table = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "none", "--no-cache")
    assert table.exit_code == 0, table.output
    assert re.search(r"retries: \d+ — \d+ timeouts, 0 rate limits \(429\)", table.stdout)
    assert re.search(r"concurrency \(adapts.*\): target 8 → 4 at [\d.]+ s \(timeout\)", table.stdout)


def test_429s_shrink_the_concurrency_and_are_in_the_ablation_report(repo, fake):
    fake.handler = judge_handler()
    fake.latency = 0.02
    fake.fault_when(lambda body: "429" if fake.in_flight > 2 else None)  # a provider that takes two at a time
    files = ablate(repo)
    data = json.loads(files["ablation.json"])
    run = data["run"]
    assert run["rate_limited"] >= 1 and run["retries"] == run["rate_limited"]
    assert fake.calls == run["calls"] + run["rate_limited"]
    changes = run["concurrency"]["target"]["changes"]
    assert changes[0]["why"] == "rate_limit"
    assert f"{run['rate_limited']} rate limits (429)" in files["ablation.md"]
    assert "(429)" in files["ablation.md"].split("concurrency (adapts")[1]


# ================================================================== 5. prices, token counts, budgets
def test_a_config_price_is_named_as_such_and_a_list_price_names_its_data_version(repo, fake):
    fake.handler = judge_handler()
    data = eval_json(judge="none")
    assert data["prices"]["price_model"] == {"model": "fake-model", "source": 'promptslim.toml [prices."fake-model"]',
                                             "kind": "config", "data_version": None, "date": None}
    result = cli("eval", "prompts/x.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--json")
    assert result.exit_code == 0, result.output
    listed = json.loads(result.stdout)
    assert listed["prices"]["price_model"] == {
        "model": "gpt-4o-mini", "source": "genai-prices: openai/gpt-4o-mini", "kind": "genai-prices",
        "data_version": version("genai-prices"), "date": datetime.datetime.now(datetime.timezone.utc).date().isoformat()}
    table = cli("eval", "prompts/x.j2", "--model", "gpt-4o-mini", "--judge-model", "none")
    assert f"prices: $ figures: gpt-4o-mini list prices from genai-prices {version('genai-prices')} bundled data " \
           "(openai/gpt-4o-mini, in effect " in table.stdout
    # gpt-4o-mini has a public tokenizer: our exact count, not the server's (the fake counts words)
    assert listed["tokens_source"] == "exact"
    assert [c["input_tokens"] for c in listed["cases"]] != [default_prompt_tokens(b) for b in fake.requests[-4:]]


def test_the_endpoints_token_count_is_used_and_said_for_a_model_without_a_tokenizer(repo, fake):
    fake.handler = judge_handler(target=lambda body: Reply(SHORT, prompt_tokens=1000 + len(body["messages"][-1]
                                                                                          ["content"])))
    data = eval_json(judge="none")
    reported = [1000 + len(text) for text in INPUTS]
    assert [c["input_tokens"] for c in data["cases"]] == reported
    mean_in = sum(reported) / 4
    assert data["summary"]["input_tokens"] == pytest.approx(mean_in)
    assert data["summary"]["usd_per_call"] == pytest.approx((mean_in * 1.0 + 3 * 2.0) / 1e6)
    assert (data["tokens_source"], data["tokens_approximate"]) == ("server-reported", False)
    assert "server-reported" in data["tokens_note"]


def test_without_a_count_from_the_endpoint_tokens_are_estimated_and_marked_everywhere(repo, fake, tmp_path):
    fake.handler = judge_handler(target=lambda body: Reply(SHORT, prompt_tokens=0))
    data = eval_json(judge="none", *("--csv", str(tmp_path / "e.csv")))
    assert (data["tokens_source"], data["tokens_approximate"]) == ("estimated", True)
    header = pd.read_csv(tmp_path / "e.csv").columns
    assert "input_tokens ≈" in header and "input_tokens" not in header
    table = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "none")
    rows = [line for line in table.stdout.splitlines() if re.match(r"│ c\d", line)]
    assert len(rows) == 4 and all(" ≈ │" in row for row in rows)
    assert "token counts: estimated ≈" in table.stdout
    files = ablate(repo)
    frame = pd.read_csv(io.StringIO(files["ablation.csv"]))
    assert {"tokens ≈", "input_tokens_saved ≈"} <= set(frame.columns)
    assert re.search(r"\| baseline \| [\d.,]+ ≈ \|", files["ablation.md"])


def test_static_commands_mark_every_estimated_line(repo, fake):
    result = cli("count", "prompts/x.j2", "--model", "fake-model", "--model", "gpt-4o-mini")
    assert result.exit_code == 0, result.output
    fake_row = next(line for line in result.stdout.splitlines() if "fake-model" in line)
    mini_row = next(line for line in result.stdout.splitlines() if "gpt-4o-mini" in line)
    assert " ≈ " in fake_row and "≈" not in mini_row


def test_a_small_budget_is_printed_as_typed(repo, fake):
    fake.handler = judge_handler()
    result = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "none", "--max-cost", "0.001",
                 "--yes")
    assert result.exit_code == 0, result.output
    assert "of $0.001 budget" in result.stderr and "$0.00 budget" not in result.stderr
    over = cli("eval", "prompts/x.j2", "--model", "fake-model", "--judge-model", "none", "--max-cost", "0.000001", "--no-cache")
    assert over.exit_code == 3
    assert "exceeds the budget $0.000001 (max_cost_usd)" in over.stderr


def test_the_embedded_judge_gets_generic_steps_instead_of_writing_them(fake, tmp_path):
    # the 135M embedded judge cannot write G-Eval steps (it rambles to max_tokens); it is not asked, nothing is stored
    from promptslim.judge import Judge
    from promptslim.llm.openai_backend import OpenAIBackend
    from promptslim.llm.runner import Role, Runner
    from promptslim.llm.store import Store
    from promptslim.cost.prices import Price

    fake.handler = judge_handler()
    backend = OpenAIBackend(fake.url, "sk-test", timeout=5)
    runner = Runner(roles={"judge": Role(backend, Price("fake-judge", 0, 0, 0, "test"))},
                    store=Store(tmp_path / "cache.sqlite"))
    judge = Judge(runner, "fake-judge", CRITERIA, tmp_path, embedded=True)

    async def main():
        try:
            return await judge.score("Where is my parcel?", "It ships today.", None)
        finally:
            await runner.aclose()

    verdict = asyncio.run(main())
    assert verdict.score == pytest.approx(0.8)
    assert of_kind(fake, "steps") == []
    (body,) = of_kind(fake, "score")
    assert f"1. Check whether the actual output satisfies: {CRITERIA}" in body["messages"][0]["content"]
    assert judge.stats.to_dict()["generic_steps"] is True
    assert not (tmp_path / "geval_steps").exists()
