"""Units on real prompts, round two (issue 26): each failure measured over 91 public system prompts, reproduced in
a few lines, and what a removal may and may not do to it. Balance is judged by tests/structure.py, which knows
nothing of the segmenter."""

from __future__ import annotations

import json
import os
import re
import signal
import threading
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structure import new_problems, problems
from typer.testing import CliRunner

from promptslim import limits
from promptslim.template import worker as renderworker
from promptslim.cli import app
from promptslim.errors import SandboxRefusal
from promptslim.engine.strategies.rewordings import apply
from promptslim.template.load import render_text, template_from_source
from promptslim.template.sandbox import _raw_like_blocks, compile_source
from promptslim.tokens import count_text
from promptslim.template.units import remove_units, segment


def cut(source: str, plain: bool = True):
    return segment(source, "prompts/x.txt" if plain else "prompts/x.j2", plain)


def texts(source: str, plain: bool = True) -> list[str]:
    return [u.text for u in cut(source, plain)[0]]


def every_variant(source: str, plain: bool = True) -> None:
    """Leave-one-out, all-but-one and all removed: nothing the original had balanced breaks, a .j2 compiles, and the
    units left are the units that were kept."""
    units, _ = cut(source, plain)
    assert units
    for removed in [[u] for u in units] + [[v for v in units if v is not u] for u in units] + [units]:
        variant = remove_units(source, removed)
        assert new_problems(source, variant) == [], ([u.text for u in removed], variant)
        if not plain:
            compile_source(variant, "prompts/x.j2")
        gone = {u.id for u in removed}
        assert texts(variant, plain) == [u.text for u in units if u.id not in gone]


# --- 1. fences the segmenter did not see --------------------------------------------------------------------------

INDENTED_FENCE = """Answer in this format:
- Reply with one JSON object:
    ```json
    {"label": "billing", "reason": "Mentions an invoice. Mentions a charge."}
    ```
- Never add prose around it.
"""

BULLET_FENCE = """Report each finding like this:
- ```text
  Finding 1: describe the problem. Keep it short.
  ```
- Number the findings.
"""

BLANK_IN_FENCE = """Before you answer:
1. Run the checks:
   ```bash
   ruff check .

   pytest -q
   ```
2. Read the output. Fix the first error.
"""


def test_a_fence_indented_in_a_list_item_belongs_to_the_item():
    units, fixed = cut(INDENTED_FENCE)
    assert [u.kind for u in units] == ["bullet", "bullet"]
    assert units[0].text.startswith("- Reply with one JSON object: ```json {") and units[0].text.endswith("```")
    assert not any(u.text.startswith("```") for u in units)  # the opener was a sentence unit of its own
    assert remove_units(INDENTED_FENCE, units[:1]) == "Answer in this format:\n- Never add prose around it.\n"
    every_variant(INDENTED_FENCE)


def test_a_fence_opened_on_a_bullet_line_is_closed_inside_that_bullet():
    units, _ = cut(BULLET_FENCE)
    assert [u.text for u in units] == [
        "- ```text Finding 1: describe the problem. Keep it short. ```", "- Number the findings."]
    assert problems(remove_units(BULLET_FENCE, units[:1])) == []
    every_variant(BULLET_FENCE)


def test_a_blank_line_inside_a_nested_fence_does_not_end_the_item():
    units, _ = cut(BLANK_IN_FENCE)
    assert [u.text for u in units] == ["1. Run the checks: ```bash ruff check . pytest -q ```",
                                       "2. Read the output. Fix the first error."]
    every_variant(BLANK_IN_FENCE)


def test_an_unclosed_fence_line_is_fixed_not_a_two_token_unit():
    units, fixed = cut("Be brief.\n```json\n")
    assert [u.text for u in units] == ["Be brief."] and [(f.kind, f.text) for f in fixed] == [("fence", "```json")]


# --- 2. XML pairing broken by prose mentions -----------------------------------------------------------------------

BACKTICKED_TAG = """A `<notes>` section will appear after the documents. Read it first.

<notes>
Focus on contract law.
</notes>
"""

TAG_MENTION = """<rules>
- Wrap each claim in <cite> tags.
- Be brief.</rules>

Example: Courts look at intent (see <cite>doc-3</cite>).
"""


def test_a_backticked_tag_is_text_of_its_sentence_never_a_hole():
    units, _ = cut(BACKTICKED_TAG)
    assert [u.text for u in units] == ["A `<notes>` section will appear after the documents.", "Read it first.",
                                       "Focus on contract law."]
    assert remove_units(BACKTICKED_TAG, units[:1]).startswith("Read it first.\n\n<notes>\n")
    every_variant(BACKTICKED_TAG)


def test_a_tag_mentioned_in_prose_does_not_break_the_section_around_it():
    units, fixed = cut(TAG_MENTION)
    assert [u.text for u in units] == ["- Wrap each claim in <cite> tags.",
                                       "Example: Courts look at intent (see <cite>doc-3</cite>)."]
    # the line that closes the section is its frame: fixed, so </rules> cannot be removed
    assert ("tag", "- Be brief.</rules>") in [(f.kind, f.text) for f in fixed]
    every_variant(TAG_MENTION)


def test_a_tag_framing_a_section_from_a_sentence_edge_stays_as_a_fixed_tag():
    source = "Intro.\n<rules>Be brief. Be kind.\n\nNever guess.</rules>\n"
    units, fixed = cut(source)
    assert [u.text for u in units] == ["Intro.", "Be brief.", "Be kind.", "Never guess."]
    assert [(f.line, f.text) for f in fixed] == [(2, "<rules>"), (4, "</rules>")]
    assert remove_units(source, units[1:]) == "Intro.\n<rules>\n\n</rules>\n"
    every_variant(source)


# --- 3. a .j2 variant that no longer compiled ---------------------------------------------------------------------

BRACES_ACROSS_BLANK = 'Start {"a": {"b": "Find code. Use it."\n\n}}\n'


def test_braces_across_a_blank_line_never_leave_a_jinja_opener_behind():
    units, fixed = cut(BRACES_ACROSS_BLANK, plain=False)
    assert [u.text for u in units] == ['Use it."']
    assert ("text", 'Start {"a": {"b": "Find code.') in [(f.kind, f.text) for f in fixed]
    variant = remove_units(BRACES_ACROSS_BLANK, units)
    assert "{{" not in variant
    every_variant(BRACES_ACROSS_BLANK, plain=False)


# --- 4. inline code cut into holes ---------------------------------------------------------------------------------

INLINE_CODE = ("New services are created as `backend/<servicename>` using the http template. For example, billing "
               "lives in `backend/billing`. The health check is wrapped in a `<health>` tag; never remove it.\n")


def test_inline_code_is_atomic_and_a_unit_is_exactly_what_its_removal_deletes():
    units, _ = cut(INLINE_CODE)
    assert [u.text for u in units] == [
        "New services are created as `backend/<servicename>` using the http template.",
        "For example, billing lives in `backend/billing`.",
        "The health check is wrapped in a `<health>` tag; never remove it."]
    for u in units:
        (a, b), = u.spans
        assert " ".join(INLINE_CODE[a:b].split()) == u.text
        assert remove_units(INLINE_CODE, [u]) == (INLINE_CODE[:a] + INLINE_CODE[b:]).replace(" \n", "\n")
    every_variant(INLINE_CODE)


# --- 5. long lines load in linear time; the render limit is CPU time ------------------------------------------

_OLD_INLINE_ENDRAW = re.compile(r"(?m)^([^\n]*\S[^\n]*?)(\{%-?\s*endraw\s*)%\}(?=\r?\n)")
_OLD_RAW_LINE = re.compile(r"(?m)^([ \t]*\{%-?\s*raw\s*%\})(\r?\n)")


def old_raw_like_blocks(source: str) -> str:
    """template.py before issue 26: the same rewrite, quadratic in line length."""
    source = _OLD_INLINE_ENDRAW.sub(lambda m: m.group(1) + m.group(2) + "+%}", source)
    return _OLD_RAW_LINE.sub(lambda m: m.group(1) + "{% endraw %}" + m.group(2) + "{% raw %}", source)


@given(st.lists(st.sampled_from(["{% endraw %}", "{%- endraw %}", "{% endraw -%}", "{%endraw%}", "{% raw %}", " ",
                                 "\t", "x", "\n", "\r\n", "\x1c", "\u00a0", "{%", "%}", "endraw"]), max_size=30))
def test_the_raw_block_rewrite_is_the_old_one(parts):
    source = "".join(parts)
    assert _raw_like_blocks(source) == old_raw_like_blocks(source)


def test_a_long_single_line_template_loads_within_the_render_limit():
    # before issue 26 a 40 KB line took 12.7 s to compile and was refused at the 2 s limit
    line = "Answer the question, e.g. about refunds. Never guess (ask instead). " * 3000 + "\n"
    t = template_from_source(line, "prompts/long.j2")
    assert len(t.units) == 6000
    assert render_text(line, "prompts/long.j2", {}) == line


BOMB = "Be brief.\n\n{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}\n"


def test_a_render_over_its_cpu_time_is_refused_naming_file_line_and_setting(monkeypatch):
    monkeypatch.setattr(limits, "_current", limits.RenderLimits(timeout=0.5))
    with pytest.raises(SandboxRefusal) as err:
        render_text(BOMB, "prompts/bomb.j2", {})
    assert err.value.message == (
        "prompts/bomb.j2:3: rendering used more than 0.5 s of CPU time (render_timeout) — refused; a prompt template "
        "renders in milliseconds (if this one really needs longer, raise render_timeout in promptslim.toml)")


@pytest.mark.skipif(not renderworker.CPU_TIMED, reason="the worker counts CPU time on POSIX only")
def test_the_render_limit_counts_cpu_time_not_wall_time(monkeypatch):
    """A worker that gets no CPU for 1.5 s (a busy machine, taken to the extreme: stopped) still renders a template
    that needs milliseconds, under a 0.5 s limit that wall time would have passed."""
    monkeypatch.setattr(limits, "_current", limits.RenderLimits(timeout=0.5))
    source = "{% for i in range(2000) %}x{% endfor %}\n"
    assert render_text(source, "prompts/slow.j2", {}) == "x" * 2000  # the worker is up
    pid = renderworker._WORKER.proc.pid
    os.kill(pid, signal.SIGSTOP)
    threading.Timer(1.5, os.kill, (pid, signal.SIGCONT)).start()
    started = time.monotonic()
    assert render_text(source, "prompts/slow.j2", {}) == "x" * 2000
    assert time.monotonic() - started >= 1.4  # it did wait out the stop: wall time passed the limit


# --- 6. wrapped prompts are opened --------------------------------------------------------------------------------

WRAPPED = """```text
You are Nova, the assistant of a budgeting app. Be encouraging.

Rules:
- Never give tax advice.
- Answer in the user's language.
```
"""


@pytest.mark.parametrize("info", ["text", "md", "markdown", ""])
def test_a_fence_of_prose_is_a_container(info):
    source = WRAPPED.replace("```text", "```" + info)
    units, fixed = cut(source)
    assert [u.text for u in units] == ["You are Nova, the assistant of a budgeting app.", "Be encouraging.",
                                       "- Never give tax advice.", "- Answer in the user's language."]
    assert [(f.kind, f.text) for f in fixed] == [("fence", "```" + info), ("heading", "Rules:"), ("fence", "```")]
    every_variant(source)
    assert remove_units(source, units) == ""  # emptied, the fence goes too


def test_a_fence_without_language_holding_code_stays_one_unit():
    source = "Use this helper:\n```\ndef add(a, b):\n    return a + b\n```\n"
    assert [u.kind for u in cut(source)[0]] == ["code"]
    assert [u.kind for u in cut(WRAPPED.replace("```text", "```python"))[0]] == ["code"]


# --- 7. few-shot examples and empty marker pairs ------------------------------------------------------------------

FEW_SHOT = """Classify the message. Answer Yes or No.

Example 1:
Input: The app crashed and I lost my draft.
Answer: Yes

Input: How do I change my address?
Answer: No

Q: Is export on the free plan?
A: No

User: Do you have a room on Friday?
Assistant: Yes, a double room.
It costs 90 euros per night.
"""


def test_a_few_shot_example_is_one_unit_with_its_continuation_lines():
    units, _ = cut(FEW_SHOT)
    assert [(u.kind, u.text) for u in units] == [
        ("sentence", "Classify the message."), ("sentence", "Answer Yes or No."),
        ("example", "Example 1: Input: The app crashed and I lost my draft. Answer: Yes"),
        ("example", "Input: How do I change my address? Answer: No"),
        ("example", "Q: Is export on the free plan? A: No"),
        ("example", "User: Do you have a room on Friday? Assistant: Yes, a double room. It costs 90 euros per night.")]
    every_variant(FEW_SHOT)


def test_an_example_header_on_its_own_line_joins_the_example_after_it():
    units, _ = cut("Example 2:\n\nInput: Hi.\nOutput: greeting\n")
    assert [u.text for u in units] == ["Example 2: Input: Hi. Output: greeting"]


GROUPED = "Be brief.\n\n{# promptslim: unit #}\nInput: a\nAnswer: b\n{# promptslim: end #}\n\nBe kind.\n"


@pytest.mark.parametrize("rel", ["prompts/x.txt", "prompts/x.j2"])
def test_a_removed_group_leaves_no_empty_marker_pair_in_a_slim_or_rewritten_prompt(rel):
    t = template_from_source(GROUPED, rel)
    group = next(u for u in t.units if u.kind == "group")
    assert t.without({group.id}) == "Be brief.\n\nBe kind.\n"
    assert apply(t, [group.id], []) == "Be brief.\n\nBe kind.\n"
    assert "promptslim" not in apply(t, [group.id], [])


# --- 8. granularity -----------------------------------------------------------------------------------------------

TOOLS = """## Tools

namespace functions {

// Search the docs. Returns the top hits.
type search = (_: {
query: string,
}) => any;

} // namespace functions

tools:
  - name: open_page
    description: fetch a page and return its text.
  - name: search
    description: search the web.

System Prompt

Answer briefly.
"""


def test_tool_docs_yaml_and_title_lines_come_out_as_blocks():
    units, fixed = cut(TOOLS)
    assert [(u.kind, u.text) for u in units] == [
        ("code", "// Search the docs. Returns the top hits. type search = (_: { query: string, }) => any;"),
        ("yaml", "tools: - name: open_page description: fetch a page and return its text. - name: search "
                 "description: search the web."),
        ("sentence", "Answer briefly.")]
    assert [(f.kind, f.text) for f in fixed] == [
        ("heading", "## Tools"), ("text", "namespace functions {"), ("text", "} // namespace functions"),
        ("heading", "System Prompt")]
    every_variant(TOOLS)


def test_units_warns_when_one_unit_holds_a_quarter_of_the_prompt_and_says_why(make_repo):
    wrapped = "```python\n" + "You are Nova. Be encouraging. Never give tax advice. " * 12 + "\n```\n\nBe brief.\n"
    make_repo({"prompts/w.txt": wrapped, "prompts/open.txt": WRAPPED * 4})
    result = CliRunner().invoke(app, ["units", "prompts/w.txt"])
    assert result.exit_code == 0, result.output
    total = count_text(wrapped, "gpt-4o-mini")
    fence, _ = cut(wrapped)[0]
    share = count_text(fence.text, "gpt-4o-mini") / total
    assert (f"warning: prompts/w.txt:1: unit 1 holds {share:.0%} of the prompt's {total} tokens — a code fence is one "
            "unit, its content is never cut (a fence of prose — ```text, ```md or no language — is cut into units); "
            "the ablation can only keep or drop it whole") in " ".join(result.stderr.split())
    data = json.loads(CliRunner().invoke(app, ["units", "prompts/open.txt", "--json"]).stdout)
    assert len(data["units"]) == 16 and data["warnings"] == []  # the same text as ```text: opened, no warning


REPRODUCTIONS = {"indented-fence": (INDENTED_FENCE, True), "bullet-fence": (BULLET_FENCE, True),
                 "blank-in-fence": (BLANK_IN_FENCE, True), "backticked-tag": (BACKTICKED_TAG, True),
                 "tag-mention": (TAG_MENTION, True), "braces-across-blank": (BRACES_ACROSS_BLANK, False),
                 "inline-code": (INLINE_CODE, True), "wrapped": (WRAPPED, True), "few-shot": (FEW_SHOT, True),
                 "grouped": (GROUPED, False), "tools": (TOOLS, True)}


@settings(max_examples=150, deadline=None)
@given(data=st.data())
def test_any_subset_of_units_of_any_reproduction_stays_balanced(data):
    source, plain = REPRODUCTIONS[data.draw(st.sampled_from(sorted(REPRODUCTIONS)), label="reproduction")]
    units, _ = cut(source, plain)
    removed = data.draw(st.lists(st.sampled_from(units), unique_by=lambda u: u.id), label="removed")
    variant = remove_units(source, removed)
    assert new_problems(source, variant) == []
    if not plain:
        compile_source(variant, "prompts/x.j2")
    gone = {u.id for u in removed}
    assert texts(variant, plain) == [u.text for u in units if u.id not in gone]
