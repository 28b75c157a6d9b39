"""Issue 23, end to end over HTTP: a planted 60-unit, 8-section prompt, decided by the tree design.

The fake model answers with a marker for each load-bearing rule it is given (BONJOUR, MERCI, ACME, TRK) and the
eval set asserts all four; every other instruction changes no answer. So removing a section that holds no marker rule
changes nothing (all deltas 0, the exact bound), and removing one that holds a marker rule breaks every case.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.decide import min_cases_unchanged
from promptslim.template.load import template_from_source
from promptslim.template.tree import build_tree

try:
    from tests.repofiles import write_files as write
except ImportError:  # tests/ itself on sys.path (no package)
    from repofiles import write_files as write  # type: ignore

FLUFF_A = ["Be kind to every customer you talk to.", "Stay calm and friendly even when the customer is upset.",
           "Use plain words that anyone can understand.", "Do not ramble on about unrelated topics.",
           "Write in a warm and welcoming tone throughout.", "Avoid jargon and internal abbreviations where you can.",
           "Respect the customer's time and attention.", "Be concise and clear in every single reply you write."]
FLUFF_B = ["Prefer short paragraphs over long walls of text.", "Use a friendly voice like a helpful neighbour.",
           "Keep sentences simple and direct for quick reading.", "Never sound robotic or overly formal in replies.",
           "Mirror the customer's level of formality when it fits.", "Show empathy before you give the solution.",
           "Make every answer feel personal and considered.", "Avoid exclamation marks unless they truly help."]
FLUFF_C = ["Double-check spelling before sending any reply.", "Use the customer's name when you know it already.",
           "Offer further help at the end when it seems useful.", "Summarise long answers in a final short sentence.",
           "Keep a positive outlook even with bad news to share.", "Thank the customer for their patience when fitting.",
           "Use active voice rather than passive constructions.", "Format lists with dashes when you list steps."]
GREETING = ["Open with a short friendly line.", "Start every reply with the word BONJOUR.",
            "Keep the greeting to a few words.", "Do not ask how the customer is doing.",
            "Skip small talk about the weather.", "Avoid greeting twice in one reply.",
            "Match the greeting to the time of day.", "Never use slang in the greeting."]
CLOSING = ["End on a helpful note.", "Offer a next step if there is one.", "Close every reply with the word MERCI.",
           "Keep the closing to one short line.", "Do not add a signature block.", "Avoid repeating the question.",
           "Never promise what support cannot do.", "Leave out marketing slogans at the end."]
ROLE = ("You are the support assistant of a small online shop. You answer questions about orders and deliveries. "
        "You are patient and you take each question seriously. Sign off every reply with the word ACME. "
        "You work for a team that cares about quality. Customers often write in a hurry.")
BACKGROUND = ("The shop ships parcels from two warehouses in Europe. Deliveries usually take three to five days. "
              "Always mention the tracking code TRK with every answer. Returns are accepted within thirty days. "
              "Refunds go back to the original payment method. The shop was founded twelve years ago. "
              "Most customers order twice a year.")
TINY = ["Be nice.", "Smile.", "No slang.", "Be brief.", "Stay polite.", "No jokes.", "Be clear."]


def planted_source() -> str:
    """Eight sections, 60 units: two mixed prose sections (one load-bearing sentence each), three pure-fluff lists, two
    lists with one load-bearing rule each among harmless bullets, and a section of tiny units."""
    def bullets(items: list[str]) -> str:
        return "".join(f"- {item}\n" for item in items)

    return (f"## Role\n{ROLE}\n\n## Tone\n{bullets(FLUFF_A)}\n## Greeting\n{bullets(GREETING)}\n"
            f"## Style\n{bullets(FLUFF_B)}\n## Background\n{BACKGROUND}\n\n## Closing\n{bullets(CLOSING)}\n"
            f"## Extras\n{bullets(FLUFF_C)}\n## Notes\n{bullets(TINY)}")


MARKERS = {"BONJOUR": "BONJOUR!", "TRK": "Tracking: TRK-2291.", "MERCI": "MERCI.", "ACME": "ACME"}
LOAD_BEARING = ["Start every reply with the word BONJOUR.", "Close every reply with the word MERCI.",
                "Sign off every reply with the word ACME.", "Always mention the tracking code TRK with every answer."]


def answer(body: dict) -> str:
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    parts = [MARKERS["BONJOUR"]] if "word BONJOUR" in system else []
    parts.append("Your parcel is on its way.")
    parts += [MARKERS[k] for k in ("TRK", "MERCI", "ACME") if (f"code {k}" if k == "TRK" else f"word {k}") in system]
    return " ".join(parts)


CONFIG = """[prompts."support"]
calls_per_month = 10_000
[prices."fake-model"]
input = 2.0
output = 8.0
"""


def make(root: Path, n: int) -> None:
    cases = [{"id": f"q{i}", "input": f"Question {i}: where is my order?",
              "assert": [{"type": "contains", "value": v} for v in ("BONJOUR", "TRK", "MERCI", "ACME")]}
             for i in range(n)]
    write(root, {"prompts/support.md": planted_source(), "promptslim.toml": CONFIG,
                 "evalsets/support.yaml": yaml.safe_dump({"cases": cases}, sort_keys=False)})


def ablate(design: str, *more: str):
    return CliRunner().invoke(app, ["ablate", "prompts/support.md", "--model", "fake-model", "--judge-model", "none",
                                    "--design", design, "--yes", "--max-cost", "100", *more])


def target_calls(fake) -> int:
    return sum(1 for r in fake.requests if r.get("model") == "fake-model")


def test_the_planted_prompt_has_the_shape_the_issue_names():
    tpl = template_from_source(planted_source(), "prompts/support.md")
    tree = build_tree(tpl.source, tpl.units, tpl.fixed)
    assert len(tpl.units) == 60
    assert [tree.nodes[r].title for r in tree.roots] == ["Role", "Tone", "Greeting", "Style", "Background", "Closing",
                                                         "Extras", "Notes"]
    assert [len(tree.nodes[r].units) for r in tree.roots] == [6, 8, 8, 8, 7, 8, 8, 7]


@dataclass(frozen=True)
class Runs:
    result: object
    data: dict
    slim_text: str
    tree_calls: int
    flat_calls: int
    flat: dict


@pytest.fixture(scope="module")
def planted_runs(fake_server, tmp_path_factory) -> Runs:
    """The default design (auto) at 100 cases, then the flat design on the same repository without the cache: the
    target calls of each counted at the fake server. Once for the module (the flat run makes ~6,000 calls)."""
    fake = fake_server
    root = tmp_path_factory.mktemp("planted")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROMPTSLIM_HOME", str(tmp_path_factory.mktemp("home")))
        mp.setenv("OPENAI_BASE_URL", fake.url)
        mp.setenv("OPENAI_API_KEY", "sk-test-SECRET-0123456789")
        mp.chdir(root)
        fake.reset()
        fake.handler = answer
        make(root, 100)
        tree = ablate("auto")
        assert tree.exit_code == 0, tree.output
        tree_calls = target_calls(fake)
        reports = root / "reports" / "support"
        data = json.loads((reports / "ablation.json").read_text(encoding="utf-8"))
        slim_text = (reports / "slim.md").read_text(encoding="utf-8")
        fake.requests.clear()
        flat = ablate("flat", "--no-cache")
        assert flat.exit_code == 0, flat.output
        flat_data = json.loads((reports / "ablation.json").read_text(encoding="utf-8"))
        flat_calls = target_calls(fake)
        fake.reset()
    return Runs(tree, data, slim_text, tree_calls, flat_calls, flat_data)


def test_auto_picks_the_tree_where_flat_cannot_decide_a_unit(planted_runs):
    assert planted_runs.data["design"] == "tree"
    stderr = planted_runs.result.stderr
    assert f"design: tree (a unit that changes no answer needs {min_cases_unchanged(60, 0.05)} cases under flat" in stderr
    assert planted_runs.flat.get("design") is None and len(planted_runs.flat["units"]) == 60
    assert not any(u["verdict"] == "removable" for u in planted_runs.flat["units"])  # flat cannot decide at N = 100


def test_fluff_sections_are_removed_whole_and_nothing_below_them_runs(planted_runs):
    sections = {n["title"]: n for n in planted_runs.data["nodes"] if n["parent"] is None}
    removed_whole = [sections[t] for t in ("Tone", "Style", "Extras") if sections[t]["verdict"] == "removable"]
    assert len(removed_whole) >= 2
    for section in removed_whole:
        below = [n for n in planted_runs.data["nodes"] if n["parent"] == section["id"]]
        assert below and all(not n["tested"] and n["why"] == f"removed with {section['id']}" for n in below)
        assert section["in_slim"] and set(section["units"]) <= set(planted_runs.data["slim"]["removed"])
    # gone with its heading: no empty "## Tone" left behind
    for title, lines in (("Tone", FLUFF_A), ("Style", FLUFF_B), ("Extras", FLUFF_C)):
        if sections[title]["verdict"] == "removable":
            assert f"## {title}" not in planted_runs.slim_text and not any(line in planted_runs.slim_text for line in lines)


def test_every_load_bearing_rule_is_kept_and_the_slim_prompt_is_verified(planted_runs):
    data = planted_runs.data
    sections = {n["title"]: n for n in data["nodes"] if n["parent"] is None}
    for title in ("Greeting", "Closing", "Role", "Background"):  # each holds a marker rule: removing it breaks all
        assert sections[title]["verdict"] == "keep" and sections[title]["score_delta"] == -1.0
    assert all(rule in planted_runs.slim_text for rule in LOAD_BEARING)
    slim = data["slim"]
    # searched on a quarter of the cases, verified on the other three quarters at 95%: every answer unchanged
    assert slim["verdict"] == "removable" and slim["n"] == 75
    assert slim["ci"][0] == pytest.approx(0.05 ** (1 / 75) - 1, abs=1e-6)
    assert slim["input_tokens_saved"] > 0.3 * data["baseline"]["input_tokens"]


def test_tiny_units_are_not_worth_testing_and_say_why(planted_runs):
    nodes = {n["id"]: n for n in planted_runs.data["nodes"]}
    notes = next(n for n in nodes.values() if n["title"] == "Notes")
    tiny = [nodes[f"u{u}"] for u in notes["units"]]
    # a 3-token rule saves at most 3 × $2/M × 10,000 calls = $0.06/month: a 100-case test ($0.28) never pays back
    assert all(n["usd_per_month_max"] * 3 < n["test_usd"] for n in tiny)
    if notes["verdict"] != "removable":
        assert all(n["why"].startswith("not worth testing: saves at most $") for n in tiny)
    assert planted_runs.data["tree"]["not_worth_testing"] >= len(tiny)


def test_the_tree_makes_at_most_half_the_flat_designs_target_calls(planted_runs):
    assert planted_runs.tree_calls <= 0.5 * planted_runs.flat_calls, (planted_runs.tree_calls, planted_runs.flat_calls)


def test_with_40_cases_nothing_is_wrongly_removable(tmp_path, monkeypatch, fake):
    fake.handler = answer
    monkeypatch.chdir(tmp_path)
    make(tmp_path, 40)
    result = ablate("tree")
    assert result.exit_code == 0, result.output
    data = json.loads((tmp_path / "reports" / "support" / "ablation.json").read_text(encoding="utf-8"))
    assert data["design"] == "tree"
    load_bearing = {n["id"] for n in data["nodes"]
                    if any(rule in n["title"] or n["title"] in ("Greeting", "Closing", "Role", "Background")
                           for rule in LOAD_BEARING)}
    wrong = [n for n in data["nodes"] if n["verdict"] == "removable" and n["id"] in load_bearing]
    assert not wrong
    text = (tmp_path / "reports" / "support" / "slim.md").read_text(encoding="utf-8")
    assert all(rule in text for rule in LOAD_BEARING)
    # (1 − 0.05)^40 = 0.13: no node that changes nothing can be removable at any share of 5%
    assert not any(n["verdict"] == "removable" for n in data["nodes"])
