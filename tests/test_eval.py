"""`promptslim eval` end to end: the real SDK and deepeval's GEval talk to the fake server; every number recomputed."""

from __future__ import annotations

import json
import math
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

import promptslim.cli
from promptslim.stats import mean_ci, t_ppf
from promptslim.tokens import get_encoding

try:
    from tests.fakeserver import count_words, default_prompt_tokens
except ImportError:  # tests/ itself on sys.path (no package)
    from fakeserver import count_words, default_prompt_tokens  # type: ignore

try:
    from tests.repofiles import write_files as write
except ImportError:  # tests/ itself on sys.path (no package)
    from repofiles import write_files as write  # type: ignore

CPM = 1000
PRICES = {"fake-model": (1.0, 2.0), "fake-judge": (3.0, 6.0)}  # USD per million tokens: input, output
CONFIG = f"""concurrency = 4
[prompts."x"]
calls_per_month = {CPM}
[prices."fake-model"]
input = 1.0
output = 2.0
[prices."fake-judge"]
input = 3.0
output = 6.0
"""
TEMPLATE = "You are the support assistant of {{ shop }}.\n- Be polite.\n- Answer in one sentence.\n"
CRITERIA = "The reply is polite and answers the question."
STEPS = ["Check that the reply says please.", "Check that it answers the question."]
# input -> the fake model's answer; the judge's rule scores 9/10 when the answer says "please", else 2/10
ANSWERS = {
    "Where is my parcel?": "It ships today, please allow two days.",
    "Can I pay by card?": "Yes.",
    "Do you ship to Norway?": "Yes, please choose Norway at checkout.",
    "My invoice is wrong.": "Please send us the invoice number.",
    "Is the mug in stock?": "No.",
}
RULE_SCORES = [0.9, 0.2, 0.9, 0.9, 0.2]


# ------------------------------------------------------------------ the fake server's side
def kind_of(body: dict) -> str:
    """Which call this is: the model under test, GEval's steps generation, or GEval's scoring."""
    if body["model"] != "fake-judge":
        return "target"
    assert [m["role"] for m in body["messages"]] == ["user"], "the judge gets one user message"
    prompt = body["messages"][0]["content"]
    if "Evaluation Steps:" in prompt and '"score"' in prompt:
        return "score"
    if '"steps"' in prompt and "Evaluation Criteria:" in prompt:
        return "steps"
    raise AssertionError(f"unrecognised judge prompt: {prompt[:200]}")


def user_text(body: dict) -> str:
    return [m["content"] for m in body["messages"] if m["role"] == "user"][-1]


def actual_output(body: dict) -> str:
    """The answer under judgment, cut out of GEval's scoring prompt."""
    match = re.search(r"Actual Output:\n(.*?) ?\n\n", body["messages"][0]["content"], re.DOTALL)
    assert match, body["messages"][0]["content"]
    return match.group(1)


def by_rule(output: str) -> int:
    return 9 if "please" in output.lower() else 2


def answer_by_input(body: dict) -> str:
    return ANSWERS[user_text(body)]


def make_handler(answer: Callable[[dict], str] = answer_by_input, score: Callable[[str], int | str] = by_rule,
                 steps: list[str] = STEPS) -> Callable[[dict], str]:
    def handler(body: dict) -> str:
        kind = kind_of(body)
        if kind == "target":
            return answer(body)
        if kind == "steps":
            return json.dumps({"steps": steps})
        value = score(actual_output(body))
        if isinstance(value, str):
            return value  # a raw (e.g. broken) judge answer
        return json.dumps({"reason": f"rule gave {value}", "score": value})

    return handler


def requests_of(fake, kind: str) -> list[dict]:
    return [body for body in fake.requests if kind_of(body) == kind]


# ------------------------------------------------------------------ the repo under test
def evalset(inputs=tuple(ANSWERS), criteria: str | None = CRITERIA, **extra) -> str:
    data: dict = {"criteria": criteria} if criteria else {}
    data.update(extra)
    data["cases"] = [{"id": f"c{i}", "vars": {"shop": "Acme" if i % 2 else "Globex"}, "input": text}
                     for i, text in enumerate(inputs, start=1)]
    return yaml.safe_dump(data, sort_keys=False)


@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({"promptslim.toml": CONFIG, "prompts/x.j2": TEMPLATE, "evalsets/x.yaml": evalset()})


def run_eval(*args: str, judge: str = "fake-judge"):
    return CliRunner().invoke(promptslim.cli.app, ["eval", "prompts/x.j2", "--model", "fake-model",
                                                  "--judge-model", judge, *args])


def eval_json(*args: str, judge: str = "fake-judge") -> dict:
    result = run_eval("--json", *args, judge=judge)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return json.loads(result.stdout)


def scores(data: dict) -> dict[str, float | None]:
    return {c["id"]: c["score"] for c in data["cases"]}


# ------------------------------------------------------------------ independent arithmetic
def t_interval(values: list[float]) -> tuple[float, float, tuple[float, float]]:
    n = len(values)
    mean = sum(values) / n
    sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1))
    se = sd / math.sqrt(n)
    half = t_ppf(0.975, n - 1) * se
    return mean, se, (max(0.0, mean - half), min(1.0, mean + half))


def exact_input_tokens(body: dict) -> int:
    """OpenAI's chat accounting over the messages the server actually received (o200k for an unknown model)."""
    enc = get_encoding("o200k_base")
    return 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in body["messages"])


def usage_usd(body: dict, reply: str) -> float:
    """What the ledger should charge: the fake's reported usage at the config's prices."""
    price_in, price_out = PRICES[body["model"]]
    return (default_prompt_tokens(body) * price_in + count_words(reply) * price_out) / 1_000_000


# ================================================================== stats: the hand-computed examples
def test_t_quantile_for_four_degrees_of_freedom():
    assert t_ppf(0.975, 4) == pytest.approx(2.776445105, abs=1e-8)


def test_mean_ci_hand_computed_example():
    est = mean_ci([1, 0, 1, 1, 0.5])
    # mean 3.5/5; squared deviations .09*3 + .49 + .04 = .8; var .8/4 = .2; se sqrt(.2/5) = .2
    assert est.n == 5
    assert est.mean == pytest.approx(0.7)
    assert est.se == pytest.approx(0.2)
    assert est.ci[0] == pytest.approx(0.7 - 2.7764451 * 0.2, abs=1e-7)
    assert est.ci[1] == 1.0  # 0.7 + 0.555 is clipped to the top of the 0..1 scale
    wide = mean_ci([1, 0, 1, 1, 0.5], bounds=(-10.0, 10.0))
    assert wide.ci == pytest.approx((0.7 - 2.7764451 * 0.2, 0.7 + 2.7764451 * 0.2), abs=1e-7)


@pytest.mark.parametrize("value, expected", [
    (1.0, (1.0 - math.log(40) / 20, 1.0)),
    (0.0, (0.0, math.log(40) / 20)),
    (0.5, (0.5 - math.log(40) / 20, 0.5 + math.log(40) / 20)),
])
def test_rule_of_three_ci_when_all_twenty_values_are_equal(value, expected):
    # 20 identical answers do not prove certainty: a rate of -ln(0.025)/n = 3.69/20 could still go unseen (95%,
    # two-sided; the textbook "3/n" is the one-sided version)
    est = mean_ci([value] * 20)
    assert (est.n, est.mean, est.se) == (20, value, 0.0)
    assert est.ci == pytest.approx(expected, abs=1e-12)
    assert est.ci[1] - est.ci[0] > 0


def test_fewer_than_two_values_give_a_point_without_ci():
    assert mean_ci([0.4]).to_dict() == {"n": 1, "mean": 0.4, "se": None, "ci": None, "level": 0.95}
    assert mean_ci([]).to_dict() == {"n": 0, "mean": None, "se": None, "ci": None, "level": 0.95}


# ================================================================== judge scores, summary and money
def test_judge_scores_by_rule_and_the_summary_is_recomputed(repo, fake):
    fake.handler = make_handler()
    data = eval_json()

    assert list(scores(data).values()) == pytest.approx(RULE_SCORES)
    assert [c["judge_reasons"] for c in data["cases"]] == [[f"rule gave {round(s * 10)}"] for s in RULE_SCORES]
    assert [c["outputs"] for c in data["cases"]] == [[a] for a in ANSWERS.values()]

    s = data["summary"]
    mean, se, ci = t_interval(RULE_SCORES)
    assert s["score"]["n"] == 5
    assert s["score"]["mean"] == pytest.approx(mean)
    assert s["score"]["se"] == pytest.approx(se)
    assert s["score"]["ci"] == pytest.approx(list(ci))
    assert s["score"]["level"] == 0.95
    assert (s["passes"], s["graded"], s["judge_errors"]) == (3, 5, 0)
    assert s["pass_rate"] == pytest.approx(3 / 5)

    targets = requests_of(fake, "target")
    assert len(targets) == 5
    # fake-model has no public tokenizer, so input tokens are the counts the endpoint reported (issue 17), not o200k's
    ordered = sorted(targets, key=lambda b: list(ANSWERS).index(user_text(b)))
    inputs = [default_prompt_tokens(b) for b in ordered]
    assert inputs != [exact_input_tokens(b) for b in ordered]  # the two sources differ here, so the test can tell
    outputs = [count_words(a) for a in ANSWERS.values()]
    assert [c["input_tokens"] for c in data["cases"]] == inputs
    assert [c["output_tokens"] for c in data["cases"]] == outputs
    mean_in, mean_out = sum(inputs) / 5, sum(outputs) / 5
    assert s["input_tokens"] == pytest.approx(mean_in)
    assert s["output_tokens"] == pytest.approx(mean_out)
    per_call = (mean_in * 1.0 + mean_out * 2.0) / 1_000_000
    assert s["usd_per_call"] == pytest.approx(per_call)
    assert s["usd_per_month"] == pytest.approx(per_call * CPM)
    assert s["usd_per_usable_output"] == pytest.approx(per_call * 5 / 3)  # spend on 5 answers / 3 usable ones

    handler = make_handler()
    run = data["run"]
    assert run["calls"] == fake.calls == 5 + 1 + 5  # answers, one steps generation, five scorings
    # cases that wait on the one in-flight steps request are counted as cache hits; nothing else is cached
    assert 0 <= run["cache_hits"] <= 4
    assert run["usd_target"] == pytest.approx(sum(usage_usd(b, handler(b)) for b in targets))
    judge_bodies = requests_of(fake, "steps") + requests_of(fake, "score")
    assert run["usd_judge"] == pytest.approx(sum(usage_usd(b, handler(b)) for b in judge_bodies))
    assert run["usd"] == pytest.approx(run["usd_target"] + run["usd_judge"])

    assert data["model"] == "fake-model" and data["judge_model"] == "fake-judge"
    assert (data["template"], data["evalset"], data["repeats"], data["threshold"], data["calls_per_month"]) == \
        ("prompts/x.j2", "evalsets/x.yaml", 1, 0.7, CPM)
    # no public tokenizer for 'fake-model', but the endpoint reported its counts: not an estimate (issue 17)
    assert data["tokens_approximate"] is False and data["tokens_source"] == "server-reported"


def test_the_judge_sees_input_output_and_the_stored_steps(repo, fake):
    fake.handler = make_handler()
    eval_json()
    for body in requests_of(fake, "score"):
        prompt = body["messages"][0]["content"]
        assert "1. Check that the reply says please.\n2. Check that it answers the question." in prompt
        assert f"Input:\n{next(i for i, a in ANSWERS.items() if a == actual_output(body))}" in prompt
        assert body["temperature"] == 0.0
    (steps_request,) = requests_of(fake, "steps")
    assert CRITERIA in steps_request["messages"][0]["content"]


def test_expected_output_reaches_the_judge(repo, fake):
    data = yaml.safe_load(evalset(inputs=["Where is my parcel?"]))
    data["cases"][0]["expected"] = "Gives a delivery estimate."
    write(repo, {"evalsets/x.yaml": yaml.safe_dump(data)})
    fake.handler = make_handler()
    assert scores(eval_json()) == {"c1": pytest.approx(0.9)}
    (score_request,) = requests_of(fake, "score")
    assert "Expected Output:\nGives a delivery estimate." in score_request["messages"][0]["content"]
    (steps_request,) = requests_of(fake, "steps")
    assert "Expected Output" in steps_request["messages"][0]["content"]


def test_the_table_shows_scores_ci_and_money(repo, fake):
    fake.handler = make_handler()
    result = run_eval()
    assert result.exit_code == 0, result.output
    mean, se, ci = t_interval(RULE_SCORES)
    assert f"score: {mean:.3f}  95% CI [{ci[0]:.3f}, {ci[1]:.3f}]  (n=5, se={se:.3f})" in result.stdout
    assert "pass rate at threshold 0.7: 60% (3/5 samples)   judge errors: 0" in result.stdout
    assert "cost per usable output: $0.0000" in result.stdout
    for case in ("c1", "c5"):
        assert case in result.stdout
    assert "plan: 1 variant(s) × 5 cases × 1 repeat(s) = 5 target calls" in result.stderr


# ================================================================== GEval steps: generated once, stored, or given
def geval_files() -> list[Path]:
    """Stored steps live in $PROMPTSLIM_HOME (the autouse fixture's per-test folder)."""
    return sorted((Path(os.environ["PROMPTSLIM_HOME"]) / "geval_steps").glob("*.json"))


def test_steps_are_generated_once_per_criteria_across_runs_and_variants(repo, fake):
    fake.handler = make_handler()
    first = eval_json()
    assert len(requests_of(fake, "steps")) == 1

    (stored,) = geval_files()
    content = json.loads(stored.read_text())
    assert content["steps"] == STEPS and content["criteria"] == CRITERIA and content["model"] == "fake-judge"

    fake.reset()
    fake.handler = make_handler()
    again = eval_json("--no-cache")  # everything asked again, except the stored steps
    assert len(requests_of(fake, "target")) == 5 and len(requests_of(fake, "score")) == 5
    assert requests_of(fake, "steps") == []
    assert scores(again) == scores(first)

    fake.reset()
    # a variant of the template, whose answers differ, so all five are judged afresh
    fake.handler = make_handler(answer=lambda body: answer_by_input(body).replace(".", "!"))
    write(repo, {"prompts/x.j2": TEMPLATE.replace("- Be polite.\n", "")})
    variant = eval_json()
    assert scores(variant) == scores(first)
    assert len(requests_of(fake, "target")) == 5 and len(requests_of(fake, "score")) == 5
    assert requests_of(fake, "steps") == []
    assert len(geval_files()) == 1


def test_new_criteria_get_their_own_steps(repo, fake):
    fake.handler = make_handler()
    eval_json()
    write(repo, {"evalsets/x.yaml": evalset(criteria="The reply is short.")})
    fake.reset()
    fake.handler = make_handler()
    eval_json()
    (steps_request,) = requests_of(fake, "steps")
    assert "The reply is short." in steps_request["messages"][0]["content"]
    assert len(geval_files()) == 2


def test_concurrent_cases_without_cache_still_generate_steps_once(repo, fake):
    write(repo, {"evalsets/x.yaml": evalset(inputs=[f"Question number {i}?" for i in range(12)])})
    fake.handler = make_handler(answer=lambda body: f"Answer to {user_text(body)} please.")
    data = eval_json("--no-cache")
    assert len(requests_of(fake, "steps")) == 1
    assert list(scores(data).values()) == pytest.approx([0.9] * 12)


def test_steps_given_in_the_evalset_make_no_steps_request(repo, fake):
    given = ["Give 10 when the reply says please.", "Give 2 otherwise."]
    write(repo, {"evalsets/x.yaml": evalset(steps=given)})
    fake.handler = make_handler()
    data = eval_json()
    assert requests_of(fake, "steps") == []
    assert len(requests_of(fake, "score")) == 5
    for body in requests_of(fake, "score"):
        assert "1. Give 10 when the reply says please.\n2. Give 2 otherwise." in body["messages"][0]["content"]
    assert list(scores(data).values()) == pytest.approx(RULE_SCORES)
    assert geval_files() == []


# ================================================================== judge errors
BROKEN = '{"score": 9, "reason": "looks fine'  # cut off mid-string


def test_broken_judge_json_is_asked_once_more_then_shown_as_a_judge_error(repo, fake):
    fake.handler = make_handler(score=lambda out: BROKEN if out == "Yes." else by_rule(out))
    data = eval_json()

    broken = [b for b in requests_of(fake, "score") if actual_output(b) == "Yes."]
    assert len(broken) == 2  # attempt 0 and attempt 1: the cache key differs, so the re-ask reaches the server
    # issue 17: the re-ask is not the identical request (at temperature 0 it would get the identical answer back)
    first_ask, re_ask = (b["messages"][0]["content"] for b in broken)
    assert re_ask.startswith(first_ask) and "could not be used" in re_ask[len(first_ask):]
    assert "response_format" not in broken[0] and broken[1]["response_format"] == {"type": "json_object"}
    assert len(requests_of(fake, "score")) == 4 + 2

    case = {c["id"]: c for c in data["cases"]}["c2"]
    assert case["score"] is None and case["judge_errors"] == 1 and case["failures"] == []
    s = data["summary"]
    assert s["judge_errors"] == 1
    rest = [0.9, 0.9, 0.9, 0.2]
    mean, se, ci = t_interval(rest)
    assert (s["score"]["n"], s["graded"], s["passes"]) == (4, 4, 3)
    assert s["score"]["mean"] == pytest.approx(mean)
    assert s["score"]["se"] == pytest.approx(se)
    assert s["score"]["ci"] == pytest.approx(list(ci))
    assert s["pass_rate"] == pytest.approx(3 / 4)

    fake.reset()
    table = run_eval()  # both broken answers are cached: a rerun shows the same error without asking again
    assert table.exit_code == 0, table.output
    assert fake.calls == 0
    assert re.search(r"c2\s+│\s+judge error", table.stdout)
    assert "judge errors: 1" in table.stdout


def test_a_judge_without_a_score_field_is_a_judge_error_not_a_crash(repo, fake):
    fake.handler = make_handler(score=lambda out: '{"verdict": "good"}' if out == "No." else by_rule(out))
    data = eval_json()
    assert scores(data)["c5"] is None
    assert data["summary"]["judge_errors"] == 1
    assert len([b for b in requests_of(fake, "score") if actual_output(b) == "No."]) == 2


# ================================================================== assertions and the judge
def test_judge_none_scores_one_for_passing_assertions_and_zero_for_failing(repo, fake):
    data = yaml.safe_load(evalset())
    for case in data["cases"]:
        case["assert"] = [{"type": "icontains", "value": "please"}, {"type": "max-words", "value": 10}]
    write(repo, {"evalsets/x.yaml": yaml.safe_dump(data)})
    fake.handler = make_handler()
    out = eval_json(judge="none")
    assert {body["model"] for body in fake.requests} == {"fake-model"}
    assert fake.calls == 5
    assert list(scores(out).values()) == [1.0, 0.0, 1.0, 1.0, 0.0]
    assert [c["failures"] for c in out["cases"]] == [[], ["icontains 'please': not found"], [], [],
                                                     ["icontains 'please': not found"]]
    assert out["judge_model"] == "none"
    assert out["summary"]["pass_rate"] == pytest.approx(3 / 5)
    assert out["run"]["usd_judge"] == 0.0


def test_a_failed_assertion_scores_zero_and_skips_the_judge_for_that_case(repo, fake):
    data = yaml.safe_load(evalset())
    data["cases"][0]["assert"] = [{"type": "max-sentences", "value": 1}, {"type": "not-contains", "value": "ships"}]
    data["cases"][2]["assert"] = [{"type": "regex", "value": "(?i)norway"}]
    write(repo, {"evalsets/x.yaml": yaml.safe_dump(data)})
    fake.handler = make_handler()
    out = eval_json()
    judged = sorted(actual_output(b) for b in requests_of(fake, "score"))
    assert ANSWERS["Where is my parcel?"] not in judged
    assert len(judged) == 4
    assert list(scores(out).values()) == pytest.approx([0.0, 0.2, 0.9, 0.9, 0.2])
    assert out["cases"][0]["failures"] == ["not-contains 'ships': found"]
    assert out["cases"][0]["judge_reasons"] == [""]


def test_evalset_without_criteria_runs_without_a_judge(repo, fake):
    data = yaml.safe_load(evalset(criteria=None))
    for case in data["cases"]:
        case["assert"] = [{"type": "contains", "value": "."}]
    write(repo, {"evalsets/x.yaml": yaml.safe_dump(data)})
    fake.handler = make_handler()
    out = eval_json()  # --judge-model fake-judge, but there is nothing for a judge to judge
    assert out["judge_model"] == "none"
    assert {body["model"] for body in fake.requests} == {"fake-model"}
    assert set(scores(out).values()) == {1.0}


# ================================================================== repeats and the cache
def alternating() -> Callable[[dict], str]:
    """Per input, the 1st answer says please and the 2nd and 3rd do not (whatever order samples arrive in)."""
    seen: dict[str, int] = {}
    lock = threading.Lock()

    def answer(body: dict) -> str:
        text = user_text(body)
        with lock:
            k = seen[text] = seen.get(text, -1) + 1
        return f"Sure, please hold on ({k})." if k % 3 == 0 else f"Hold on ({k})."

    return answer


def test_repeats_make_distinct_requests_and_the_case_score_is_the_sample_mean(repo, fake):
    data = yaml.safe_load(evalset())
    for case in data["cases"]:
        case["assert"] = [{"type": "contains", "value": "please"}]
    write(repo, {"evalsets/x.yaml": yaml.safe_dump(data)})
    fake.handler = make_handler(answer=alternating())
    out = eval_json("--repeats", "3", judge="none")

    targets = requests_of(fake, "target")
    assert len(targets) == 15
    for text in ANSWERS:
        same = [b for b in targets if user_text(b) == text]
        assert len(same) == 3  # identical prompts, but sample 0, 1, 2 each reach the server
        # repeats keep the configured temperature (0 by default): a silent switch would measure another setting
        assert all(b.get("temperature", 0) == 0 for b in same)
    assert out["repeats"] == 3
    for case in out["cases"]:
        assert case["score"] == pytest.approx(1 / 3)
        assert len(case["outputs"]) == 3 and len(set(case["outputs"])) == 3
    s = out["summary"]
    assert (s["graded"], s["passes"]) == (15, 5)
    assert s["pass_rate"] == pytest.approx(1 / 3)
    assert s["score"]["n"] == 5 and s["score"]["mean"] == pytest.approx(1 / 3)
    mean_out = sum(count_words(a) for c in out["cases"] for a in c["outputs"]) / 15
    assert s["output_tokens"] == pytest.approx(mean_out)
    assert s["usd_per_usable_output"] == pytest.approx(s["usd_per_call"] * 15 / 5)

    fake.reset()
    again = eval_json("--repeats", "3", judge="none")
    assert fake.calls == 0
    assert scores(again) == scores(out)

    fake.reset()
    fake.handler = make_handler(answer=lambda body: "please, one more")
    eval_json("--repeats", "4", judge="none")
    assert fake.calls == 5  # samples 0..2 come from the cache; only sample 3 of each case is new


def test_a_second_identical_run_makes_zero_calls(repo, fake):
    fake.handler = make_handler()
    first = eval_json()
    assert fake.calls == 11
    fake.reset()
    second = eval_json()
    assert fake.calls == 0
    assert second["cases"] == first["cases"]
    # the summary's own cache-hit count is the one figure that must differ (issue 17 added it)
    assert {k: v for k, v in second["summary"].items() if k != "cache_hits"} == \
        {k: v for k, v in first["summary"].items() if k != "cache_hits"}
    assert (first["summary"]["cache_hits"], second["summary"]["cache_hits"]) == (0, 5)
    assert second["run"]["calls"] == 0
    assert second["run"]["cache_hits"] == 10  # 5 answers + 5 scorings; the steps come from geval_steps/
    assert second["run"]["usd"] == 0.0


def test_no_cache_asks_again(repo, fake):
    fake.handler = make_handler()
    eval_json(judge="none")
    fake.reset()
    fake.handler = make_handler()
    eval_json("--no-cache", judge="none")
    assert fake.calls == 5


# ================================================================== outputs: CSV
def test_csv_rows_read_back_with_pandas(repo, fake, tmp_path):
    data = yaml.safe_load(evalset())
    data["cases"][1]["assert"] = [{"type": "contains", "value": "please"}]
    write(repo, {"evalsets/x.yaml": yaml.safe_dump(data)})
    fake.handler = make_handler()
    result = run_eval("--csv", "out.csv")
    assert result.exit_code == 0, result.output
    assert "wrote out.csv" in result.stdout
    frame = pd.read_csv(repo / "out.csv", keep_default_na=False)
    assert list(frame.columns) == ["id", "score", "passed", "failed_assertions", "judge_errors", "input_tokens",
                                   "output_tokens", "samples", "output", "truncated"]  # issue 17 appends truncated
    assert list(frame["id"]) == ["c1", "c2", "c3", "c4", "c5"]
    assert list(frame["score"]) == pytest.approx([0.9, 0.0, 0.9, 0.9, 0.2])
    assert list(frame["passed"]) == [True, False, True, True, False]
    assert list(frame["failed_assertions"]) == ["", "contains 'please': not found", "", "", ""]
    assert list(frame["output"]) == list(ANSWERS.values())
    assert list(frame["output_tokens"]) == [count_words(a) for a in ANSWERS.values()]
    assert list(frame["samples"]) == [1] * 5
    assert list(frame["judge_errors"]) == [0] * 5


def test_csv_and_json_together(repo, fake):
    fake.handler = make_handler()
    out = eval_json("--csv", "both.csv")
    frame = pd.read_csv(repo / "both.csv")
    assert list(frame["score"]) == pytest.approx([c["score"] for c in out["cases"]])
    assert list(frame["input_tokens"]) == [c["input_tokens"] for c in out["cases"]]


# ================================================================== budget
def test_an_estimate_over_budget_stops_before_any_call(repo, fake):
    fake.handler = make_handler()
    result = run_eval("--max-cost", "0.000001")
    assert result.exit_code == 3
    assert fake.calls == 0
    assert "--yes" in result.stderr and "Traceback" not in result.output


def test_yes_starts_anyway_stops_at_the_budget_and_a_rerun_resumes(repo, fake):
    write(repo, {"promptslim.toml": CONFIG.replace("concurrency = 4", "concurrency = 1")})
    fake.handler = make_handler()
    result = run_eval("--max-cost", "0.000001", "--yes", judge="none")
    assert result.exit_code == 3, result.output
    assert "stopped at the cost budget" in result.stderr
    first = fake.calls
    assert 1 <= first < 5
    fake.reset()
    fake.handler = make_handler()
    eval_json(judge="none")
    assert fake.calls == 5 - first  # completed calls were kept in the cache
