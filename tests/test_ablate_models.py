"""`promptslim ablate --also-model`: the unchanged template on candidate models in the same run, over real HTTP.

The scenario of tests/test_tier.py inside an ablation: the configured model ("big-model") and a weak candidate
("cheap-bad") answer on the session's fake server, the good candidate ("cheap-good") on a second fake server named
by [models."cheap-good"]. The template has two units; without the bullet no model quotes the order number, so it is
`keep` and the intro is removable. Every figure asserted is recomputed here from what the servers saw and the
configured prices.
"""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.results import ablation_schema, shipped_schema

try:
    from tests.fakeserver import FakeServer, count_words, default_prompt_tokens
    from tests.test_tier import BAD_FAILS, CACHED, CALLS, N, PRICES, SECOND_KEY, config
except ImportError:  # tests/ itself on sys.path (no package)
    from fakeserver import FakeServer, count_words, default_prompt_tokens  # type: ignore
    from test_tier import BAD_FAILS, CACHED, CALLS, N, PRICES, SECOND_KEY, config  # type: ignore

REPO = Path(__file__).resolve().parents[1]
INTRO = "You answer questions about orders."
QUOTE = "- Always quote the order number as ORDER-<n>."
SOURCE = f"{INTRO}\n{QUOTE}\n"
ARGS = ["ablate", "prompts/p.j2", "--judge-model", "none"]


def answer(body: dict) -> str:
    system, question = body["messages"][0]["content"], body["messages"][-1]["content"]
    n = int(question.split()[1].rstrip(":"))
    if "ORDER-<n>" not in system or (body["model"] == "cheap-bad" and n in BAD_FAILS):
        return "Your parcel is on its way."
    words = "Your order ORDER-%d ships tomorrow." % n
    return words + (" Thank you for your patience, we appreciate it." if body["model"] == "big-model" else "")


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


def full_template(body: dict) -> bool:
    """A call with the template as it is (not a leave-one-out or slim variant)."""
    system = body["messages"][0]["content"]
    return INTRO in system and "ORDER-<n>" in system


def per_call(model: str, bodies: list[dict]) -> float:
    """$/call of the unchanged template on `model`, from the servers' token counts and the configured prices."""
    mine = [b for b in bodies if b["model"] == model and full_template(b)]
    assert len(mine) == N
    tokens_in = sum(default_prompt_tokens(b) for b in mine) / N
    tokens_out = sum(count_words(answer(b)) for b in mine) / N
    price_in, price_cached, price_out = PRICES[model]
    return (tokens_in * (1 - CACHED) * price_in + tokens_in * CACHED * price_cached + tokens_out * price_out) / 1e6


def ablate(*extra: str) -> tuple[object, dict]:
    result = CliRunner().invoke(app, [*ARGS, *extra])
    assert result.exit_code == 0, result.output
    return result, json.loads((Path("reports") / "p" / "ablation.json").read_text("utf-8"))


def test_a_non_inferior_cheaper_model_is_recommended_in_ablation_json_and_a_worse_one_is_not(repo, fake, second):
    result, data = ablate("--also-model", "cheap-good", "--also-model", "cheap-bad", "--yes")
    jsonschema.validate(data, shipped_schema(), cls=jsonschema.Draft202012Validator)
    # the removal findings are there as without the flag: the intro is removable, the quoting rule is not
    assert [u["verdict"] for u in data["units"]] == ["removable", "keep"] and data["slim"]["removed"] == [1]
    # each candidate saw the unchanged template on every case, on its own endpoint (cheap-good with its own key)
    assert {b["model"] for b in second.requests} == {"cheap-good"} and len(second.requests) == N
    assert all(full_template(b) for b in second.requests)
    assert {h["authorization"] for h in second.request_headers} == {f"Bearer {SECOND_KEY}"}
    assert len([b for b in fake.requests if b["model"] == "cheap-bad"]) == N
    models = {m["model"]: m for m in data["models"]}
    assert list(models) == ["cheap-good", "cheap-bad"]
    assert list(models["cheap-good"])[:10] == ["model", "input_tokens", "output_tokens", "score", "score_delta", "ci",
                                               "verdict", "usd_per_call", "usd_per_month", "usd_per_month_saved"]
    good, bad = models["cheap-good"], models["cheap-bad"]
    # paired against the ablation's own baseline answers: 80 zero deltas, p = 0.95^80, Holm over two candidates
    assert good["verdict"] == "non-inferior" and good["score_delta"] == 0.0
    assert good["p_value"] == pytest.approx(0.95 ** N) and good["holm_level"] == pytest.approx(0.025)
    assert bad["verdict"] == "worse" and bad["score_delta"] == pytest.approx(-len(BAD_FAILS) / N)
    # money from the servers' token counts at each model's own prices
    bodies = fake.requests + second.requests
    base_usd, good_usd = per_call("big-model", bodies), per_call("cheap-good", bodies)
    assert data["baseline"]["usd_per_call"] == pytest.approx(base_usd)
    assert good["usd_per_call"] == pytest.approx(good_usd)
    assert good["usd_per_month_saved"] == pytest.approx((base_usd - good_usd) * CALLS)
    assert bad["usd_per_call"] < good["usd_per_call"]  # cheaper still, but worse: not the pick
    pick = data["model_recommendation"]
    assert pick["model"] == "cheap-good"
    assert pick["usd_per_month_saved"] == pytest.approx((base_usd - good_usd) * CALLS)
    billed = {m: sum(default_prompt_tokens(b) * PRICES[m][0] + count_words(answer(b)) * PRICES[m][2]
                     for b in bodies if b["model"] == m) / 1e6 for m in PRICES}
    assert pick["usd_spent"] == pytest.approx(billed["cheap-good"] + billed["cheap-bad"])
    assert data["run"]["usd"] == pytest.approx(sum(billed.values()))
    assert "Holm over 2 candidate(s)" in pick["method"]
    # the reports: the CLI line, the markdown section, the html table (one row per model and the baseline)
    assert "cheap-good is non-inferior to big-model" in result.output
    md = (repo / "reports" / "p" / "ablation.md").read_text(encoding="utf-8")
    section = md.split("## Same prompt, cheaper model", 1)[1]
    assert "| cheap-good | 1.000 |" in section and "non-inferior ← recommended" in section
    assert "| cheap-bad | 0.750 |" in section and "Measurably worse than big-model: cheap-bad" in section
    assert f"+${(base_usd - good_usd) * CALLS:,.2f}" in section
    rows = model_rows((repo / "reports" / "p" / "ablation.html").read_text(encoding="utf-8"))
    assert [r[0] for r in rows] == ["big-model (baseline)", "cheap-good", "cheap-bad"]
    assert rows[1][3] == "non-inferior ← recommended" and rows[2][3] == "worse"
    # the CSV stays one row per unit
    assert len((repo / "reports" / "p" / "ablation.csv").read_text(encoding="utf-8").splitlines()) == 1 + 2
    for text in (result.output, md, json.dumps(data)):
        assert SECOND_KEY not in text
    # README's example is this run's output
    readme = (REPO / "README.md").read_text(encoding="utf-8").split("$ promptslim ablate prompts/p.j2", 1)[1]
    shown = [line for line in result.output.splitlines() if line.startswith(("plan:", "remove ", "prompts/p.j2:"))]
    shown += [line for line in section.splitlines() if line.startswith("| ")]
    assert len(shown) == 3 + 4 and all(line in readme for line in shown)


def test_without_the_flag_the_model_keys_are_absent(repo, fake, second):
    _, data = ablate("--yes")
    assert "models" not in data and "model_recommendation" not in data
    assert "Same prompt, cheaper model" not in (repo / "reports" / "p" / "ablation.md").read_text(encoding="utf-8")
    assert "cheaper model" not in (repo / "reports" / "p" / "ablation.html").read_text(encoding="utf-8")
    assert second.requests == []


def test_no_candidate_non_inferior_means_no_recommendation(repo, fake, second):
    _, data = ablate("--also-model", "cheap-bad", "--yes")
    assert data["model_recommendation"]["model"] is None
    assert data["model_recommendation"]["usd_per_month_saved"] == 0.0
    assert [m["verdict"] for m in data["models"]] == ["worse"]
    md = (repo / "reports" / "p" / "ablation.md").read_text(encoding="utf-8")
    assert "no cheaper model shown non-inferior to big-model at margin 0.05 (cheap-bad worse)" in md


def plan_usd(stderr: str) -> float:
    return float(re.search(r"estimated \$([\d.]+)", stderr).group(1))


def test_the_budget_gate_counts_the_candidate_calls(repo, fake, second):
    # a budget of 0 stops every plan before any call and says what the plan would cost
    alone = CliRunner().invoke(app, [*ARGS, "--max-cost", "0"])
    both = CliRunner().invoke(app, [*ARGS, "--max-cost", "0", "--also-model", "cheap-good", "--also-model",
                                    "cheap-bad"])
    assert alone.exit_code == 3 and both.exit_code == 3
    x, y = plan_usd(alone.stderr), plan_usd(both.stderr)
    # the candidates' 2 × 80 calls at their own prices: 200 estimated output tokens each, plus their input
    output_usd = N * 200 * (PRICES["cheap-good"][2] + PRICES["cheap-bad"][2]) / 1e6
    assert output_usd < y - x < output_usd + N * 100 * (PRICES["cheap-good"][0] + PRICES["cheap-bad"][0]) / 1e6
    budget = f"{(x + y) / 2:.4f}"
    stopped = CliRunner().invoke(app, [*ARGS, "--max-cost", budget, "--also-model", "cheap-good", "--also-model",
                                       "cheap-bad"])
    assert stopped.exit_code == 3, stopped.output
    assert "exceeds the budget" in stopped.stderr
    assert fake.requests == [] and second.requests == []  # stopped before any call
    ran = CliRunner().invoke(app, [*ARGS, "--max-cost", budget])  # the same budget covers the ablation alone
    assert ran.exit_code == 0, ran.output


@pytest.mark.parametrize("extra, message", [
    (["--also-model", "big-model"], "ablate: --also-model big-model is the configured model (the baseline)"),
    (["--also-model", "cheap-good", "--also-model", "cheap-good"], "ablate: --also-model cheap-good is given twice"),
    (["--also-model", "no-such-model-xyz"], "no price for model 'no-such-model-xyz'"),
])
def test_a_bad_also_model_is_one_line_and_exit_2_before_any_call(repo, fake, second, extra, message):
    result = CliRunner().invoke(app, [*ARGS, *extra, "--yes"])
    assert result.exit_code == 2, result.output
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
    assert fake.requests == [] and second.requests == []


def test_the_shipped_ablation_schema_knows_the_model_keys():
    schema = shipped_schema()
    assert schema == ablation_schema()
    assert {"models", "model_recommendation"} <= set(schema["properties"])
    assert not {"models", "model_recommendation"} & set(schema.get("required", []))


class _Tables(HTMLParser):
    """Rows of <table class="models">, as lists of cell texts."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self.inside = self.in_body = False
        self.cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "table" and ("class", "models") in attrs:
            self.inside = True
        elif self.inside and tag == "tbody":
            self.in_body = True
        elif self.in_body and tag == "tr":
            self.rows.append([])
        elif self.in_body and tag == "td":
            self.cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self.cell is not None:
            self.rows[-1].append("".join(self.cell).strip())
            self.cell = None
        elif tag == "table":
            self.inside = self.in_body = False

    def handle_data(self, data: str) -> None:
        if self.cell is not None:
            self.cell.append(data)


def model_rows(html: str) -> list[list[str]]:
    parser = _Tables()
    parser.feed(html)
    parser.close()
    return parser.rows


def lever(repo) -> dict | None:
    report = CliRunner().invoke(app, ["report", "--json"])
    assert report.exit_code == 0, report.output
    (entry,) = json.loads(report.stdout)["entries"]
    found = [lv for lv in entry["levers"] or [] if lv["lever"] == "model"]
    return found[0] if found else None


def rewrite(path, **keys) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(keys)
    path.write_text(json.dumps(data), encoding="utf-8")


def test_report_takes_the_model_lever_from_the_newer_run_of_the_current_template(repo, fake, second):
    folder = repo / "reports" / "p"
    _, data = ablate("--also-model", "cheap-good", "--yes")
    saved = data["model_recommendation"]["usd_per_month_saved"]
    assert lever(repo) == {"lever": "model", "usd_per_month_saved": pytest.approx(saved),
                           "detail": "cheap-good instead of big-model", "report": "reports/p/ablation.md",
                           "stale": False}
    # a later tier run that finds no non-inferior candidate is the latest evidence: no model lever
    tier = CliRunner().invoke(app, ["tier", "prompts/p.j2", "--model", "cheap-bad", "--judge-model", "none", "--yes"])
    assert tier.exit_code == 0, tier.output
    rewrite(folder / "tier.json", created_at="2999-01-01T00:00:00+00:00")
    assert lever(repo) is None
    # the ablation is the newer one again: its pick counts
    rewrite(folder / "tier.json", created_at="2000-01-01T00:00:00+00:00")
    assert lever(repo)["report"] == "reports/p/ablation.md"
    # a newer run of another revision of the template loses to an older run of this one
    rewrite(folder / "tier.json", created_at="2999-01-01T00:00:00+00:00", template_sha256="0" * 64,
            recommendation="cheap-bad", usd_per_month_saved=1.0)
    assert lever(repo)["report"] == "reports/p/ablation.md" and not lever(repo)["stale"]
    # once the template changes neither run describes it: the newer is shown, stale
    (repo / "prompts" / "p.j2").write_text(SOURCE + "- Be brief.\n", encoding="utf-8")
    assert lever(repo) == {"lever": "model", "usd_per_month_saved": 1.0, "detail": "cheap-bad instead of big-model",
                           "report": "reports/p/tier.md", "stale": True}


def test_also_model_and_rewrite_add_their_keys_side_by_side(repo, fake, second):
    (repo / "prompts" / "p.j2").write_text(f"{INTRO}\n- Please remember to quote the order number as ORDER-<n>.\n",
                                          encoding="utf-8")
    _, data = ablate("--rewrite", "--rewriter-model", "none", "--also-model", "cheap-good", "--yes")
    jsonschema.validate(data, shipped_schema(), cls=jsonschema.Draft202012Validator)
    assert [r["proposer"] for r in data["rewrites"]] == ["rules"]  # the filler opening, dropped by rule
    assert [m["model"] for m in data["models"]] == ["cheap-good"]
    assert data["model_recommendation"]["model"] == "cheap-good"
    assert list(data)[-5:] == ["rewrites", "rewrites_refused", "rewritten", "models", "model_recommendation"]
