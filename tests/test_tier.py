"""`promptslim tier`: the same template on candidate models against the configured model, over real HTTP.

The configured model ("big-model") and a weak candidate ("cheap-bad") answer on the session's fake server; the good
candidate ("cheap-good") on a second fake server of its own, named by [models."cheap-good"] in the config, with its
own key variable. Every figure asserted is recomputed here from what the servers saw and the configured prices.
"""

from __future__ import annotations

import json
import math

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.results import shipped_tier_schema, tier_schema

try:
    from tests.fakeserver import FakeServer, count_words, default_prompt_tokens
except ImportError:  # tests/ itself on sys.path (no package)
    from fakeserver import FakeServer, count_words, default_prompt_tokens  # type: ignore

N = 80  # all-equal deltas clear Holm's first level 0.05/2 from 72 cases on: 0.95^72 < 0.025
MARGIN = 0.05
CALLS = 500_000
CACHED = 0.5  # half the input billed at each model's cached-input price
PRICES = {"big-model": (5.0, 2.5, 20.0), "cheap-good": (0.2, 0.05, 0.8), "cheap-bad": (0.1, 0.025, 0.4)}
BAD_FAILS = {i for i in range(N) if i % 4 == 0}  # the weak model drops the order number in 20 of 80 cases
SECOND_KEY = "sk-second-endpoint-SECRET-42"
SOURCE = "You answer questions about orders.\n- Always quote the order number as ORDER-<n>.\n"


def answer(body: dict) -> str:
    n = int(body["messages"][-1]["content"].split()[1].rstrip(":"))
    if body["model"] == "cheap-bad" and n in BAD_FAILS:
        return "Your parcel is on its way."
    words = "Your order ORDER-%d ships tomorrow." % n
    return words + (" Thank you for your patience, we appreciate it." if body["model"] == "big-model" else "")


def config(second_url: str) -> str:
    text = f'model = "big-model"\n[prompts."p"]\ncalls_per_month = {CALLS}\ncached_input_fraction = {CACHED}\n'
    text += f'[models."cheap-good"]\nbase_url = "{second_url}"\napi_key_env = "SECOND_KEY"\n'
    for model, (i, c, o) in PRICES.items():
        text += f'[prices."{model}"]\ninput = {i}\ncached_input = {c}\noutput = {o}\n'
    return text


@pytest.fixture
def second():
    with FakeServer() as server:
        server.handler = answer
        yield server


@pytest.fixture
def repo(make_repo, fake, second, monkeypatch):
    fake.handler = answer
    monkeypatch.setenv("SECOND_KEY", SECOND_KEY)
    cases = [{"id": f"q{i}", "input": f"Question {i}: where is my order?",
              "assert": [{"type": "contains", "value": f"ORDER-{i}"}]} for i in range(N)]
    return make_repo({"promptslim.toml": config(second.url), "prompts/p.j2": SOURCE,
                      "evalsets/p.yaml": yaml.safe_dump({"cases": cases}, sort_keys=False)})


def per_call(model: str, bodies: list[dict]) -> tuple[float, float, float]:
    """Mean input and output tokens as the server counted them, and $/call at the model's configured prices."""
    mine = [b for b in bodies if b["model"] == model]
    assert len(mine) == N
    tokens_in = sum(default_prompt_tokens(b) for b in mine) / N
    tokens_out = sum(count_words(answer(b)) for b in mine) / N
    price_in, price_cached, price_out = PRICES[model]
    usd = (tokens_in * (1 - CACHED) * price_in + tokens_in * CACHED * price_cached + tokens_out * price_out) / 1e6
    return tokens_in, tokens_out, usd


def test_a_non_inferior_cheaper_model_is_recommended_and_a_worse_one_is_not(repo, fake, second):
    result = CliRunner().invoke(app, ["tier", "prompts/p.j2", "--model", "cheap-good", "--model", "cheap-bad",
                                      "--judge-model", "none", "--yes"])
    assert result.exit_code == 0, result.output
    # the good candidate went to its own endpoint with its own key; the others never saw it
    assert {b["model"] for b in second.requests} == {"cheap-good"} and len(second.requests) == N
    assert {h["authorization"] for h in second.request_headers} == {f"Bearer {SECOND_KEY}"}
    assert {b["model"] for b in fake.requests} == {"big-model", "cheap-bad"} and len(fake.requests) == 2 * N
    data = json.loads((repo / "reports" / "p" / "tier.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, shipped_tier_schema(), cls=jsonschema.Draft202012Validator)
    assert data["model"] == "big-model" and data["margin"] == MARGIN and data["cases"] == N
    models = {m["model"]: m for m in data["models"]}
    good, bad = models["cheap-good"], models["cheap-bad"]
    # cheap-good changes no score: 80 deltas of 0, p = 0.95^80, Holm's first level 0.05/2
    assert good["verdict"] == "non-inferior" and good["score_delta"] == 0.0
    assert good["p_value"] == pytest.approx(0.95 ** N) and good["holm_level"] == pytest.approx(0.025)
    assert good["ci"][0] == pytest.approx(0.025 ** (1 / N) - 1, abs=1e-6)
    # cheap-bad fails 20 of 80 cases: mean delta −0.25, the plain t upper bound far below 0
    deltas = [-1.0 if i in BAD_FAILS else 0.0 for i in range(N)]
    mean = sum(deltas) / N
    sd = math.sqrt(sum((d - mean) ** 2 for d in deltas) / (N - 1))
    assert bad["verdict"] == "worse" and bad["score_delta"] == pytest.approx(-0.25)
    assert bad["ci"][1] == pytest.approx(mean + 1.6646 * sd / math.sqrt(N), abs=1e-3)
    # money at each model's own prices (cached-input share included), from the servers' own token counts
    bodies = fake.requests + second.requests
    base_in, base_out, base_usd = per_call("big-model", bodies)
    good_in, good_out, good_usd = per_call("cheap-good", bodies)
    assert data["baseline"]["input_tokens"] == pytest.approx(base_in)
    assert data["baseline"]["usd_per_call"] == pytest.approx(base_usd)
    assert (good["input_tokens"], good["output_tokens"]) == (pytest.approx(good_in), pytest.approx(good_out))
    assert good["usd_per_call"] == pytest.approx(good_usd)
    assert good["usd_per_month"] == pytest.approx(good_usd * CALLS)
    assert good["tokens_source"] == "server-reported" and good["price"]["kind"] == "config"
    assert good["usd_per_usable_output"] == pytest.approx(good_usd)  # every answer usable
    bad_usd = per_call("cheap-bad", bodies)[2]
    assert bad["usd_per_usable_output"] == pytest.approx(bad_usd * N / (N - len(BAD_FAILS)))
    # cheap-bad is cheaper still, but worse: the recommendation is cheap-good, with its $/month saving
    assert bad["usd_per_call"] < good["usd_per_call"]
    assert data["recommendation"] == "cheap-good"
    assert data["usd_per_month_saved"] == pytest.approx((base_usd - good_usd) * CALLS)
    # the run's own spend: each call billed at its own model's list input price (the fake reports no cached tokens)
    billed = {m: sum(default_prompt_tokens(b) * PRICES[m][0] + count_words(answer(b)) * PRICES[m][2]
                     for b in bodies if b["model"] == m) / 1e6 for m in PRICES}
    assert data["run"]["usd_candidates"] == pytest.approx(billed["cheap-good"] + billed["cheap-bad"])
    assert data["run"]["usd_target"] == pytest.approx(billed["big-model"])
    md = (repo / "reports" / "p" / "tier.md").read_text(encoding="utf-8")
    assert "cheap-good is non-inferior to big-model" in md and "← recommended" in md
    assert "Measurably worse than big-model: cheap-bad" in md
    assert "cheap-good is non-inferior" in result.output and "tier.json" in result.output
    for text in (result.output, md, json.dumps(data)):
        assert SECOND_KEY not in text and "sk-test-SECRET" not in text


def test_the_table_in_a_pipe_keeps_one_line_per_model(repo, fake, second):
    """Issue 24: in a pipe rich assumed 80 columns and cut every cell of the ten-column table into pieces."""
    result = CliRunner().invoke(app, ["tier", "prompts/p.j2", "--model", "cheap-good", "--model", "cheap-bad",
                                      "--judge-model", "none", "--yes"])  # CliRunner's stdout is not a terminal
    assert result.exit_code == 0, result.output
    rows = {line.split("│")[1].strip(): [c.strip() for c in line.split("│")[2:-1]]
            for line in result.stdout.splitlines() if line.startswith("│ ")}
    assert set(rows) == {"big-model (baseline)", "cheap-good", "cheap-bad"}  # one line each, no wrapped remainder
    assert rows["cheap-good"][2] == "non-inferior ← recommended" and rows["cheap-bad"][2] == "worse"
    assert all(len(cells) == 9 for cells in rows.values())


def test_rerun_is_answered_from_the_cache(repo, fake, second):
    args = ["tier", "prompts/p.j2", "--model", "cheap-good", "--judge-model", "none", "--yes", "--json"]
    first = CliRunner().invoke(app, args)
    assert first.exit_code == 0, first.output
    calls = len(fake.requests) + len(second.requests)
    again = CliRunner().invoke(app, args)
    assert again.exit_code == 0, again.output
    assert len(fake.requests) + len(second.requests) == calls
    data = json.loads(again.stdout)
    assert data["run"]["calls"] == 0 and data["run"]["cache_hits"] == 2 * N
    assert data["recommendation"] == "cheap-good"


@pytest.mark.parametrize("args, message", [
    (["tier", "prompts/p.j2"], "name at least one candidate with --model"),
    (["tier", "prompts/p.j2", "--model", "big-model"], "is the configured model (the baseline)"),
    (["tier", "prompts/p.j2", "--model", "cheap-good", "--model", "cheap-good"], "--model cheap-good is given twice"),
    (["tier", "prompts/p.j2", "--model", "no-such-model-xyz"], "no price for model 'no-such-model-xyz'"),
])
def test_bad_input_is_one_line_and_exit_2_before_any_call(repo, fake, second, args, message):
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert fake.requests == [] and second.requests == []


def test_an_unknown_key_in_a_models_table_names_its_line(make_repo):
    make_repo({"promptslim.toml": 'model = "m"\n[models."llama3"]\nbase_url = "http://127.0.0.1:1/v1"\nkey = "x"\n',
               "prompts/p.j2": "Hi.\n", "evalsets/p.yaml": "cases:\n  - {id: a, input: hi}\n"})
    result = CliRunner().invoke(app, ["tier", "prompts/p.j2", "--model", "llama3"])
    assert result.exit_code == 2
    assert "promptslim.toml:4: unknown key 'models.\"llama3\".key'" in result.stderr


def test_the_shipped_tier_schema_is_the_generated_one():
    assert shipped_tier_schema() == tier_schema()


def test_report_shows_the_best_proven_saving_per_lever(repo, fake, second):
    result = CliRunner().invoke(app, ["tier", "prompts/p.j2", "--model", "cheap-good", "--model", "cheap-bad",
                                      "--judge-model", "none", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    tier = json.loads(result.stdout)
    report = CliRunner().invoke(app, ["report", "--json"])
    assert report.exit_code == 0, report.output
    (entry,) = json.loads(report.stdout)["entries"]
    assert entry["levers"] == [{"lever": "model", "usd_per_month_saved": pytest.approx(tier["usd_per_month_saved"]),
                                "detail": "cheap-good instead of big-model", "report": "reports/p/tier.md",
                                "stale": False}]
    md = (repo / "reports" / "index.md").read_text(encoding="utf-8")
    saved = f"${tier['usd_per_month_saved']:,.2f}"
    assert "## Best proven saving per lever" in md
    assert f"| `prompts/p.j2` | — | — | {saved} (cheap-good instead of big-model) |" in md
    # the template changes: the tier result no longer describes it
    (repo / "prompts" / "p.j2").write_text(SOURCE + "- Be brief.\n", encoding="utf-8")
    assert CliRunner().invoke(app, ["report"]).exit_code == 0
    md = (repo / "reports" / "index.md").read_text(encoding="utf-8")
    assert "⚠️ stale (cheap-good instead of big-model)" in md


def test_a_candidate_endpoint_that_is_down_ends_with_exit_4(repo, fake, second):
    port = second.port
    second.stop()  # nothing listens on cheap-good's endpoint any more
    result = CliRunner().invoke(app, ["tier", "prompts/p.j2", "--model", "cheap-good", "--judge-model", "none",
                                      "--yes"])
    assert result.exit_code == 4, result.output
    assert f"127.0.0.1:{port}" in result.stderr or "connect" in result.stderr.lower()
    assert SECOND_KEY not in result.output


def test_tier_html_has_one_row_per_model_and_the_ablation_look(repo, fake, second):
    from test_ablate_models import model_rows

    from promptslim.report.fmt import environment

    result = CliRunner().invoke(app, ["tier", "prompts/p.j2", "--model", "cheap-good", "--model", "cheap-bad",
                                      "--judge-model", "none", "--yes"])
    assert result.exit_code == 0, result.output
    assert "reports/p/tier.html" in result.output
    html = (repo / "reports" / "p" / "tier.html").read_text(encoding="utf-8")
    data = json.loads((repo / "reports" / "p" / "tier.json").read_text(encoding="utf-8"))
    rows = model_rows(html)
    assert [r[0] for r in rows] == ["big-model (baseline)", "cheap-good", "cheap-bad"]
    assert [r[3] for r in rows] == ["—", "non-inferior ← recommended", "worse"]
    # the same cells as tier.md's table, which the CLI prints too
    md = (repo / "reports" / "p" / "tier.md").read_text(encoding="utf-8")
    for row in rows:
        assert "| " + " | ".join(row) + " |" in md
    good = next(m for m in data["models"] if m["model"] == "cheap-good")
    assert f"+${good['usd_per_month_saved']:,.2f}" == rows[1][-1]
    assert environment().get_template("_style.css.j2").render() in html  # ablation.html's stylesheet
    assert "Measurably worse than big-model: cheap-bad" in html and SECOND_KEY not in html


def test_a_candidate_on_another_host_without_api_key_env_gets_no_key(make_repo, fake, second, monkeypatch):
    """The model under test's key never follows a [models] base_url to another host unless the table names it."""
    fake.handler = answer
    cases = [{"id": f"q{i}", "input": f"Question {i}: where is my order?",
              "assert": [{"type": "contains", "value": f"ORDER-{i}"}]} for i in range(4)]
    make_repo({"promptslim.toml": config(second.url).replace('api_key_env = "SECOND_KEY"\n', ""),
               "prompts/p.j2": SOURCE, "evalsets/p.yaml": yaml.safe_dump({"cases": cases}, sort_keys=False)})
    result = CliRunner().invoke(app, ["tier", "prompts/p.j2", "--model", "cheap-good", "--judge-model", "none",
                                      "--yes"])
    assert result.exit_code == 0, result.output
    secret = "sk-test-SECRET-0123456789"  # the fake fixture's OPENAI_API_KEY
    assert second.request_headers and all(secret not in h.get("authorization", "") for h in second.request_headers)
    assert all(h.get("authorization") == f"Bearer {secret}" for h in fake.request_headers)
    # a host that wants a key says so in one line, naming the fix (exit 4: the endpoint failed)
    second.add_faults("401")
    failed = CliRunner().invoke(app, ["tier", "prompts/p.j2", "--model", "cheap-good", "--judge-model", "none",
                                      "--yes", "--no-cache"])
    assert failed.exit_code == 4, failed.output
    assert "asks for an API key (401) and none is sent to it — name its variable with api_key_env" in failed.output
    assert secret not in failed.output
