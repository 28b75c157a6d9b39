"""`promptslim ablate --rewrite`: shorter wordings from the rules and a rewriter model, over real HTTP.

The target model quotes the order number only when told to quote it, and states the refund time only when the
prompt carries it. The rewriter model (on the same fake server, by model name) proposes: a good shorter wording,
one that drops the load-bearing "5 business days", one that drops `{{ customer_name }}`, one that adds an include.
"""

from __future__ import annotations

import json

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.results import shipped_schema

N = 100
INTRO = "You answer questions about orders."
QUOTE = "- Please remember to quote the order number as ORDER-<n>."
REFUND = "- Refunds take 5 business days."
GREET = "- Greet {{ customer_name }} by name."
SOURCE = "\n".join([INTRO, QUOTE, REFUND, GREET]) + "\n"
REFUNDS = {i for i in range(N) if i % 4 == 0}
REWRITER = {
    QUOTE: "- Quote order number as ORDER-<n>.",
    REFUND: "- Refunds are quick.",  # shorter, but drops the fact the refund cases need
    GREET: "- Greet the customer by name.",  # drops the variable
    INTRO: "{% include 'secrets.txt' %} Answer order questions.",  # adds an include
}


def handler(body: dict) -> str:
    messages = body["messages"]
    if body["model"] == "rewriter-x":
        return REWRITER.get(messages[-1]["content"], messages[-1]["content"])
    system, question = messages[0]["content"], messages[-1]["content"]
    n = int(question.split()[1].rstrip(":"))
    parts = [f"Order ORDER-{n} ships tomorrow." if "quote" in system.lower() and "ORDER-" in system else "It ships."]
    if "refund" in question and "5 business days" in system:
        parts.append("Refunds take 5 business days.")
    return " ".join(parts)


@pytest.fixture
def repo(make_repo, fake):
    fake.handler = handler
    cases = []
    for i in range(N):
        asks = [{"type": "contains", "value": f"ORDER-{i}"}]
        if i in REFUNDS:
            asks.append({"type": "contains", "value": "5 business days"})
        cases.append({"id": f"q{i}", "vars": {"customer_name": "Ana"},
                      "input": f"Question {i}: " + ("how long does a refund take?" if i in REFUNDS else "where is it?"),
                      "assert": asks})
    return make_repo({"prompts/p.j2": SOURCE, "evalsets/p.yaml": yaml.safe_dump({"cases": cases}, sort_keys=False),
                      "promptslim.toml": 'rewriter_model = "rewriter-x"\n[prompts."p"]\ncalls_per_month = 100_000\n'
                                         '[prices."fake-model"]\ninput = 2.0\noutput = 8.0\n'
                                         '[prices."rewriter-x"]\ninput = 1.0\noutput = 1.0\n'})


def target_systems(fake) -> list[str]:
    return [b["messages"][0]["content"] for b in fake.requests if b["model"] == "fake-model"]


def test_a_good_rewrite_is_adopted_a_lossy_one_rejected_and_jinja_changes_refused(repo, fake):
    result = CliRunner().invoke(app, ["ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none",
                                      "--rewrite", "--yes"])
    assert result.exit_code == 0, result.output
    data = json.loads((repo / "reports" / "p" / "ablation.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, shipped_schema(), cls=jsonschema.Draft202012Validator)
    # refused before any target call: the dropped variable and the added include never reached the target model
    refused = {r["rewrite"]: r for r in data["rewrites_refused"]}
    assert "drops '{{ customer_name }}'" in refused[REWRITER[GREET]]["why"]
    assert "adds \"{% include 'secrets.txt' %}\"" in refused[REWRITER[INTRO]]["why"]
    systems = target_systems(fake)
    assert not any("Greet the customer by name" in s or "Answer order questions" in s for s in systems)
    # one rewriter call per rewordable unit and one for the whole text, through the runner; this rewriter hands the
    # whole text back unchanged, which is no rewrite at all: nothing whole-text is tested or refused
    assert sum(1 for b in fake.requests if b["model"] == "rewriter-x") == 5
    assert not any(r["whole_text"] for r in data["rewrites"] + data["rewrites_refused"])
    assert data["rewritten"]["whole_text_step"] is None and data["rewritten"]["step_level"] == 0.975
    tested = {(r["proposer"], r["rewrite"]): r for r in data["rewrites"]}
    rule = tested[("rules", "- Quote the order number as ORDER-<n>.")]
    model = tested[("rewriter:rewriter-x", REWRITER[QUOTE])]
    lossy = tested[("rewriter:rewriter-x", REWRITER[REFUND])]
    # the good wordings change no answer: 100 zero deltas, non-inferior under Holm across the three rewrites
    for good in (rule, model):
        assert good["verdict"] == "non-inferior" and good["score_delta"] == 0.0 and good["n"] == N
        assert good["p_value"] == pytest.approx(0.95 ** N)
        assert good["input_tokens_saved"] > 0 and good["usd_per_month_saved"] > 0
    # the lossy one fails exactly the refund cases
    assert lossy["verdict"] == "worse" and lossy["score_delta"] == pytest.approx(-len(REFUNDS) / N)
    assert not lossy["adopted"]
    # the rewritten prompt: the slim prompt plus one wording of the quote rule, verified at 97.5% on its own run
    rewritten = data["rewritten"]
    assert rewritten["verified"] and rewritten["rewritten"] == [2] and rewritten["removed"] == data["slim"]["removed"]
    assert rewritten["ci"][0] == pytest.approx(0.025 ** (1 / N) - 1, abs=1e-6)
    text = (repo / "reports" / "p" / "rewritten.j2").read_text(encoding="utf-8")
    assert REFUND in text and QUOTE not in text
    # of the two wordings of the quote rule, the one that saves more (4 words, not 3) leads the fixed order
    assert model["input_tokens_saved"] == 4.0 and rule["input_tokens_saved"] == 3.0
    assert model["adopted"] and not rule["adopted"] and REWRITER[QUOTE] in text
    # the chain then tried the lossy rewrite on top, and it failed
    assert [s["verified"] for s in rewritten["steps"]] == [True, False]
    assert rewritten["input_tokens_saved"] > data["slim"]["input_tokens_saved"]
    md = (repo / "reports" / "p" / "ablation.md").read_text(encoding="utf-8")
    assert "## Say it shorter" in md and "| - Refunds are quick. | rewriter:rewriter-x |" in md
    assert "non-inferior (adopted)" in md and "| worse | — (worse) |" in md and "Refused before any call" in md
    report = CliRunner().invoke(app, ["report", "--json"])
    assert report.exit_code == 0, report.output
    levers = {lv["lever"]: lv for lv in json.loads(report.stdout)["entries"][0]["levers"]}
    assert set(levers) == {"remove", "rewrite"}
    assert levers["rewrite"]["usd_per_month_saved"] == pytest.approx(rewritten["usd_per_month_saved"])
    assert levers["remove"]["usd_per_month_saved"] == pytest.approx(data["slim"]["usd_per_month_saved"])
    assert levers["rewrite"]["usd_per_month_saved"] > levers["remove"]["usd_per_month_saved"]
    html = (repo / "reports" / "p" / "ablation.html").read_text(encoding="utf-8")
    assert "Say it shorter" in html and "{% include &#39;secrets.txt&#39; %}" in html


def test_without_a_rewriter_model_the_rules_alone_are_tested(repo, fake):
    result = CliRunner().invoke(app, ["ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none",
                                      "--rewriter-model", "none", "--rewrite", "--yes", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert not any(b["model"] == "rewriter-x" for b in fake.requests)
    assert [(r["proposer"], r["unit_ids"], r["verdict"]) for r in data["rewrites"]] == [("rules", [2], "non-inferior")]
    assert data["rewrites_refused"] == []


def test_an_ablation_without_rewrite_has_no_rewrite_keys(repo, fake):
    result = CliRunner().invoke(app, ["ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none",
                                      "--yes", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert not {"rewrites", "rewrites_refused", "rewritten"} & set(data)


# -- the parts on their own ---------------------------------------------------------------------------------------

from promptslim.engine.strategies.rewordings import Rewrite, apply, check_rewrite, rule_rewrites  # noqa: E402
from promptslim.template.load import template_from_source  # noqa: E402


@pytest.mark.parametrize("rewrite, why", [
    ("- Greet {{ customer_name }}.", None),
    ("- Greet {{customer_name}}.", None),  # whitespace inside the tag is not a change
    ("- Greet the customer.", "drops '{{ customer_name }}'"),
    ("- Greet {{ customer_name }}. {% include 'x' %}", "adds \"{% include 'x' %}\""),
    ("- Greet {{ customer_name }} on {{ plan }}.", "adds '{{ plan }}'"),
    ("- Greet {# note #} {{ customer_name }}.", "adds '{# note #}'"),
])
def test_a_rewrite_must_keep_every_jinja_construct_of_its_unit(rewrite, why):
    refused = check_rewrite("- Greet {{ customer_name }} by name.", rewrite)
    assert refused == why if why is None else why in refused


def test_the_rules_drop_filler_openings_and_repeated_sentences():
    t = template_from_source("Please remember to be polite. It is important that you answer in English.\n"
                             "- Make sure to quote the order number.\n- Keep it short.\nPlease remember to be polite.\n",
                             "prompts/x.j2")
    found = [(r.unit.id, r.rewrite) for r in rule_rewrites(t)]
    assert found == [(1, "Be polite."), (2, "Answer in English."), (3, "- Quote the order number."), (5, "")]


def test_rewrites_and_removals_apply_together_at_the_right_places():
    t = template_from_source("Please remember to be polite. Be brief.\n- Make sure to say hi.\n- Drop me.\n",
                             "prompts/x.j2")
    rewrites = [r for r in rule_rewrites(t)]
    assert apply(t, [4], rewrites) == "Be polite. Be brief.\n- Say hi.\n"
    assert apply(t, [], [Rewrite(t.units[1], t.units[1].text, "", "rules")]) == t.without({2})
