"""Instruction units: how templates are cut into units, and that any subset can be removed safely."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from structure import new_problems, problems

from promptslim.errors import InputError
from promptslim.template.load import load_template, render_messages, render_text, template_from_source
from promptslim.template.units import Fixed, Unit, remove_units, segment

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(p.relative_to(REPO).as_posix() for p in (REPO / "prompts").glob("*.j2"))
REL = "prompts/x.j2"


def collapse(text: str) -> str:
    return " ".join(text.split())


def load(rel: str):
    return load_template(REPO / rel, REPO)


def cases_for(rel: str) -> list[dict]:
    path = REPO / "evalsets" / (Path(rel).relative_to("prompts").with_suffix(".yaml"))
    return yaml.safe_load(path.read_text(encoding="utf-8"))["cases"]


def units_of(source: str) -> list[Unit]:
    return segment(source, REL)[0]


def texts(source: str) -> list[str]:
    return [u.text for u in units_of(source)]


# --- the example templates -------------------------------------------------------------------------


def test_example_templates_exist_with_eval_sets():
    assert TEMPLATES == ["prompts/summarize.j2", "prompts/support_reply.j2", "prompts/ticket_classifier.j2",
                         "prompts/ticket_router.j2"]
    for rel in TEMPLATES:
        assert len(cases_for(rel)) >= 10


def test_support_reply_units_in_document_order():
    t = load("prompts/support_reply.j2")
    assert [u.id for u in t.units] == list(range(1, 19))
    assert [(u.line, u.kind) for u in t.units] == [
        (1, "sentence"), (1, "sentence"),
        (4, "bullet"), (5, "bullet"), (6, "bullet"), (7, "bullet"),
        (10, "bullet"), (11, "bullet"), (12, "bullet"), (13, "bullet"), (14, "bullet"), (15, "bullet"),
        (17, "block"), (20, "block"),
        (24, "sentence"), (24, "sentence"),
        (27, "sentence"),
        (29, "sentence"),
    ]
    by_id = {u.id: u for u in t.units}
    assert by_id[1].text.startswith("You are a helpful, friendly and professional customer support assistant")
    assert by_id[1].text.endswith("storage buckets.")
    assert by_id[2].text == ("Your goal is to resolve the customer's question in a single reply whenever possible.")
    assert by_id[4].text == "- Address the customer by their first name."
    assert by_id[12].text.startswith("- Never make up features")
    assert by_id[15].text == "Please remember to always be polite and courteous to the customer."
    assert by_id[16].text == "Be concise and get to the point quickly; avoid long explanations."
    assert by_id[18].text == "Thank you for helping our customers!"


def test_support_reply_bullets_are_separate_units():
    t = load("prompts/support_reply.j2")
    bullets = [u for u in t.units if u.kind == "bullet"]
    assert len(bullets) == 10
    assert [u.line for u in bullets] == [4, 5, 6, 7, 10, 11, 12, 13, 14, 15]
    assert all(u.text.startswith("- ") and u.text.count("\n") == 0 for u in bullets)
    # each bullet's span is exactly its own line
    lines = t.source.splitlines(keepends=True)
    for u in bullets:
        (a, b), = u.spans
        assert t.source[a:b] == lines[u.line - 1]


def test_support_reply_if_block_is_one_unit_with_its_line():
    t = load("prompts/support_reply.j2")
    enterprise = t.units[12]
    assert (enterprise.id, enterprise.line, enterprise.kind) == (13, 17, "block")
    assert enterprise.text.startswith('{% if plan == "enterprise" %} This customer is on the Enterprise plan')
    assert enterprise.text.endswith("+1-800-555-0199. {% endif %}")
    (a, b), = enterprise.spans
    assert t.source[a:b] == "".join(t.source.splitlines(keepends=True)[16:19])
    free = t.units[13]
    assert (free.id, free.line, free.kind) == (14, 20, "block")
    assert free.text.startswith('{% if plan == "free" %} Free plan customers')


def test_support_reply_fixed_parts():
    t = load("prompts/support_reply.j2")
    assert t.fixed == (
        Fixed(3, "Tone and style:", "heading"),
        Fixed(9, "Acme Cloud policies and facts:", "heading"),
        Fixed(31, "Customer name: {{ customer_name }}", "variable"),
        Fixed(32, "Customer plan: {{ plan }}", "variable"),
    )
    assert not any("Customer name" in u.text or u.text == "Tone and style:" for u in t.units)


def test_support_reply_keep_marker_pins_the_next_unit():
    t = load("prompts/support_reply.j2")
    pinned = [u for u in t.units if u.pinned]
    assert len(pinned) == 1
    (keep,) = pinned
    assert (keep.id, keep.line) == (17, 27)
    assert keep.text == 'Always end your reply with the exact sentence "Anything else I can help with?"'
    assert keep not in t.candidates
    assert [u.id for u in t.candidates] == [i for i in range(1, 19) if i != 17]


def test_summarize_units():
    t = load("prompts/summarize.j2")
    assert len(t.units) == 17
    assert [u.line for u in t.units[:4]] == [1, 1, 1, 3]
    assert all(u.kind == "sentence" for u in t.units[:4])
    assert t.units[1].text == "You will be given the full thread of a customer support conversation."
    # prose with a variable inside is a sentence unit, not a fixed variable line
    assert t.units[3].text == ("The note will be read by a {{ audience }}, so emphasise the details "
                               "that matter most to them.")
    assert [u.kind for u in t.units[4:13]] == ["bullet"] * 9
    assert t.units[12].text == ('- Do not start with a preamble such as "Summary:" or "Here is the summary"; '
                                'begin directly with the content.')
    assert [u.text for u in t.units[13:]] == [
        "Please make sure the summary is short and to the point.",
        "Remember that the note must be brief, because busy colleagues will only skim it.",
        "Write in a neutral, professional tone.",
        "Thank you for your help!",
    ]
    assert {u.line for u in t.units[13:]} == {18}
    assert t.fixed == (Fixed(5, "Content guidelines:", "heading"), Fixed(13, "Length and format:", "heading"))
    assert t.candidates == t.units


def test_ticket_classifier_units():
    t = load("prompts/ticket_classifier.j2")
    assert len(t.units) == 18
    assert t.units[0].text.startswith("You are an expert support ticket triage assistant working for the {{ product }}")
    assert [u.text for u in t.units[12:14]] == [
        'For example, the ticket "I was charged twice this month" should be labelled billing.',
        'The ticket "Please add dark mode to the dashboard" should be labelled feature-request.',
    ]
    assert t.units[3].text.startswith("- billing:") and t.units[3].kind == "bullet" and t.units[3].line == 4
    # "Remember: ..." is prose, not a heading, because text follows the colon
    assert t.units[16].text == "Remember: only output the single label and nothing else."
    assert t.units[16].kind == "sentence"
    assert [(f.line, f.text, f.kind) for f in t.fixed] == [
        (3, "Categories:", "heading"), (10, "Guidelines:", "heading"), (18, "Output format:", "heading")]


# --- sentences -------------------------------------------------------------------------------------


def test_two_sentences_on_a_line_are_two_units():
    units = units_of("Be brief. Be kind.\n")
    assert [(u.id, u.line, u.kind, u.text) for u in units] == [
        (1, 1, "sentence", "Be brief."), (2, 1, "sentence", "Be kind.")]


def test_sentence_with_a_variable_is_not_split_inside_the_variable():
    assert texts("Greet {{ name }} warmly. Then answer.\n") == ["Greet {{ name }} warmly.", "Then answer."]
    assert texts("Say {{ 'Hi. There' }} now. Done.\n") == ["Say {{ 'Hi. There' }} now.", "Done."]


def test_eg_and_decimals_do_not_end_a_sentence():
    assert texts("Use examples, e.g. invoices or receipts. Then stop.\n") == [
        "Use examples, e.g. invoices or receipts.", "Then stop."]
    assert texts("Version 2.0 is out. Use it.\n") == ["Version 2.0 is out.", "Use it."]


@pytest.mark.parametrize("source, expected", [
    pytest.param("Pay with a provider, e.g. Stripe or PayPal. Then stop.\n",
                 ["Pay with a provider, e.g. Stripe or PayPal.", "Then stop."], id="e.g.-before-a-name"),
    pytest.param("Escalate to Dr. Smith when unsure. Then stop.\n",
                 ["Escalate to Dr. Smith when unsure.", "Then stop."], id="Dr.-title"),
])
def test_abbreviation_before_a_capitalised_word_does_not_end_a_sentence(source, expected):
    assert texts(source) == expected


def test_sentence_across_lines_starts_on_its_first_line():
    units = units_of("Line one\ncontinues here. Second.\n")
    assert [(u.line, u.text) for u in units] == [(1, "Line one continues here."), (2, "Second.")]


def test_removing_one_sentence_keeps_the_other():
    source = "Be brief. Be kind.\n"
    one, two = units_of(source)
    assert remove_units(source, [one]) == "Be kind.\n"
    assert remove_units(source, [two]) == "Be brief.\n"
    assert remove_units(source, [one, two]) == ""
    assert remove_units(source, []) == source


# --- bullets, blocks, fixed lines --------------------------------------------------------------------


def test_numbered_items_and_indented_continuations_are_bullets():
    units = units_of("1. first\n2) second\n- third\n  continued here\n- fourth\n")
    assert [(u.line, u.kind, u.text) for u in units] == [
        (1, "bullet", "1. first"), (2, "bullet", "2) second"),
        (3, "bullet", "- third continued here"), (5, "bullet", "- fourth")]
    source = "- a\n  continued\n- b\n"
    assert remove_units(source, units_of(source)[:1]) == "- b\n"


def test_nested_if_and_for_is_one_block():
    source = "Intro.\n{% if x %}\nMaybe.\n{% for i in items %}\n- {{ i }}\n{% endfor %}\n{% endif %}\nOutro.\n"
    units = units_of(source)
    assert [(u.line, u.kind) for u in units] == [(1, "sentence"), (2, "block"), (8, "sentence")]
    assert units[1].text == "{% if x %} Maybe. {% for i in items %} - {{ i }} {% endfor %} {% endif %}"
    assert remove_units(source, [units[1]]) == "Intro.\nOutro.\n"


def test_variable_lines_statements_and_roles_are_fixed():
    source = "{% set a = 1 %}\n{{ var }}\nName: {{ var }}\nRules:\n{# role: user #}\n{{ input }}\n"
    units, fixed = segment(source, REL)
    assert units == []
    assert [(f.line, f.kind, f.text) for f in fixed] == [
        (1, "statement", "{% set a = 1 %}"), (2, "variable", "{{ var }}"), (3, "variable", "Name: {{ var }}"),
        (4, "heading", "Rules:"), (5, "role", "{# role: user #}"), (6, "variable", "{{ input }}")]


def test_unclosed_jinja_block_names_file_and_line():
    with pytest.raises(InputError) as err:
        segment("Intro.\n\n{% if x %}\nHi.\n", REL)
    assert err.value.message == "prompts/x.j2:3: '{% if %}' is never closed"


# --- author markers ----------------------------------------------------------------------------------


def test_unit_marker_groups_lines_into_one_unit():
    source = "Intro.\n{# promptslim: unit #}\nOne line.\n- a bullet\n{# promptslim: end #}\nAfter.\n"
    units = units_of(source)
    assert [(u.id, u.line, u.kind, u.text) for u in units] == [
        (1, 1, "sentence", "Intro."), (2, 3, "group", "One line. - a bullet"), (3, 6, "sentence", "After.")]
    variant = remove_units(source, [units[1]])
    assert "One line." not in variant and "a bullet" not in variant
    assert render_text(variant, REL, {}).split() == ["Intro.", "After."]


def test_keep_marker_pins_only_the_next_unit():
    units = units_of("{# promptslim: keep #}\n- a\n- b\n")
    assert [(u.text, u.pinned) for u in units] == [("- a", True), ("- b", False)]
    # a heading between marker and unit is not a unit, so the pin passes it
    units = units_of("{# promptslim: keep #}\nRules:\n- a\n- b\n")
    assert [(u.text, u.line, u.pinned) for u in units] == [("- a", 3, True), ("- b", 4, False)]


def test_keep_marker_pins_a_group():
    source = "{# promptslim: keep #}\n{# promptslim: unit #}\nA.\nB.\n{# promptslim: end #}\nC.\n"
    t = template_from_source(source, REL)
    assert [(u.kind, u.text, u.pinned) for u in t.units] == [("group", "A. B.", True), ("sentence", "C.", False)]
    assert [u.text for u in t.candidates] == ["C."]


def test_unknown_marker_names_file_and_line(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "x.j2").write_text("Be brief.\n\n{# promptslim: frob #}\n- a\n")
    with pytest.raises(InputError) as err:
        load_template(tmp_path / "prompts" / "x.j2", tmp_path)
    assert err.value.message == "prompts/x.j2:3: unknown marker 'promptslim: frob' (known: keep, unit, end)"
    assert err.value.exit_code == 2


def test_unclosed_group_names_file_and_line(tmp_path):
    (tmp_path / "prompts").mkdir()
    (tmp_path / "prompts" / "x.j2").write_text("Be brief.\n\n{# promptslim: unit #}\n- a\n- b\n")
    with pytest.raises(InputError) as err:
        load_template(tmp_path / "prompts" / "x.j2", tmp_path)
    assert err.value.message == "prompts/x.j2:3: 'promptslim: unit' is never closed with 'promptslim: end'"


def test_end_without_unit_names_file_and_line():
    with pytest.raises(InputError) as err:
        segment("A.\n{# promptslim: end #}\n", REL)
    assert err.value.message == "prompts/x.j2:2: 'promptslim: end' without 'promptslim: unit'"


# --- removal on the example templates ------------------------------------------------------------


def unit_render(t, unit: Unit, variables: dict) -> str:
    """What one unit contributes to a render: its own source span rendered with the case's vars."""
    return collapse("".join(render_text(t.source[a:b], t.rel, variables) for a, b in unit.spans))


def system_text(t, source: str, case: dict) -> str:
    messages = render_messages(source, t.rel, case.get("vars") or {}, case.get("input"))
    assert messages[-1] == {"role": "user", "content": case["input"]}
    return collapse(" ".join(m["content"] for m in messages[:-1]))


def dropped_lead_lines(t, removed: set[int]) -> set[int]:
    """Lines of lead-ins ("Rules:") whose every introduced unit is removed: they go with them."""
    leads: dict[tuple[int, int], list[int]] = {}
    for u in t.units:
        if u.lead is not None:
            leads.setdefault(u.lead, []).append(u.id)
    return {t.source.count("\n", 0, lead[0]) + 1 for lead, ids in leads.items() if set(ids) <= removed}


def check_variant(t, removed: set[int], cases: list[dict]) -> None:
    variant = t.without(removed)
    again = template_from_source(variant, t.rel)  # compiles and segments
    kept = [u for u in t.units if u.id not in removed]
    assert [u.text for u in again.units] == [u.text for u in kept]
    gone = dropped_lead_lines(t, removed)
    assert [(f.text, f.kind) for f in again.fixed] == [(f.text, f.kind) for f in t.fixed if f.line not in gone]
    assert "\n\n\n" not in variant
    assert not re.search(r"[ \t]+\n", variant)
    for case in cases:
        variables = case.get("vars") or {}
        text = system_text(t, variant, case)
        for unit in t.units:
            own = unit_render(t, unit, variables)
            if not own:
                continue  # an {% if %} whose condition is false for this case
            if unit.id in removed:
                assert own not in text, (unit.id, case["id"])
            else:
                assert own in text, (unit.id, case["id"])
        for fixed in t.fixed:
            if fixed.line not in gone:
                assert collapse(render_text(fixed.text, t.rel, variables)) in text


@pytest.mark.parametrize("rel", TEMPLATES)
def test_removing_any_single_unit_still_renders_every_case(rel):
    t = load(rel)
    cases = cases_for(rel)
    for unit in t.units:
        check_variant(t, {unit.id}, cases)


@pytest.mark.parametrize("rel", TEMPLATES)
def test_removing_all_but_one_unit_still_renders_every_case(rel):
    t = load(rel)
    cases = cases_for(rel)
    ids = {u.id for u in t.units}
    for unit in t.units:
        check_variant(t, ids - {unit.id}, cases)
    check_variant(t, ids, cases)


def test_removing_the_if_blocks_leaves_one_blank_line():
    t = load("prompts/support_reply.j2")
    variant = t.without({13, 14})
    assert ("or full card number.\n\nPlease remember to always be polite") in variant
    assert "{%" not in variant


def test_removing_a_whole_bullet_list_removes_its_lead_in_and_leaves_one_blank_line():
    # issue 16: a lead-in ending in ":" goes with what it introduces, so it never dangles
    t = load("prompts/summarize.j2")
    variant = t.without({11, 12, 13})
    assert "Length and format:" not in variant
    assert "not in the thread.\n- Do not include greetings, sign-offs or the customer's contact details.\n\n" \
           "Please make sure the summary" in variant
    variant = t.without({5, 6, 7, 8, 9, 10, 11, 12, 13})
    assert "\n\n\n" not in variant
    assert "most to them.\n\nPlease make sure" in variant
    # one bullet left keeps its lead-in
    variant = t.without({11, 12})
    assert "Length and format:\n- Do not start with a preamble" in variant


def test_removing_a_middle_paragraph_does_not_double_blank_lines():
    source = "A.\n\nB.\n\nC.\n"
    units = units_of(source)
    assert remove_units(source, [units[1]]) == "A.\n\nC.\n"
    assert remove_units(source, units[1:]) == "A.\n\n"


# --- property: any subset of any generated template ----------------------------------------------


@st.composite
def generated_templates(draw):
    """A template from building blocks; every instruction carries a unique token RuleN."""
    counter = itertools.count(1)

    def tok() -> str:
        return f"Rule{next(counter)}"

    def sentence() -> str:
        if draw(st.booleans()):
            return f"Use {tok()} with {{{{ var }}}} now."
        return f"Always {tok()} applies."

    def prose() -> str:
        return " ".join(sentence() for _ in range(draw(st.integers(1, 3))))

    def bullet() -> str:
        return draw(st.sampled_from(["-", "*", "1."])) + f" Follow {tok()} closely."

    def for_block() -> list[str]:
        return ["{% for i in items %}", f"- Item {{{{ i }}}} {tok()}.", "{% endfor %}"]

    def if_block(depth: int) -> list[str]:
        body: list[str] = []
        for _ in range(draw(st.integers(1, 3))):
            choice = draw(st.sampled_from(["prose", "bullet", "for", "if"] if depth < 2 else ["prose", "bullet"]))
            if choice == "prose":
                body.append(prose())
            elif choice == "bullet":
                body.append(bullet())
            elif choice == "for":
                body.extend(for_block())
            else:
                body.extend(if_block(depth + 1))
        return ["{% if x %}", *body, "{% endif %}"]

    def structure() -> list[str]:
        """Real-shaped blocks (issue 16): each must come out whole or with its frame fixed."""
        choice = draw(st.sampled_from(["fence", "json", "json-lines", "table", "xml", "wrapped", "cjk",
                                       "lead", "bold", "indented-fence", "bullet-fence", "blank-fence", "container",
                                       "backticked-tag", "tag-mention", "braces-across-blank", "example", "yaml",
                                       "code", "title"]))
        if choice == "fence":
            return ["```python", f"print('{tok()}. Done.')", "if x: { y }", "```"]
        # issue 26: the shapes that broke structure in real prompts
        if choice == "indented-fence":
            return [f"- Reply with {tok()} like this:", "    ```json", '    {"a": "B. C.", "d": [1]}', "    ```"]
        if choice == "bullet-fence":
            return ["- ```text", f"  Finding: {tok()} here. Keep it short.", "  ```"]
        if choice == "blank-fence":
            return [f"1. Run the checks for {tok()}:", "   ```bash", "   ruff check .", "", "   pytest -q", "   ```"]
        if choice == "container":
            opener = draw(st.sampled_from(["```text", "```md", "````markdown", "```", "~~~txt"]))
            return [opener, prose(), "", bullet(), opener.rstrip("abcdefghijklmnopqrstuvwxyz")]
        if choice == "backticked-tag":
            return [f"A `<notes>` section {tok()} will appear. Read it first.", "", "<notes>", prose(), "</notes>"]
        if choice == "tag-mention":
            return ["<rules>", f"- Wrap each claim in <cite> tags {tok()}.", "- Be brief.</rules>"]  # a frame: fixed
        if choice == "braces-across-blank":
            return [f'Start {{"a": {{"b": "Find code. Use {tok()}."', "", "}}"]
        if choice == "example":
            return [f"Example {draw(st.integers(1, 9))}:", f"Input: {tok()} is broken.", "Answer: Yes", "",
                    f"Q: Is {tok()} free?", "A: No", ""]  # an answer's next line would be its continuation
        if choice == "yaml":
            return ["tools:", f"  - name: {tok()}", "    description: search the docs.", "    parameters:",
                    "      q: string"]
        if choice == "code":
            return ["namespace functions {", "", f"// {tok()} searches.", "type search = (_: {", "q: string,",
                    "}) => any;", "", "} // namespace functions"]
        if choice == "title":
            return ["System Prompt", "", prose()]
        if choice == "json":
            return ['{"name": "' + tok() + '", "description": "Search. Return hits.", "args": [1, {"a": 2}]}']
        if choice == "json-lines":
            return ["{", f'  "label": "{tok()}",', '  "items": ["a. B.", "c"]', "}"]
        if choice == "table":
            return ["| Word | Note |", "|---|---|", f"| {tok()} | Ends. Here. |", f"| {tok()} | x |"]
        if choice == "xml":
            return ['<rules kind="a. B">', prose(), "</rules>", f"<ex>{tok()} holds. Then stop.</ex>"]
        if choice == "wrapped":
            return [f"- Always keep {tok()} because the user may have changed", "  the file, and",
                    "never skip it."]
        if choice == "cjk":
            return [f"请遵守 {tok()} 规则。不要编造 {tok()} 事实！Отвечай {tok()} вежливо."]
        if choice == "bold":
            return ["**6. Code Quality & Patterns**", f"1. **{tok()} first.** Then the rest."]
        return ["Example format:", bullet(), bullet()]

    lines: list[str] = []
    kinds = ["prose", "bullet", "heading", "var", "if", "for", "keep", "group", "blank", "structure"]
    for _ in range(draw(st.integers(1, 12))):
        kind = draw(st.sampled_from(kinds))
        if kind == "prose":
            lines.append(prose())
        elif kind == "bullet":
            lines.append(bullet())
        elif kind == "heading":
            lines.append(draw(st.sampled_from(["Rules:", "## Output", "Tone and style:"])))
        elif kind == "var":
            lines.append(draw(st.sampled_from(["{{ var }}", "Value: {{ var }}"])))
        elif kind == "if":
            lines.extend(if_block(0))
        elif kind == "for":
            lines.extend(for_block())
        elif kind == "keep":
            lines.append("{# promptslim: keep #}")
            lines.append(draw(st.sampled_from([bullet, prose]))())
        elif kind == "structure":
            lines.extend(structure())
        elif kind == "group":
            lines.append("{# promptslim: unit #}")
            for _ in range(draw(st.integers(1, 3))):
                lines.append(draw(st.sampled_from([bullet, prose]))())
            lines.append("{# promptslim: end #}")
        else:
            lines.append("")
    return "\n".join(lines) + "\n"


TOKEN = re.compile(r"\bRule\d+\b")
VARS = {"x": True, "items": [1, 2], "var": "V"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(source=generated_templates(), data=st.data())
def test_any_subset_of_units_can_be_removed(source, data):
    t = template_from_source(source, "prompts/gen.j2")
    all_tokens = set(TOKEN.findall(source))
    unit_tokens = {u.id: set(TOKEN.findall(u.text)) for u in t.units}
    # every instruction belongs to exactly one unit
    assert sorted(itertools.chain.from_iterable(unit_tokens.values())) == sorted(TOKEN.findall(source))
    ids = [u.id for u in t.candidates]
    removed = data.draw(st.sets(st.sampled_from(ids)) if ids else st.just(set()), label="removed")
    variant = t.without(removed)
    assert "\n\n\n" not in variant or "\n\n\n" in source
    assert problems(source) == []
    assert new_problems(source, variant) == [], variant
    again = template_from_source(variant, "prompts/gen.j2")
    kept = [u for u in t.units if u.id not in removed]
    assert [u.text for u in again.units] == [u.text for u in kept]
    assert [u.pinned for u in again.units] == [u.pinned for u in kept]
    messages = render_messages(variant, "prompts/gen.j2", VARS, "hi")
    assert messages[-1] == {"role": "user", "content": "hi"}
    rendered = " ".join(m["content"] for m in messages[:-1])
    gone = set().union(*(unit_tokens[i] for i in removed)) if removed else set()
    assert set(TOKEN.findall(rendered)) == all_tokens - gone
    assert "{{" not in rendered and "{%" not in rendered and "promptslim" not in rendered
