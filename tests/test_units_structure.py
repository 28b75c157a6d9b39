"""Units on real-shaped prompts (issue 16): structure is never cut, and every leave-one-out variant stays balanced.

Each fixture is written for the project in the shape of a failure class found in 91 public system
prompts; the balance checker (tests/structure.py) is independent of the segmenter.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structure import new_problems, problems

from promptslim.errors import InputError
from promptslim.template.sentences import sentence_cuts
from promptslim.template.load import template_from_source
from promptslim.template.sandbox import compile_source
from promptslim.template.units import remove_units, segment

CODE_FENCE = """You are an assistant for a docs team.

```text
You are an assistant. Answer in one sentence. Never guess.
```

Keep answers short. Cite the page you used.
"""

JSON_TOOL_LINE = """Call tools with one JSON object per line. Never add comments.
{"type": "function", "function": {"name": "search", "description": "Search the docs. Return the top hits.", "parameters": {"type": "object", "properties": {"q": {"type": "string"}}}}}
{"type": "function", "function": {"name": "open", "description": "Open a page. Quote it.", "parameters": {}}}
"""

FENCED_JSON = """Answer in this format:
```json
{
  "answer": "Yes. It works.",
  "sources": ["https://example.com/a", "https://example.com/b"]
}
```
Do not wrap the JSON in prose.
"""

MULTILINE_JSON = """Return an object like this one. Use the same keys.
{
  "label": "billing",
  "reasons": [
    "Mentions an invoice. Mentions a charge."
  ]
}
Never add other keys.
"""

XML_SECTIONS = """<role>
You are a shell agent. You run commands for the user.
</role>
<shell description="Run a command. Returns stdout.">
Command(s) to execute. Keep each one short.
<rules>
Never run rm -rf. Ask before installing packages.
</rules>
</shell>
<example>Run ls. Then report.</example>
"""

CONJUGATION_TABLE = """Use the conjugation below. Correct the learner gently.

| Pronoun | être (present) | avoir (present) |
|---|---|---|
| je | suis. Toujours. | ai |
| tu | es | as. Jamais. |
| nous | sommes | avons |

Answer in French.
"""

FRAGMENTS = """**6. Code Quality & Patterns**
1. **Keep functions small.** Split long ones into helpers.
2.
- Always read a file before you edit it, because the user may have changed
  it since you last read it.
- never delete files outside the workspace folder unless the user asked
for it explicitly.
Write the fix (then test it). (); {}
"""

LEAD_IN = """Answer the question.

Example format:
- Summary: one line.
- Details: at most three bullets.

Output format:
Plain text. No markdown.

## Never a lead-in
- A markdown heading stays.
"""

CHINESE = ("你是一个乐于助人的助手。请用中文回答用户的问题！如果不知道答案，就说不知道？"
           "不要编造事实。回答要简洁。\n\n"
           "Отвечай вежливо. Не выдумывай факты. Évite les répétitions. 답변은 짧게 하세요. 항상 존댓말을 쓰세요.\n")

JSX = """Write React components. Prefer function components.
```jsx
<div style={{color: "red", padding: 4}}>Hello. World.</div>
```
Use inline styles only when asked, e.g. `style={{margin: 0}}`. Never use class components.
"""

TWIG = """Help users write Twig templates. Explain each tag.
```twig
{# list the products #}
{% if products is defined %}
  {% for p in products %}
    {{ p.name }}. {{ p.price }}
  {% endfor %}
{% endif %}
```
Always close every tag.
"""

CRLF = "Be brief. Be kind.\r\n\r\nRules:\r\n- One.\r\n- Two.\r\n"

XML_GLUED = """Intro text here.
<rules>Be brief. Be kind.
Use lists for lists. Never guess.

</rules>
"""

PLAIN = {
    "code-fence": CODE_FENCE, "json-tool-schema-line": JSON_TOOL_LINE, "fenced-json": FENCED_JSON,
    "multiline-json": MULTILINE_JSON, "xml-sections": XML_SECTIONS, "conjugation-table": CONJUGATION_TABLE,
    "fragments-and-wrapped-bullets": FRAGMENTS, "lead-in": LEAD_IN, "chinese-and-other-scripts": CHINESE,
    "jsx": JSX, "fenced-twig": TWIG, "crlf": CRLF, "xml-glued-to-prose": XML_GLUED,
}

RAW_WRAPPED = """{% raw %}
You are a Liquid expert. Explain {{ page.title }} and {% comment %}notes{% endcomment %} tags.

Example:
```liquid
{% for x in list %}{{ x }}{% endfor %}
```
- Never render user input. Escape it first.
{% endraw %}
Customer: {{ name }}
"""

RAW_INLINE = "Write {% raw %}{{ var }}{% endraw %} literally. Then stop.\nNext line stays.\n"

JINJA = {"raw-wrapped-file": RAW_WRAPPED, "raw-inline": RAW_INLINE,
         "fenced-json-in-j2": FENCED_JSON, "xml-in-j2": XML_SECTIONS, "table-in-j2": CONJUGATION_TABLE}


def units_of(source: str, plain: bool = True):
    return segment(source, "prompts/x.txt" if plain else "prompts/x.j2", plain)


def check_leave_one_out(source: str, plain: bool) -> None:
    units, fixed = units_of(source, plain)
    assert units, "a fixture with no units tests nothing"
    assert problems(source) == []
    subsets = [[u] for u in units] + [[v for v in units if v is not u] for u in units] + [units]
    for removed in subsets:
        variant = remove_units(source, removed)
        assert new_problems(source, variant) == [], ([u.text for u in removed], variant)
        again, _ = units_of(variant, plain)
        gone = {u.id for u in removed}
        assert [u.text for u in again] == [u.text for u in units if u.id not in gone]
        if not plain:
            from promptslim.template.sandbox import compile_source
            compile_source(variant, "prompts/x.j2")


@pytest.mark.parametrize("name", sorted(PLAIN))
def test_every_leave_one_out_variant_of_a_plain_prompt_stays_balanced(name):
    check_leave_one_out(PLAIN[name], plain=True)


@pytest.mark.parametrize("name", sorted(JINJA))
def test_every_leave_one_out_variant_of_a_jinja_prompt_stays_balanced(name):
    check_leave_one_out(JINJA[name], plain=False)


def kinds(source: str, plain: bool = True) -> list[tuple[str, str]]:
    return [(u.kind, u.text) for u in units_of(source, plain)[0]]


def test_a_fence_of_prose_is_a_container_whose_content_is_cut_into_units():
    # issue 26: a ```text fence holds instructions, not code; its fence lines stay, its sentences are units
    units, fixed = units_of(CODE_FENCE)
    assert [(u.kind, u.text) for u in units] == [
        ("sentence", "You are an assistant for a docs team."),
        ("sentence", "You are an assistant."), ("sentence", "Answer in one sentence."), ("sentence", "Never guess."),
        ("sentence", "Keep answers short."), ("sentence", "Cite the page you used.")]
    assert [(f.kind, f.text) for f in fixed] == [("fence", "```text"), ("fence", "```")]
    # emptied, the fence goes with its content: no empty fence is left in a slim prompt
    assert remove_units(CODE_FENCE, units[1:4]) == ("You are an assistant for a docs team.\n\n"
                                                    "Keep answers short. Cite the page you used.\n")


def test_a_json_tool_schema_line_is_one_unit():
    units = units_of(JSON_TOOL_LINE)[0]
    assert [u.kind for u in units] == ["sentence", "sentence", "json", "json"]
    assert units[2].text.startswith('{"type": "function"') and units[2].text.endswith("}}}}}")


def test_a_json_block_fenced_or_over_lines_is_one_unit():
    assert [k for k, _ in kinds(FENCED_JSON)] == ["code", "sentence"]
    assert [k for k, _ in kinds(MULTILINE_JSON)] == ["sentence", "sentence", "json", "sentence"]


def test_xml_tags_on_their_own_lines_are_fixed_and_their_content_is_segmented():
    units, fixed = units_of(XML_SECTIONS)
    assert [f.text for f in fixed if f.kind == "tag"] == [
        "<role>", "</role>", '<shell description="Run a command. Returns stdout.">', "<rules>", "</rules>",
        "</shell>"]
    assert [u.text for u in units] == [
        "You are a shell agent.", "You run commands for the user.", "Command(s) to execute.",
        "Keep each one short.", "Never run rm -rf.", "Ask before installing packages.",
        "<example>Run ls. Then report.</example>"]
    assert not any("<" in u.text for u in units[:-1])


def test_a_markdown_table_is_one_unit():
    units = units_of(CONJUGATION_TABLE)[0]
    assert [u.kind for u in units] == ["sentence", "sentence", "table", "sentence"]
    assert units[2].text.startswith("| Pronoun |") and units[2].text.endswith("| nous | sommes | avons |")


def test_fragments_headings_and_wrapped_bullets():
    units, fixed = units_of(FRAGMENTS)
    assert [(f.kind, f.text) for f in fixed] == [("heading", "**6. Code Quality & Patterns**"), ("text", "2.")]
    assert [(u.kind, u.text) for u in units] == [
        ("bullet", "1. **Keep functions small.** Split long ones into helpers."),
        ("bullet", "- Always read a file before you edit it, because the user may have changed it since you "
                   "last read it."),
        ("bullet", "- never delete files outside the workspace folder unless the user asked for it explicitly."),
        ("sentence", "Write the fix (then test it). (); {}")]
    assert not any(u.text[:1].islower() for u in units)


def test_a_lead_in_goes_with_what_it_introduces():
    units, fixed = units_of(LEAD_IN)
    example = [u for u in units if u.text.startswith(("- Summary", "- Details"))]
    assert len(example) == 2 and example[0].lead == example[1].lead and example[0].lead_size == 2
    assert remove_units(LEAD_IN, example[:1]).count("Example format:") == 1
    assert "Example format:" not in remove_units(LEAD_IN, example)
    plain_text = [u for u in units if u.text.startswith(("Plain text", "No markdown"))]
    assert "Output format:" not in remove_units(LEAD_IN, plain_text)
    heading = [u for u in units if u.text == "- A markdown heading stays."]
    assert heading[0].lead is None
    assert "## Never a lead-in" in remove_units(LEAD_IN, heading)


def test_other_scripts_are_split_into_sentences():
    units = units_of(CHINESE)[0]
    assert [u.text for u in units] == [
        "你是一个乐于助人的助手。", "请用中文回答用户的问题！", "如果不知道答案，就说不知道？", "不要编造事实。", "回答要简洁。",
        "Отвечай вежливо.", "Не выдумывай факты.", "Évite les répétitions.", "답변은 짧게 하세요.",
        "항상 존댓말을 쓰세요."]


def test_persian_sentences_split_at_their_own_marks():
    assert [u.text for u in units_of("سلام. خوش آمدید؟ لطفا کوتاه بنویس.\n")[0]] == [
        "سلام.", "خوش آمدید؟", "لطفا کوتاه بنویس."]


def test_a_tag_glued_to_prose_is_no_part_of_a_sentence():
    units, fixed = units_of(XML_GLUED)
    assert [u.text for u in units] == ["Intro text here.", "Be brief.", "Be kind.",
                                       "Use lists for lists.", "Never guess."]
    assert remove_units(XML_GLUED, units[1:]) == "Intro text here.\n<rules>\n\n</rules>\n"
    # a tag in the middle of a line is text of its sentence, not a section frame
    assert [u.text for u in units_of("Use List<String> here. Then stop.\n")[0]] == [
        "Use List<String> here.", "Then stop."]


def test_no_split_before_a_lower_case_letter_in_cased_scripts():
    assert sentence_cuts("Use it. это не конец. Да. ok.") == [len("Use it. это не конец. ")]


def test_full_width_marks_end_sentences():
    assert [u.text for u in units_of("Ｈｉ！Ｂｅ ｂｒｉｅｆ．Done。\n")[0]] == ["Ｈｉ！", "Ｂｅ ｂｒｉｅｆ．", "Done。"]


def test_jsx_and_twig_are_literal_in_a_plain_prompt():
    assert [k for k, _ in kinds(JSX)] == ["sentence", "sentence", "code", "sentence", "sentence"]
    assert kinds(JSX)[3][1] == "Use inline styles only when asked, e.g. `style={{margin: 0}}`."
    assert [k for k, _ in kinds(TWIG)] == ["sentence", "sentence", "code", "sentence"]


def test_raw_content_is_segmented_as_text():
    units, fixed = units_of(RAW_WRAPPED, plain=False)
    assert [u.text for u in units] == [
        "You are a Liquid expert.",
        "Explain {{ page.title }} and {% comment %}notes{% endcomment %} tags.",
        "```liquid {% for x in list %}{{ x }}{% endfor %} ```",
        "- Never render user input. Escape it first."]
    assert [(f.kind, f.text) for f in fixed] == [
        ("statement", "{% raw %}"), ("heading", "Example:"), ("statement", "{% endraw %}"),
        ("variable", "Customer: {{ name }}")]


def test_an_inline_raw_block_is_never_cut():
    assert [u.text for u in units_of(RAW_INLINE, plain=False)[0]] == [
        "Write {% raw %}{{ var }}{% endraw %} literally.", "Then stop.", "Next line stays."]


def test_crlf_lines_segment_like_lf():
    units, fixed = units_of(CRLF)
    assert [u.text for u in units] == ["Be brief.", "Be kind.", "- One.", "- Two."]
    assert remove_units(CRLF, units[2:]) == "Be brief. Be kind.\r\n\r\n"
    assert remove_units(CRLF, units[:1]) == "Be kind.\r\n\r\nRules:\r\n- One.\r\n- Two.\r\n"



@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_subset_of_units_of_any_fixture_stays_balanced(data):
    name = data.draw(st.sampled_from(sorted(PLAIN) + [f"j2:{n}" for n in sorted(JINJA)]), label="fixture")
    plain = not name.startswith("j2:")
    source = PLAIN[name] if plain else JINJA[name[3:]]
    units, _ = units_of(source, plain)
    removed = data.draw(st.lists(st.sampled_from(units), unique_by=lambda u: u.id), label="removed")
    variant = remove_units(source, removed)
    assert new_problems(source, variant) == []
    gone = {u.id for u in removed}
    assert [u.text for u in units_of(variant, plain)[0]] == [u.text for u in units if u.id not in gone]


SOUP = ["Be brief.", "Never guess!", " ", "\n", "\n\n", "- ", "1. ", "```", "```json\n", "{", "}", "[", "]", "(", ")",
        "<rules>", "</rules>", "<b>", "| a | b |\n", "|---|---|\n", "Rules:\n", "**Bold**", "`code`", "e.g. ",
        "你好。", "Да. ", '"x": 1', ",", "lower case", "  ", "\r\n", "{{ x }}", "{# role: user #}\n",
        "{# promptslim: keep #}\n", "2.", "Ok: ", "## H\n",
        # issue 26: indented and list-nested fences, fences of prose, backticked and mentioned tags, few-shot labels,
        # YAML, unfenced code, title lines, group markers
        "    ```json\n", "- ```text\n", "```text\n", "~~~\n", "````md\n", "````\n", "`<notes>`", "<notes>", "</notes>",
        "<cite>", "</cite>", "`", "``", "Input: ", "Answer: ", "Q: ", "A: ", "Example 1:\n", "tools:\n",
        "  - name: x\n", "namespace f {\n", "x = 1;\n", "// note\n", "System Prompt\n", "{# promptslim: unit #}\n",
        "{# promptslim: end #}\n", "\t"]


@settings(max_examples=400, deadline=None)
@given(parts=st.lists(st.sampled_from(SOUP), max_size=40), data=st.data(), plain=st.booleans())
def test_removing_units_from_any_token_soup_never_unbalances_it(parts, data, plain):
    # Balance only: a soup's lines re-join after a removal (two prose lines a bullet separated become one
    # paragraph), so units need not come out the same; the generated templates check that.
    source = "".join(parts)
    try:
        if not plain:
            compile_source(source, "prompts/x.j2")
        units, _ = units_of(source, plain)
    except InputError:
        return  # not a template (or a stray group marker): refused with its line, nothing to remove
    if not units:
        return
    removed = data.draw(st.lists(st.sampled_from(units), unique_by=lambda u: u.id), label="removed")
    variant = remove_units(source, removed)
    assert new_problems(source, variant) == []
    if not plain:
        compile_source(variant, "prompts/x.j2")  # a .j2 variant always compiles


def test_a_closing_tag_glued_to_a_word_stays_with_its_section():
    # found by the token-soup property: `1</rules>` ended the unit, so removing it left <rules> unclosed
    source = '<rules>\n"x": 1</rules>'
    units, _ = units_of(source)
    assert [u.text for u in units] == ['"x": 1']
    assert remove_units(source, units) == "<rules>\n</rules>"
    assert new_problems(source, remove_units(source, units)) == []


def test_removing_what_separated_two_tables_keeps_them_two():
    source = ("| a | b |\n|---|---|\n| Rule1 | x |\n{% for i in items %}\nRule2 {{ i }}\n{% endfor %}\n"
              "| c | d |\n|---|---|\n| Rule3 | y |\n")
    t = template_from_source(source, "prompts/gen.j2")
    block = next(u for u in t.units if u.kind == "block")
    variant = t.without({block.id})
    assert variant == "| a | b |\n|---|---|\n| Rule1 | x |\n\n| c | d |\n|---|---|\n| Rule3 | y |\n"
    again = template_from_source(variant, "prompts/gen.j2")
    assert [u.text for u in again.units] == [u.text for u in t.units if u.id != block.id]


def test_a_bullet_that_opens_a_tag_closed_on_a_later_line_frames_its_section():
    # found by the token-soup property: `- <rules>` was a unit, so removing it left `</rules>` unopened
    for newline in ("\n", "\r\n"):
        source = f"- <rules>{newline}- Be brief.{newline}</rules>"
        units, _ = units_of(source)
        assert [u.text for u in units] == ["- Be brief."]
        assert new_problems(source, remove_units(source, units)) == []


@pytest.mark.parametrize("source, kept", [
    ("Be brief.(\n)", ""),  # the closer alone on the next line: the lines are tied, the pair goes together
    # across a blank line the pair's ends lie in two paragraphs: the sentences holding them are fixed text (issue 26:
    # never a hole inside a sentence, so a removal deletes exactly the text `units` shows)
    ("Be brief. See (\n\nbelow). Be kind.\n", "See (\n\nbelow).\n"),
    ("- Be brief. (see\n\nbelow)\n", "- Be brief. (see\n\nbelow)\n"),  # the bullet holding one end is fixed
])
def test_a_bracket_whose_partner_lies_outside_its_unit_stays_behind(source, kept):
    # found by a 20,000-example run of the token-soup property
    units, _ = units_of(source)
    variant = remove_units(source, units)
    assert new_problems(source, variant) == [] and variant == kept
