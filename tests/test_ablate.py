"""`promptslim ablate` end to end: planted truth on the fake server, real SDK, every figure recomputed here.

The fake model's answer is a function of the system prompt only:
- "BONJOUR!" leads the answer only when the prompt says "Say BONJOUR" (a load-bearing rule: keep);
- "MERCI." ends it when either of two redundant rules mentions MERCI (each removable alone, not both);
- the body is 4 words under "Keep it short." and 66 words without it (removable by quality, but it costs money);
- the role preamble and the politeness sentence change nothing (filler: removable, and in the slim prompt).
Every case asserts `contains` BONJOUR and MERCI, so a case scores 1 or 0 and the deltas are exact.
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import re
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pandas as pd
import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app

try:
    from tests.fakeserver import Reply
except ImportError:  # tests/ itself on sys.path (no package)
    from fakeserver import Reply  # type: ignore
from promptslim.tokens import get_encoding

MINUS = "\u2212"
N = 40
CPM = 1_000_000
PRICE_IN, PRICE_OUT = 2.0, 8.0  # USD per million tokens, from promptslim.toml
MARGIN = 0.25

PREAMBLE = "You are a friendly assistant for {{ shop }}."
POLITE = "Please be polite and considerate at all times."
BONJOUR = "- Say BONJOUR at the start of every answer."
MERCI_END = "- End with MERCI."
MERCI_FINISH = "- Always finish by saying MERCI."
SHORT = "- Keep it short."
LINES = [PREAMBLE, POLITE, "", BONJOUR, MERCI_END, MERCI_FINISH, SHORT]
SOURCE = "".join(line + "\n" for line in LINES)
UNITS = {1: PREAMBLE, 2: POLITE, 3: BONJOUR, 4: MERCI_END, 5: MERCI_FINISH, 6: SHORT}
K = len(UNITS)
# Two stages: the baseline on all N cases, every variant on the even half, then every variant but BONJOUR (keep at
# the interim look) on the odd half. Then the slim prompt (issue 28: the 30 cases outside the search's quarter can
# verify an unchanged set at margin 0.25, so the eval set is split): the search on every fourth case (10) tries the
# four money-saving units that look harmless there one at a time — the first is its own leave-one-out answers (no
# call), dropping both MERCI rules fails and is skipped — three quarter runs; the other 30 cases then verify the
# three kept units as prefixes of 1, 2 and 3 (the one-unit prefix is a leave-one-out prompt already answered: cache
# hits), two runs on those 30.
SEARCH, VERIFY = N // 4, N - N // 4
SEARCH_RUNS, VERIFY_RUNS = 3, 2
SLIM_HITS = VERIFY
FULL_RUN_CALLS = N + K * N // 2 + (K - 1) * N // 2 + SEARCH_RUNS * SEARCH + VERIFY_RUNS * VERIFY
ALPHA = 0.05

SHOPS = ["Acme", "Globex", "Initech", "Umbrella"]
CASES = [{"id": f"q{i}", "vars": {"shop": SHOPS[i % len(SHOPS)]}, "input": f"Question {i}: where is my order?",
          "assert": [{"type": "contains", "value": "BONJOUR"}, {"type": "contains", "value": "MERCI"}]}
         for i in range(1, N + 1)]
CONFIG = f"""[prompts."p"]
calls_per_month = 1_000_000
[prices."fake-model"]
input = {PRICE_IN}
output = {PRICE_OUT}
"""
ABLATE = ["ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none", "--margin", str(MARGIN), "--yes"]

LONG_BODY = "Here is a long answer that goes on and on: " + " ".join(["detail"] * 56)


# -- the planted truth --------------------------------------------------------------------------------------------


def planted_answer(system: str) -> str:
    parts = []
    if "Say BONJOUR" in system:
        parts.append("BONJOUR!")
    parts.append("Here is the answer." if "Keep it short." in system else LONG_BODY)
    if "MERCI" in system:
        parts.append("MERCI.")
    return " ".join(parts)


def handler(body: dict) -> Reply:
    """The planted answer, with usage counted as a server with o200k_base would: promptslim uses the endpoint's
    count for fake-model, which has no public tokenizer (issue 17), so the figures below recompute that count."""
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    return Reply(planted_answer(system), prompt_tokens=server_tokens(body))


def server_tokens(body: dict) -> int:
    enc = get_encoding("o200k_base")
    return 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in body["messages"])


# -- independent recomputation ------------------------------------------------------------------------------------


def source_without(*ids: int) -> str:
    gone = {UNITS[i] for i in ids}
    return "".join(line + "\n" for line in LINES if line not in gone)


def system_text(source: str, shop: str) -> str:
    return jinja2.Environment(undefined=jinja2.StrictUndefined).from_string(source).render(shop=shop).strip()


def chat_tokens(system: str, user: str) -> int:
    """OpenAI's chat rule with o200k_base: what the planted server reports as usage.prompt_tokens."""
    enc = get_encoding("o200k_base")
    return 3 + sum(3 + len(enc.encode(role)) + len(enc.encode(content))
                   for role, content in (("system", system), ("user", user)))


def figures(source: str) -> tuple[float, float]:
    """(mean input tokens, mean output tokens) per call of a variant over the eval set."""
    inputs, outputs = [], []
    for case in CASES:
        system = system_text(source, case["vars"]["shop"])
        inputs.append(chat_tokens(system, case["input"]))
        outputs.append(len(planted_answer(system).split()))  # the fake's usage rule: completion = words
    return sum(inputs) / N, sum(outputs) / N


def usd_per_call(input_tokens: float, output_tokens: float) -> float:
    return (input_tokens * PRICE_IN + output_tokens * PRICE_OUT) / 1e6


def fake_usage_usd(requests: list[dict]) -> float:
    """What the run paid, from the planted server's usage: prompt = its o200k count, completion = words."""
    total = 0.0
    for body in requests:
        total += usd_per_call(server_tokens(body), len(handler(body).content.split()))
    return total


def rule_of_three(n: int, level: float) -> float:
    """Half-width of the two-sided CI of a mean score when every value is equal (eval's summaries)."""
    return -math.log((1 - level) / 2) / n


def exact_room(n: int, alpha: float) -> float:
    """One-sided exact bound when n paired deltas are all 0: a share 1 − alpha^(1/n) of worse cases could hide."""
    return 1 - alpha ** (1 / n)


def holm_levels(pvalues: list[float]) -> list[float]:
    """Holm's step-down levels, recomputed here: alpha/(K − rank) in p order until the first failure."""
    order = sorted(range(len(pvalues)), key=lambda i: pvalues[i])
    levels, stop = [0.0] * len(pvalues), None
    for rank, i in enumerate(order):
        level = ALPHA / (len(pvalues) - rank)
        if stop is None and pvalues[i] > level:
            stop = level
        levels[i] = level if stop is None else stop
    return levels


# -- repo and CLI helpers -----------------------------------------------------------------------------------------


def make_repo(root: Path, source: str = SOURCE, cases: list[dict] = CASES, config: str = CONFIG) -> Path:
    (root / "prompts").mkdir(parents=True, exist_ok=True)
    (root / "evalsets").mkdir(parents=True, exist_ok=True)
    (root / "prompts" / "p.j2").write_text(source, encoding="utf-8")
    (root / "evalsets" / "p.yaml").write_text(yaml.safe_dump({"cases": cases}, sort_keys=False), encoding="utf-8")
    (root / "promptslim.toml").write_text(config, encoding="utf-8")
    return root


def ablate(*extra: str, args: list[str] | None = None):
    return CliRunner().invoke(app, [*(args or ABLATE), *extra])


def report(root: Path, name: str = "ablation.json") -> Path:
    return root / "reports" / "p" / name


def load(root: Path) -> dict:
    return json.loads(report(root).read_text(encoding="utf-8"))


@pytest.fixture
def repo(tmp_path, monkeypatch, fake) -> Path:
    fake.handler = handler
    root = make_repo(tmp_path / "repo")
    monkeypatch.chdir(root)
    return root


@pytest.fixture(scope="module")
def planted(fake_server, tmp_path_factory):
    """One full ablation and its immediate rerun, shared by the read-only tests below."""
    root = make_repo(tmp_path_factory.mktemp("planted"))
    home = tmp_path_factory.mktemp("planted-home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTSLIM_HOME", str(home))
        mp.setenv("PROMPTSLIM_RETRY_BASE", "0")
        mp.setenv("MPLCONFIGDIR", str(home / "mpl"))
        mp.delenv("GITHUB_STEP_SUMMARY", raising=False)
        mp.setenv("OPENAI_BASE_URL", fake_server.url)
        mp.setenv("OPENAI_API_KEY", "sk-test-SECRET-0123456789")
        mp.chdir(root)
        fake_server.reset()
        fake_server.handler = handler
        first = ablate()
        assert first.exit_code == 0, first.output
        requests = list(fake_server.requests)
        files = {name: report(root, name).read_text(encoding="utf-8")
                 for name in ("ablation.json", "ablation.md", "ablation.csv", "ablation.html", "slim.j2")}
        rerun = ablate()
        assert rerun.exit_code == 0, rerun.output
        rerun_calls = fake_server.calls - len(requests)
        rerun_data = load(root)
        fake_server.reset()
    return SimpleNamespace(root=root, result=first, data=json.loads(files["ablation.json"]), files=files,
                           requests=requests, rerun_calls=rerun_calls, rerun_data=rerun_data)


def unit(data: dict, uid: int) -> dict:
    return next(u for u in data["units"] if u["id"] == uid)


def merci_dropped(data: dict) -> int:
    """Which of the redundant MERCI rules the slim prompt drops (the back-off decides which one goes back)."""
    restored = data["slim"]["restored"]
    assert len(restored) == 1 and restored[0] in (4, 5), restored
    return 9 - restored[0]


def expected_removed(data: dict) -> list[int]:
    return sorted([1, 2, merci_dropped(data)])


# -- verdicts and the slim prompt ---------------------------------------------------------------------------------


def test_removing_a_load_bearing_rule_is_keep(planted):
    bonjour = unit(planted.data, 3)
    assert bonjour["text"] == BONJOUR
    assert bonjour["verdict"] == "keep"
    assert bonjour["score_delta"] == pytest.approx(-1.0)
    assert bonjour["ci"][1] < 0


def test_filler_is_removable(planted):
    for uid in (1, 2):
        u = unit(planted.data, uid)
        assert u["text"] == UNITS[uid]
        assert u["verdict"] == "removable"
        assert u["score_delta"] == pytest.approx(0.0)
        assert u["ci"][0] > -MARGIN


def test_each_redundant_rule_is_removable_alone(planted):
    assert unit(planted.data, 4)["verdict"] == "removable"
    assert unit(planted.data, 5)["verdict"] == "removable"


def test_bounds_are_one_sided_at_the_holm_level(planted):
    # every unit but BONJOUR changes no answer: 40 deltas of 0, p = (1 − margin)^40; BONJOUR stopped at the interim
    p_zero = (1 - MARGIN) ** N
    pvalues = [1.0 if uid == 3 else p_zero for uid in UNITS]
    levels = holm_levels(pvalues)
    for (uid, level), p in zip(zip(UNITS, levels), pvalues):
        u = unit(planted.data, uid)
        assert u["p_value"] == pytest.approx(p, rel=1e-9)
        assert u["holm_level"] == pytest.approx(level)
        if uid != 3:
            # lower bound at Holm's level; keep's upper bound at 4.9% (0.1% went to the interim look)
            assert u["ci"] == pytest.approx([-exact_room(N, level), exact_room(N, ALPHA - 0.001)], abs=1e-6)
            assert u["n"] == N and u["stage"] == 2
    bonjour = unit(planted.data, 3)
    assert bonjour["n"] == N // 2 and bonjour["stage"] == 1  # keep on the even half: the odd half was not run
    assert bonjour["ci"] == pytest.approx([-1.0, -1.0 + 2 * exact_room(N // 2, 0.001)], abs=1e-6)


def test_the_slim_prompt_drops_filler_and_keeps_what_matters(planted):
    slim_text = planted.files["slim.j2"]
    kept = [line for line in slim_text.splitlines() if line.strip()]
    assert PREAMBLE not in kept and POLITE not in kept
    assert BONJOUR in kept
    assert SHORT in kept  # removable by quality, but its removal costs more output than it saves input
    assert (MERCI_END in kept) != (MERCI_FINISH in kept)  # exactly one of the redundant pair survives
    assert slim_text == source_without(*expected_removed(planted.data)).lstrip("\n")
    slim = planted.data["slim"]
    assert slim["removed"] == expected_removed(planted.data)
    assert slim["verdict"] == "removable"
    assert slim["path"] == "reports/p/slim.j2"


def test_the_combined_check_catches_the_interaction(planted):
    slim = planted.data["slim"]
    put_back = slim["restored"][0]  # both MERCI rules out fails every case: one of them is put back
    assert put_back == 9 - merci_dropped(planted.data)
    assert UNITS[put_back] in planted.files["slim.j2"]
    assert UNITS[merci_dropped(planted.data)] not in planted.files["slim.j2"]
    md = planted.files["ablation.md"]
    assert re.search(rf"Restored: {put_back}\b", md)
    # the search tried the set without both rules on its quarter; every one of its answers lacked MERCI, and the
    # set was skipped, never verified on the other cases
    both_gone = [r for r in planted.requests if "MERCI" not in r["messages"][0]["content"]]
    assert len(both_gone) == SEARCH
    searched = {CASES[i]["input"] for i in range(0, N, 4)}  # every other stage-1 case: every fourth, from the first
    assert {r["messages"][-1]["content"] for r in both_gone} == searched
    search = [st for st in slim["steps"] if st["stage"] == 1]
    assert [st["verified"] for st in search].count(False) == 1 and 4 in search[-1]["removed"] + search[-2]["removed"]


def test_a_rule_whose_removal_costs_money_is_not_in_the_slim_prompt(planted):
    short = unit(planted.data, 6)
    assert short["verdict"] == "removable"
    assert short["output_tokens_delta"] > short["input_tokens_saved"]
    assert short["usd_per_month_saved"] < 0
    assert 6 not in planted.data["slim"]["removed"]
    assert 6 not in planted.data["slim"]["restored"]


# -- the numbers, recomputed --------------------------------------------------------------------------------------


def test_token_and_money_figures_per_unit_match_an_independent_count(planted):
    base_in, base_out = figures(SOURCE)
    for uid, text in UNITS.items():
        var_in, var_out = figures(source_without(uid))
        u = unit(planted.data, uid)
        saved, delta = base_in - var_in, var_out - base_out
        assert u["input_tokens_saved"] == pytest.approx(saved, abs=1e-3), text
        assert u["output_tokens_delta"] == pytest.approx(delta, abs=1e-3), text
        per_call = (saved * PRICE_IN - delta * PRICE_OUT) / 1e6
        assert u["usd_per_call_saved"] == pytest.approx(per_call, rel=1e-9, abs=1e-12), text
        assert u["usd_per_month_saved"] == pytest.approx(per_call * CPM, rel=1e-9, abs=1e-6), text
        assert u["tokens"] == len(get_encoding("o200k_base").encode(text)), text
        assert u["line"] == LINES.index(text) + 1


def test_baseline_figures(planted):
    base_in, base_out = figures(SOURCE)
    b = planted.data["baseline"]
    assert b["input_tokens"] == pytest.approx(base_in, abs=1e-3)
    assert b["output_tokens"] == pytest.approx(base_out, abs=1e-3)
    assert b["score"] == 1.0 and b["pass_rate"] == 1.0
    assert b["ci"] == pytest.approx([1 - rule_of_three(N, 0.95), 1.0], abs=1e-6)
    per_call = usd_per_call(base_in, base_out)
    assert b["usd_per_call"] == pytest.approx(per_call)
    assert b["usd_per_month"] == pytest.approx(per_call * CPM)
    assert b["usd_per_usable_output"] == pytest.approx(per_call)  # every output is usable


def test_slim_and_run_figures(planted):
    data = planted.data
    base_in, base_out = figures(SOURCE)
    slim_in, slim_out = figures(source_without(*expected_removed(data)))
    slim = data["slim"]
    assert slim["input_tokens"] == pytest.approx(slim_in, abs=1e-3)
    assert slim["output_tokens"] == pytest.approx(slim_out, abs=1e-3)
    saved = usd_per_call(base_in, base_out) - usd_per_call(slim_in, slim_out)
    assert slim["usd_per_month_saved"] == pytest.approx(saved * CPM)
    assert slim["score_delta"] == 0.0
    # verified on the 30 cases the search did not look at, one-sided 95%: the exact bound on 30 zeros
    room = exact_room(VERIFY, ALPHA)
    assert slim["ci"] == pytest.approx([-room, room], abs=1e-6) and slim["n"] == VERIFY
    assert [st["stage"] for st in slim["steps"]] == [1] * 4 + [2] * 3
    run = data["run"]
    assert run["calls"] == FULL_RUN_CALLS == len(planted.requests)
    assert run["cache_hits"] == SLIM_HITS  # the one-unit prefix is a leave-one-out prompt already answered
    assert run["usd"] == pytest.approx(fake_usage_usd(planted.requests))
    assert run["payback_hours"] == pytest.approx(run["usd"] / (saved * CPM / (30 * 24)))


def test_ablation_json_has_every_design_key(planted):
    data = planted.data
    design = {"template", "template_sha256", "git_commit", "model", "judge_model", "evalset", "cases", "repeats",
              "margin", "calls_per_month", "tokens_approximate", "baseline", "units", "slim", "run"}
    assert design <= data.keys()
    assert {"input_tokens", "output_tokens", "score", "ci", "pass_rate", "usd_per_call", "usd_per_month",
            "usd_per_usable_output"} <= data["baseline"].keys()
    for u in data["units"]:
        assert {"id", "line", "text", "tokens", "input_tokens_saved", "output_tokens_delta", "score_delta", "ci",
                "verdict", "usd_per_month_saved"} <= u.keys()
        assert {"usd_per_call_saved", "n"} <= u.keys()  # extras
    assert {"removed", "path", "input_tokens", "output_tokens", "score", "score_delta", "ci", "verdict",
            "usd_per_month_saved", "restored"} <= data["slim"].keys()
    assert {"calls", "cache_hits", "usd", "wall_seconds", "payback_hours"} <= data["run"].keys()
    assert {"price_model", "method", "inconclusive_hint", "pinned", "created_at", "schema_version", "power"} <= data.keys()
    assert data["schema_version"] == 2
    assert data["method"].startswith("ni-pseudo-t+exact-guard+bet/holm/split-slim")
    assert data["template"] == "prompts/p.j2"
    assert data["template_sha256"] == hashlib.sha256(SOURCE.encode()).hexdigest()
    assert data["git_commit"] is None  # not a git repository
    assert (data["model"], data["judge_model"], data["evalset"]) == ("fake-model", "none", "evalsets/p.yaml")
    assert (data["cases"], data["repeats"], data["margin"], data["calls_per_month"]) == (N, 1, MARGIN, CPM)
    # fake-model has no public tokenizer, but the endpoint reports its counts: used, and not an estimate (issue 17)
    assert data["tokens_approximate"] is False and data["tokens_source"] == "server-reported"
    assert [u["id"] for u in data["units"]] == list(UNITS)
    assert data["pinned"] == [] and data["inconclusive_hint"] is None


# -- the human reports --------------------------------------------------------------------------------------------


def test_markdown_headline(planted):
    base_in, base_out = figures(SOURCE)
    slim_in, slim_out = figures(source_without(*expected_removed(planted.data)))
    saved = base_in - slim_in
    pct = round(saved / base_in * 100)
    half = exact_room(VERIFY, ALPHA)
    dollars = round((usd_per_call(base_in, base_out) - usd_per_call(slim_in, slim_out)) * CPM)
    expected = (f"remove 3 of {K} instructions: {MINUS}{saved:.0f} tokens/call ({MINUS}{pct}%), "
                f"quality 0.000 [{MINUS}{half:.3f}, +{half:.3f}], {MINUS}${dollars}/month")
    assert f"**{expected}**" in planted.files["ablation.md"]


def test_csv_has_one_row_per_unit(planted):
    frame = pd.read_csv(io.StringIO(planted.files["ablation.csv"]))
    assert len(frame) == K
    assert frame["id"].tolist() == list(UNITS)
    assert frame["verdict"].tolist() == [u["verdict"] for u in planted.data["units"]]
    assert frame.loc[frame["in_slim"], "id"].tolist() == expected_removed(planted.data)
    # a bullet's text starts with "-", a live formula in a spreadsheet: written with OWASP's leading quote
    assert frame["text"].tolist() == [("'" + t if t[:1] in "=+-@" else t) for t in UNITS.values()]


def test_html_is_self_contained(planted):
    html = planted.files["ablation.html"]
    assert "<svg" in html
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert not re.search(r"url\(\s*['\"]?\s*(?:https?:)?//", html, re.I)
    assert "Say BONJOUR" in html


def test_without_write_the_template_is_untouched(planted):
    assert (planted.root / "prompts" / "p.j2").read_text(encoding="utf-8") == SOURCE


def test_rerun_makes_zero_calls(planted):
    assert planted.rerun_calls == 0
    assert planted.rerun_data["run"]["calls"] == 0
    assert planted.rerun_data["run"]["cache_hits"] == FULL_RUN_CALLS + SLIM_HITS
    assert planted.rerun_data["slim"]["removed"] == planted.data["slim"]["removed"]


def test_progress_never_shows_more_done_than_total(planted):
    # CliRunner's stderr is not a terminal: progress comes as lines (tests/test_progress_log.py), one per phase
    lines = [line for line in planted.result.stderr.splitlines() if line.startswith("progress: ")]
    assert len([line for line in lines if " case(s) to grade · " in line]) >= 3  # baseline, leave-one-out, slim
    bars = [tuple(map(int, m.groups())) for m in (re.search(r" (\d+)/(\d+) cases · ", x) for x in lines) if m]
    assert all(done <= total for done, total in bars), bars


def test_headline_is_printed_on_one_line(planted):
    headline = re.search(r"^\*\*(remove .*)\*\*$", planted.files["ablation.md"], re.M).group(1)
    assert headline in planted.result.stdout.splitlines()


# -- runs that change state ---------------------------------------------------------------------------------------


def test_write_applies_the_slim_template_in_place(repo, fake):
    first = ablate()
    assert first.exit_code == 0, first.output
    assert (repo / "prompts" / "p.j2").read_text(encoding="utf-8") == SOURCE
    calls = fake.calls
    second = ablate("--write")
    assert second.exit_code == 0, second.output
    assert fake.calls == calls  # everything came from the cache
    slim = report(repo, "slim.j2").read_text(encoding="utf-8")
    assert (repo / "prompts" / "p.j2").read_text(encoding="utf-8") == slim
    assert "git diff prompts/p.j2" in second.stdout


def test_editing_one_instruction_only_pays_for_the_variants_that_changed(repo, fake):
    assert ablate().exit_code == 0
    before = fake.calls
    assert before == FULL_RUN_CALLS
    edited = SOURCE.replace("polite and considerate", "polite and kind")
    (repo / "prompts" / "p.j2").write_text(edited, encoding="utf-8")
    result = ablate()
    assert result.exit_code == 0, result.output
    new = fake.requests[before:]
    # the edited sentence is in the baseline and in the variants that drop one of the other 5 units (on both halves,
    # but BONJOUR's variant only on the first: it is keep at the interim look); the variant without it and every
    # slim prompt (all drop it, or equal a leave-one-out prompt) render exactly as before and come from the cache
    assert len(new) == N + (K - 1) * N // 2 + (K - 2) * N // 2
    assert all("polite and kind" in body["messages"][0]["content"] for body in new)
    data = load(repo)
    assert data["run"]["calls"] == len(new)
    assert data["run"]["cache_hits"] == FULL_RUN_CALLS + SLIM_HITS - len(new)
    assert unit(data, 2)["text"] == "Please be polite and kind at all times."


def test_a_budget_stop_exits_3_and_a_rerun_resumes(repo, fake):
    stopped = ablate("--max-cost", "0.01")
    assert stopped.exit_code == 3, stopped.output
    assert "budget" in stopped.stderr and "rerun" in stopped.stderr and "resume" in stopped.stderr
    paid = fake.calls
    assert 0 < paid < FULL_RUN_CALLS
    assert fake_usage_usd(fake.requests) >= 0.01
    assert not report(repo).exists()  # nothing half-written; the answers so far are in the cache
    resumed = ablate("--max-cost", "5")
    assert resumed.exit_code == 0, resumed.output
    data = load(repo)
    # every call paid before the stop is reused (plus the one-unit slim prefix, a leave-one-out prompt)
    assert data["run"]["cache_hits"] == paid + SLIM_HITS
    assert fake.calls == data["run"]["calls"] + data["run"]["cache_hits"] - SLIM_HITS == FULL_RUN_CALLS  # none paid twice
    assert data["slim"]["removed"] == expected_removed(data)


def test_repeats_2_doubles_target_calls(repo, fake):
    result = ablate("--repeats", "2", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["repeats"] == 2
    assert fake.calls == data["run"]["calls"] == 2 * FULL_RUN_CALLS
    # repeats stay at the configured temperature (0 here): the ablation measures the setting that ships
    assert all(body.get("temperature", 0) == 0 for body in fake.requests)
    assert unit(data, 1)["n"] == N  # repeats sharpen a case's score, they do not add cases
    assert data["slim"]["removed"] == expected_removed(data)


def test_a_pinned_unit_is_never_dropped_nor_listed(tmp_path, monkeypatch, fake):
    fake.handler = handler
    pinned = SOURCE.replace(POLITE, "{# promptslim: keep #}\n" + POLITE)
    root = make_repo(tmp_path / "repo", source=pinned)
    monkeypatch.chdir(root)
    result = ablate()
    assert result.exit_code == 0, result.output
    data = load(root)
    assert data["pinned"] == [2]
    assert [u["id"] for u in data["units"]] == [1, 3, 4, 5, 6]
    assert all(u["text"] != POLITE for u in data["units"])
    assert 2 not in data["slim"]["removed"]
    assert POLITE in report(root, "slim.j2").read_text(encoding="utf-8")
    assert PREAMBLE not in report(root, "slim.j2").read_text(encoding="utf-8")
    assert "over 5 units" in data["method"]  # Bonferroni over the candidates only
    # no request ever went without the pinned sentence
    assert all(POLITE in body["messages"][0]["content"] for body in fake.requests)


def test_a_template_with_no_removable_units_exits_2(tmp_path, monkeypatch, fake):
    fake.handler = handler
    source = "# Rules\n{# promptslim: keep #}\n- Say BONJOUR and MERCI.\n{{ shop }}\n"
    root = make_repo(tmp_path / "repo", source=source)
    monkeypatch.chdir(root)
    result = ablate()
    assert result.exit_code == 2
    assert "prompts/p.j2" in result.stderr and "no removable units" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert fake.calls == 0
    assert not report(root).exists()


def test_the_inconclusive_hint_appears_when_units_are_inconclusive(tmp_path, monkeypatch, fake):
    fake.handler = handler
    root = make_repo(tmp_path / "repo", cases=CASES[:5])
    monkeypatch.chdir(root)
    args = [*ABLATE[:-3], "--margin", "0.01", "--yes"]
    result = ablate(args=args)
    assert result.exit_code == 0, result.output
    data = load(root)
    # five all-−1 deltas are enough for keep (one-sided 95% per unit); the rest change nothing, and five cases
    # cannot show that (the exact bound leaves room for 1 − 0.05^(1/5) = 45% worse cases)
    assert unit(data, 3)["verdict"] == "keep"
    assert {u["verdict"] for u in data["units"] if u["id"] != 3} == {"inconclusive"}
    hint = data["inconclusive_hint"]
    assert hint and hint.startswith(f"{K - 1} of {K} units are inconclusive at 5 cases")
    # what would settle them, priced; and when repeats help
    assert "cases in a new, larger eval set" in hint and " calls, ~$" in hint
    assert "at the pace of earlier calls to this endpoint and model" in hint and "time unknown" not in hint
    assert "--repeats helps only when" in hint
    assert " ".join(hint.split()) in " ".join(result.stdout.split())  # printed (rich may wrap it)
    # no slim prompt verified: the slim verdict is the first step's by the unit rules, one of the three documented
    first = data["slim"]["steps"][0]
    assert data["slim"]["removed"] == []
    assert data["slim"]["verdict"] == ("keep" if first["ci"][1] < 0 else "inconclusive") != "none"
    # the first slim step is a one-unit prompt already answered (cache) and fails: no new slim calls
    assert fake.calls == (1 + K) * 5
    assert data["slim"]["steps"][0]["verified"] is False and len(data["slim"]["steps"]) == 1
    md = report(root, "ablation.md").read_text(encoding="utf-8")
    assert f"not enough evidence to remove anything: {K - 1} of {K} units inconclusive, 1 keep at 5 cases" in md
    assert "no instruction can be removed" not in md


def test_the_slim_prompt_never_costs_more_than_the_baseline(tmp_path, monkeypatch, fake):
    fake.handler = handler
    source = "".join(line + "\n" for line in [PREAMBLE, BONJOUR, MERCI_END, SHORT, "- Keep it short. No padding."])
    root = make_repo(tmp_path / "repo", source=source)
    monkeypatch.chdir(root)
    result = ablate()
    assert result.exit_code == 0, result.output
    slim = load(root)["slim"]
    assert 1 in slim["removed"]  # the filler still goes
    assert slim["usd_per_month_saved"] >= 0
    assert "Keep it short." in report(root, "slim.j2").read_text(encoding="utf-8")


def test_the_slim_search_skips_a_set_that_breaks_and_goes_on(tmp_path, monkeypatch, fake):
    fake.handler = handler
    spelling, notes = "- Use British spelling.", "- Never share internal notes."
    source = "".join(line + "\n" for line in [BONJOUR, MERCI_END, MERCI_FINISH, SHORT, spelling, notes])
    root = make_repo(tmp_path / "repo", source=source)
    monkeypatch.chdir(root)
    result = ablate()
    assert result.exit_code == 0, result.output
    data = load(root)
    slim = data["slim"]
    # the search's order: money-saving units that look harmless on the even half, by $ saved (ties by id) — every
    # leave-one-out answer here is the same on both halves, so the order is the whole-set one
    saved = {u["id"]: u["usd_per_call_saved"] for u in data["units"]}
    order = sorted((uid for uid in (2, 3, 5, 6)), key=lambda uid: (-round(saved[uid], 12), uid))
    assert order[:2] == [3, 2]
    search = [(step["removed"], step["verified"]) for step in slim["steps"] if step["stage"] == 1]
    # {3} holds; {3, 2} drops both MERCI rules and fails every case: skipped, and the search goes on (before issue 28
    # the sequence stopped there and shipped {3} alone)
    assert search == [([3], True), ([2, 3], False), (sorted([3, order[2]]), True), ([3, 5, 6], True)]
    verify = [(step["removed"], step["verified"]) for step in slim["steps"] if step["stage"] == 2]
    assert verify == [([3], True), (sorted([3, order[2]]), True), ([3, 5, 6], True)]
    assert slim["removed"] == [3, 5, 6] and slim["verdict"] == "removable"
    assert slim["restored"] == [2]  # removable alone, but not together with 3


# -- the golden file: this refactor-proof record of the planted run -----------------------------------------------

GOLDEN = Path(__file__).parent / "golden" / "planted_ablation.json"
VOLATILE = {"created_at", "wall_seconds", "git_commit"}  # the clock and the repository, nothing the method decides


def same_json(actual, expected, where: str = "$") -> list[str]:
    """Differences between two JSON values: keys in the same order, equal values; floats equal to 12 digits,
    because the run's own $ is summed in the order concurrent answers arrive."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        if list(actual) != list(expected):
            return [f"{where}: keys {list(actual)} != {list(expected)}"]
        return [d for k in expected if k not in VOLATILE for d in same_json(actual[k], expected[k], f"{where}.{k}")]
    if isinstance(expected, list) and isinstance(actual, list):
        if len(actual) != len(expected):
            return [f"{where}: length {len(actual)} != {len(expected)}"]
        return [d for i, (a, e) in enumerate(zip(actual, expected)) for d in same_json(a, e, f"{where}[{i}]")]
    if isinstance(expected, float) and isinstance(actual, float) and type(actual) is type(expected):
        return [] if math.isclose(actual, expected, rel_tol=1e-12, abs_tol=1e-15) else [f"{where}: {actual} != {expected}"]
    if type(actual) is not type(expected) or actual != expected:
        return [f"{where}: {actual!r} != {expected!r}"]
    return []


def test_the_planted_ablation_json_satisfies_the_shipped_schema(planted):
    import jsonschema

    from promptslim.results import shipped_schema

    jsonschema.validate(planted.data, shipped_schema(), cls=jsonschema.Draft202012Validator)


def test_the_planted_ablation_json_is_unchanged_apart_from_clock_and_commit(planted):
    golden = json.loads(GOLDEN.read_text(encoding="utf-8"))
    assert same_json(planted.data, golden) == []
    # written as before: two-space indent, non-ASCII kept, one trailing newline (so the bytes match once the
    # volatile values match)
    text = planted.files["ablation.json"]
    assert text == json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n"
    assert GOLDEN.read_text(encoding="utf-8") == json.dumps(golden, indent=2, ensure_ascii=False) + "\n"
