"""`ablate --rewrite` with a whole-text rewrite: the rewriter rewords the whole template at once; it is vetted like a
unit rewrite (Jinja kept in order, pinned units word for word, shorter, renders every case) before any target call,
decided against the baseline with the unit rewrites, and verified on its own: the unit-rewrite sequence and the
whole text share the 2.5% (each at 98.75%), and the verified one that saves more is the rewritten prompt.

Over real HTTP (tests/fakeserver.py). The target model quotes the order number only when the prompt mentions
ORDER-, states the refund time only when the prompt carries "5 business days", and greets by name only when the
rendered prompt names the customer.
"""

from __future__ import annotations

import json
import random

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.decide import slim_step
from promptslim.results import shipped_schema
from promptslim.engine.strategies.rewordings import WHOLE_SYSTEM

N = 100
SOURCE = ("You answer questions about orders. You are always friendly and helpful to every customer.\n"
          "- Please remember to quote the order number as ORDER-<n>.\n"
          "- Refunds take 5 business days.\n"
          "- Greet {{ customer_name }} by name.\n")
SHORTEST = "- Quote ORDER-<n>.\n- Refunds: 5 business days.\n- Greet {{ customer_name }} by name.\n"
GOOD = ("Answer order questions.\n- Quote the order number as ORDER-<n>.\n- Refunds take 5 business days.\n"
        "- Greet {{ customer_name }} by name.\n")
LOSSY = "Answer order questions.\n- Quote the order number as ORDER-<n>.\n- Greet {{ customer_name }} by name.\n"
NO_VARIABLE = "Answer order questions.\n- Quote ORDER-<n>.\n- Refunds take 5 business days.\n- Greet by name.\n"
REFUNDS = {i for i in range(N) if i % 4 == 0}


def target(system: str, question: str) -> str:
    n = int(question.split()[1].rstrip(":"))
    parts = ["Hello Ana." if "Ana" in system else "Hello."]
    parts.append(f"Order ORDER-{n} ships tomorrow." if "ORDER-" in system else "It ships.")
    if "refund" in question and "5 business days" in system:
        parts.append("Refunds take 5 business days.")
    return " ".join(parts)


def serve(fake, whole: str) -> None:
    def handler(body: dict) -> str:
        messages = body["messages"]
        if body["model"] == "rewriter-x":  # the whole template gets `whole` (in a code fence); a unit comes back as is
            return f"```jinja\n{whole}```" if messages[0]["content"] == WHOLE_SYSTEM else messages[-1]["content"]
        return target(messages[0]["content"], messages[-1]["content"])

    fake.handler = handler


@pytest.fixture
def repo(make_repo, fake):
    cases = []
    for i in range(N):
        asks = [{"type": "contains", "value": f"ORDER-{i}"}, {"type": "contains", "value": "Ana"}]
        if i in REFUNDS:
            asks.append({"type": "contains", "value": "5 business days"})
        cases.append({"id": f"q{i}", "vars": {"customer_name": "Ana"},
                      "input": f"Question {i}: " + ("how long does a refund take?" if i in REFUNDS else "where is it?"),
                      "assert": asks})

    def make(source: str = SOURCE):
        return make_repo({"prompts/p.j2": source,
                          "evalsets/p.yaml": yaml.safe_dump({"cases": cases}, sort_keys=False),
                          "promptslim.toml": 'rewriter_model = "rewriter-x"\n[prompts."p"]\ncalls_per_month = 100_000\n'
                                             '[prices."fake-model"]\ninput = 2.0\noutput = 8.0\n'
                                             '[prices."rewriter-x"]\ninput = 1.0\noutput = 1.0\n'})
    return make


def ablate(*extra: str) -> dict:
    result = CliRunner().invoke(app, ["ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none",
                                      "--rewrite", "--yes", *extra])
    assert result.exit_code == 0, result.output
    data = json.loads((__import__("pathlib").Path("reports") / "p" / "ablation.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, shipped_schema(), cls=jsonschema.Draft202012Validator)
    return data | {"_output": result.output}


def target_systems(fake) -> list[str]:
    return [b["messages"][0]["content"] for b in fake.requests if b["model"] == "fake-model"]


def test_a_good_whole_text_rewrite_is_verified_on_its_own_and_ships_when_it_saves_more(repo, fake):
    root = repo()
    serve(fake, SHORTEST)
    data = ablate("--write")
    whole = next(r for r in data["rewrites"] if r["whole_text"])
    assert whole["unit_ids"] == [1, 2, 3, 4, 5] and whole["original"] == SOURCE and whole["rewrite"] == SHORTEST
    # it changes no answer: 100 zero deltas, non-inferior under Holm with the unit rewrites (the rules' one)
    assert whole["verdict"] == "non-inferior" and whole["score_delta"] == 0.0 and whole["n"] == N
    assert whole["p_value"] == pytest.approx(0.95 ** N)
    w = data["rewritten"]
    # shared 2.5%: the whole text tested at 98.75%, its bound the exact one for 100 unchanged cases at 1.25%
    assert w["step_level"] == pytest.approx(0.9875)
    assert w["whole_text_step"]["verified"] and w["whole_text_step"]["saves_money"]
    assert w["whole_text_step"]["ci"][0] == pytest.approx(0.0125 ** (1 / N) - 1, abs=1e-6)
    # the unit-rewrite sequence ran at the same 98.75% per step
    assert w["steps"] and w["steps"][0]["ci"][0] == pytest.approx(0.0125 ** (1 / N) - 1, abs=1e-6)
    # it saves more than the slim prompt plus unit rewrites would: it is the one shipped, starting afresh
    assert w["verified"] and w["whole_text"] and w["removed"] == [] and w["rewritten"] == [1, 2, 3, 4, 5]
    assert whole["adopted"] and w["input_tokens_saved"] == pytest.approx(whole["input_tokens_saved"])
    assert w["input_tokens_saved"] > data["slim"]["input_tokens_saved"]
    assert w["usd_per_month_saved"] == pytest.approx(whole["usd_per_month_saved"])
    assert (root / "reports" / "p" / "rewritten.j2").read_text(encoding="utf-8") == SHORTEST
    # --write applies the verified prompt that saves the most: the whole-text rewrite
    assert (root / "prompts" / "p.j2").read_text(encoding="utf-8") == SHORTEST
    assert "applied the rewritten template to prompts/p.j2" in data["_output"]
    md = (root / "reports" / "p" / "ablation.md").read_text(encoding="utf-8")
    assert "| all | (the whole text, 4 lines) | (the diff below) | rewriter:rewriter-x |" in md
    assert "the whole text reworded, verified on its own run at 98.75%" in md
    assert "+- Quote ORDER-<n>." in md and "-You answer questions about orders." in md
    html = (root / "reports" / "p" / "ablation.html").read_text(encoding="utf-8")
    assert "The whole-text rewrite:" in html and '<span class="add">+- Refunds: 5 business days.</span>' in html
    report = CliRunner().invoke(app, ["report", "--json"])
    levers = {lv["lever"]: lv for lv in json.loads(report.stdout)["entries"][0]["levers"]}
    assert levers["rewrite"]["detail"] == "whole text reworded" and levers["rewrite"]["stale"]  # --write changed it


def test_a_verified_whole_text_rewrite_that_saves_less_than_the_unit_rewrites_is_not_shipped(repo, fake):
    root = repo()
    serve(fake, GOOD)  # keeps "Answer order questions.", where the slim prompt drops both opening sentences
    data = ablate("--write")
    whole = next(r for r in data["rewrites"] if r["whole_text"])
    w = data["rewritten"]
    assert whole["verdict"] == "non-inferior" and w["whole_text_step"]["verified"] and not whole["adopted"]
    assert not w["whole_text"] and w["removed"] == data["slim"]["removed"] and w["rewritten"] == [3]
    assert w["input_tokens_saved"] > whole["input_tokens_saved"]
    shipped = (root / "reports" / "p" / "rewritten.j2").read_text(encoding="utf-8")
    assert (root / "prompts" / "p.j2").read_text(encoding="utf-8") == shipped != GOOD


def test_a_whole_text_rewrite_that_drops_a_fact_is_rejected_and_the_unit_rewrites_ship(repo, fake):
    root = repo()
    serve(fake, LOSSY)
    data = ablate()
    whole = next(r for r in data["rewrites"] if r["whole_text"])
    assert whole["verdict"] == "worse" and whole["score_delta"] == pytest.approx(-len(REFUNDS) / N)
    assert not whole["adopted"]
    w = data["rewritten"]
    assert not w["whole_text_step"]["verified"] and not w["whole_text"]
    # what ships is the slim prompt plus the rules' rewrite of unit 3, verified at the shared 98.75%
    assert w["verified"] and w["rewritten"] == [3] and w["removed"] == data["slim"]["removed"]
    text = (root / "reports" / "p" / "rewritten.j2").read_text(encoding="utf-8")
    assert "- Quote the order number as ORDER-<n>." in text and "5 business days" in text


@pytest.mark.parametrize("whole, why", [
    (NO_VARIABLE, "drops '{{ customer_name }}'"),
    (GOOD.replace("Answer", "{% include 'secrets.txt' %}Answer"), "adds \"{% include 'secrets.txt' %}\""),
])
def test_a_whole_text_rewrite_that_changes_the_jinja_is_refused_before_any_target_call(repo, fake, whole, why):
    repo()
    serve(fake, whole)
    data = ablate()
    refused = [r for r in data["rewrites_refused"] if r["whole_text"]]
    assert len(refused) == 1 and why in refused[0]["why"] and refused[0]["unit_ids"] == [1, 2, 3, 4, 5]
    assert not any(r["whole_text"] for r in data["rewrites"])
    assert "Answer order questions" not in "".join(target_systems(fake))
    # with no whole-text candidate left, the unit sequence keeps the whole 2.5%
    assert data["rewritten"]["step_level"] == 0.975 and data["rewritten"]["whole_text_step"] is None


def test_a_whole_text_rewrite_may_not_reword_a_pinned_unit(repo, fake):
    pinned = SOURCE.replace("- Refunds", "{# promptslim: keep #}\n- Refunds")
    repo(pinned)
    serve(fake, "{# promptslim: keep #}\n" + GOOD.replace("Refunds take 5 business days", "Refunds: 5 business days"))
    data = ablate()
    refused = [r for r in data["rewrites_refused"] if r["whole_text"]]
    assert len(refused) == 1 and "rewords pinned unit 4" in refused[0]["why"]


def test_shipping_either_of_two_boundary_candidates_at_half_the_level_each_stays_within_2_5_percent():
    """The shared 2.5%, in simulation: the first unit-rewrite step and the whole text both exactly at −margin
    (each breaks 5% of pass/fail cases, N = 150). Shipping whichever holds is wrong when either does; at 1.25% each
    that stays at or below 2.5%, where 2.5% each would not. Pass/fail deltas, where the exact guard spends nearly
    all of its level; on dense judge-like deltas the bet valid for any distribution (issue 28) is conservative at
    the boundary and would not show what the split is for."""
    rng = random.Random(14)
    margin, reps, wrong, unsplit = 0.05, 3000, 0, 0

    def boundary() -> list[float]:
        return [-1.0 if rng.random() < margin else 0.0 for _ in range(150)]

    for _ in range(reps):
        chain, whole = boundary(), boundary()
        wrong += slim_step(chain, margin, 0.0125)[0] or slim_step(whole, margin, 0.0125)[0]
        unsplit += slim_step(chain, margin, 0.025)[0] or slim_step(whole, margin, 0.025)[0]
    assert wrong / reps <= 0.025 + 2 * (0.025 * 0.975 / reps) ** 0.5  # within sampling error of the bound
    assert unsplit / reps > 0.035  # not splitting would spend about 5%
