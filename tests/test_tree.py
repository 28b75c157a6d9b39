"""The tree of a prompt (promptslim/template/tree.py) and `units --tree`: sections, blocks, units."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.template.load import template_from_source
from promptslim.template.tree import build_tree, without


def tree_of(source: str, rel: str = "prompts/p.md"):
    tpl = template_from_source(source, rel)
    return tpl, build_tree(tpl.source, tpl.units, tpl.fixed)


def texts(tpl, ids) -> list[str]:
    by_id = {u.id: u.text for u in tpl.units}
    return [by_id[i] for i in ids]


MARKDOWN = """# Support assistant

You are the support assistant of Acme. You answer questions about orders.

## Tone
- Be kind.
- Stay calm.
- Use plain words.

Keep answers short. Never use slang.

## Rules
Follow these rules:
- Say BONJOUR first.
- Quote the order number.
- Never guess a date.

### Refunds
- Refunds take five days.
"""


def test_sections_follow_the_heading_level_used_more_than_once():
    tpl, tree = tree_of(MARKDOWN)
    # "# Support assistant" is a title (used once): the sections are the text under it and the two "##" parts
    assert [tree.nodes[r].title for r in tree.roots] == ["Support assistant", "Tone", "Rules"]
    assert [texts(tpl, tree.nodes[r].units)[0] for r in tree.roots] == [
        "You are the support assistant of Acme.", "- Be kind.", "- Say BONJOUR first."]


def test_blocks_are_a_list_a_paragraph_and_what_a_sub_heading_or_lead_in_starts():
    tpl, tree = tree_of(MARKDOWN)
    tone = tree.nodes[tree.roots[1]]
    kinds = [tree.nodes[c].kind for c in tone.children]
    assert kinds == ["block", "unit", "unit"]  # the 3-bullet list is a block; the 2-sentence paragraph is too small
    assert texts(tpl, tree.nodes[tone.children[0]].units) == ["- Be kind.", "- Stay calm.", "- Use plain words."]
    rules = tree.nodes[tree.roots[2]]
    # the lead-in's list, then "### Refunds" starts a new block (one bullet: the unit hangs from the section)
    assert [tree.nodes[c].kind for c in rules.children] == ["block", "unit"]
    assert tree.nodes[rules.children[0]].parent == rules.id and tree.depth(rules.children[0]) == 2


def test_top_level_xml_elements_are_sections_and_a_node_with_one_child_is_that_child():
    tpl, tree = tree_of("<role>\nYou are a helpful assistant. You answer briefly.\n</role>\n\n<rules>\n- Be kind.\n"
                        "- Be brief.\n- Never guess.\n</rules>\n\n<notes>\n- One note only.\n</notes>\n")
    assert [tree.nodes[r].title for r in tree.roots[:2]] == ["<role>", "<rules>"]
    assert tree.roots[2].startswith("u")  # <notes> holds one unit: the unit is the top-level node
    assert tree.nodes["s2"].children == ("u3", "u4", "u5")  # one block in the section: no block node


def test_without_headings_each_lead_in_with_its_list_is_a_section():
    tpl, tree = tree_of("Classify the ticket.\n\nLabels:\n- billing\n- technical\n\nStyle:\n- one word\n- lower case\n")
    assert [tree.nodes[r].title for r in tree.roots] == ["Classify the ticket.", "Labels", "Style"]


def test_pinned_units_belong_to_no_node():
    tpl, tree = tree_of("## A\n{# promptslim: keep #}\n- Keep me.\n- Drop me.\n- Me too.\n\n## B\n- Other.\n- More.\n",
                        "prompts/p.j2")
    pinned = next(u.id for u in tpl.units if u.pinned)
    assert all(pinned not in n.units for n in tree.nodes.values())
    assert tree.frames["s1"] == ()  # a pinned unit stays, so does its heading


def test_an_author_group_is_one_unit_of_the_tree():
    tpl, tree = tree_of("## A\n{# promptslim: unit #}\n- One.\n- Two.\n{# promptslim: end #}\n- Three.\n\n"
                        "## B\n- Other.\n- More.\n", "prompts/p.j2")
    group = next(u for u in tpl.units if "One." in u.text)
    assert "Two." in group.text
    section = tree.nodes[tree.roots[0]]
    assert section.units == (group.id, next(u.id for u in tpl.units if "Three." in u.text))
    assert f"u{group.id}" in section.children


def test_a_section_removed_whole_takes_its_heading_and_tags_with_it():
    tpl, tree = tree_of(MARKDOWN + "\n<format>\n- Use bullets.\n- Be short.\n</format>\n")
    tone = tree.nodes[tree.roots[1]]
    fmt_section = next(tree.nodes[r] for r in tree.roots if tree.nodes[r].title == "<format>")
    slim = without(tpl.source, tpl.units, tree, frozenset(tone.units) | frozenset(fmt_section.units))
    assert "## Tone" not in slim and "<format>" not in slim and "</format>" not in slim
    assert "## Rules" in slim and "Say BONJOUR" in slim
    # a section only partly removed keeps its heading
    partial = without(tpl.source, tpl.units, tree, frozenset(tone.units[:1]))
    assert "## Tone" in partial and "- Be kind." not in partial


def test_units_tree_shows_every_node_with_its_parent_and_tokens(make_repo):
    make_repo({"prompts/p.md": MARKDOWN})
    result = CliRunner().invoke(app, ["units", "prompts/p.md", "--tree", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    nodes = {n["id"]: n for n in data["nodes"]}
    assert [n["id"] for n in data["nodes"] if n["parent"] is None] == ["s1", "s2", "s3"]
    by_unit = {u["id"]: u["tokens"] for u in data["units"]}
    for node in nodes.values():
        assert node["tokens"] == sum(by_unit[u] for u in node["units"])
        if node["parent"] is not None:
            assert set(node["units"]) <= set(nodes[node["parent"]]["units"])
            assert node["depth"] == nodes[node["parent"]]["depth"] + 1
    shown = CliRunner().invoke(app, ["units", "prompts/p.md", "--tree"])
    assert shown.exit_code == 0 and "s2.1" in shown.stdout and "Tone" in shown.stdout and "3 top-level" in shown.stdout
