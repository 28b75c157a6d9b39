"""Errors that say how to fix literal braces, and warnings where Jinja would run silently (issue 16)."""

from __future__ import annotations

import json

import pytest
from test_cli import invoke, repo  # noqa: F401  (the CLI fixture repo)
from test_units_structure import JSX, TWIG

from promptslim.errors import InputError
from promptslim.template.load import render_messages, render_text, template_from_source

HINT = ("prompts/x.j2 is read as Jinja: for literal braces rename it to x.txt (plain text) "
        "or wrap them in {% raw %}…{% endraw %}")


def error_of(source: str) -> str:
    with pytest.raises(InputError) as err:
        template_from_source(source, "prompts/x.j2")
    assert err.value.exit_code == 2
    assert "\n" not in err.value.message
    return err.value.message


def test_jsx_in_a_j2_names_the_line_and_both_fixes():
    message = error_of(JSX)
    assert message.startswith("prompts/x.j2:3: syntax error: ")
    assert message.endswith(" — " + HINT)


def test_a_placeholder_with_spaces_names_its_line():
    message = error_of("Intro.\n\n{{ USER SYSTEM PROMPT }}\n")
    assert message == ("prompts/x.j2:3: syntax error: expected token 'end of print statement', got 'SYSTEM' — "
                       + HINT)


def test_a_lexer_error_gives_line_and_column_not_a_character_offset():
    line = "Reply in the user's language, " * 4 + "{{ a ? }} here."
    message = error_of("Intro.\n" + line + "\nMore.\n")
    assert message == f"prompts/x.j2:2:{line.index('{{') + 1}: syntax error: unexpected char '?' — " + HINT
    assert " at " not in message.split(" — ")[0]


def test_a_lexer_error_in_a_multi_line_expression_points_at_its_opening_braces():
    message = error_of("A.\nSee {{ the\n\n ? }} here.\nMore.\n")
    assert message.startswith("prompts/x.j2:2:5: syntax error: unexpected char '?' — ")


def test_a_long_line_parser_error_points_at_the_first_brace():
    line = "x" * 90 + " ${{ secrets.X }} and {{ a b }}"
    message = error_of("Intro.\n" + line + "\n")
    assert message.startswith(f"prompts/x.j2:2:{line.index('{{') + 1}: syntax error: ")


def test_an_unclosed_block_is_reported_where_it_opens():
    message = error_of("A.\n\n{% if products is defined %}\nB.\n\nC.\nD.\n")
    assert message == "prompts/x.j2:3: syntax error: '{% if %}' is never closed — " + HINT


@pytest.mark.parametrize("tag", ["{% render 'card' %}", "{% trans %}Hi{% endtrans %}",
                                 "{% comment %}x{% endcomment %}"])
def test_foreign_template_tags_get_the_same_hint(tag):
    message = error_of(f"Intro.\n{tag}\n")
    assert message.startswith("prompts/x.j2:2: syntax error: ") and message.endswith(" — " + HINT)


def test_an_undefined_variable_names_the_eval_set_and_the_literal_fix():
    with pytest.raises(InputError) as err:
        render_messages("Intro.\nUse {{ USER_PROMPT }} here.\n", "prompts/x.j2", {}, "hi", "evalsets/x.yaml")
    assert err.value.message == ("prompts/x.j2:2: undefined variable 'USER_PROMPT' — add it to the case's vars in "
                                 "evalsets/x.yaml; " + HINT)


def test_a_one_line_raw_block_keeps_the_next_newline():
    assert render_text("Use {% raw %}{{ x }}{% endraw %}\nNext.\n", "prompts/x.j2", {}) == "Use {{ x }}\nNext.\n"
    # a raw block on its own lines still trims as every block tag does
    assert render_text("{% raw %}\n{{ x }}\n{% endraw %}\nNext.\n", "prompts/x.j2", {}) == "{{ x }}\nNext.\n"


def test_comments_and_tags_in_a_code_fence_warn_that_they_run():
    t = template_from_source(TWIG, "prompts/x.j2")
    assert t.warnings == (
        "prompts/x.j2:3: Jinja comment {# … #} is dropped from the prompt, not shown — if it is text for the "
        "model, wrap it in {% raw %}…{% endraw %} or rename the file to x.txt",
        "prompts/x.j2:4: {% … %} inside a code fence (and 3 more lines) runs as Jinja, it is not shown as example "
        "code — wrap it in {% raw %}…{% endraw %} or rename the file to x.txt")
    rendered = render_text(TWIG, "prompts/x.j2", {})
    assert "list the products" not in rendered and "{% if" not in rendered  # what the warning is about


def test_markers_roles_and_raw_fences_do_not_warn():
    source = ("{# promptslim: keep #}\nBe kind.\n{% raw %}\n```twig\n{# shown #}\n{% if a %}{% endif %}\n```\n"
              "{% endraw %}\n{# role: user #}\n{{ input }}\n")
    assert template_from_source(source, "prompts/x.j2").warnings == ()


def test_units_prints_the_warnings_on_stderr(repo):  # noqa: F811
    (repo / "prompts" / "t.j2").write_text(TWIG)
    result = invoke("units", "prompts/t.j2")
    assert result.exit_code == 0
    assert "warning: prompts/t.j2:3: Jinja comment" in result.stderr
    assert "warning: prompts/t.j2:4: {% … %} inside a code fence" in result.stderr
    data = json.loads(invoke("units", "prompts/t.j2", "--json").stdout)
    assert len(data["warnings"]) == 2


def test_jsx_fails_in_j2_with_the_hint_and_works_as_txt(repo):  # noqa: F811
    (repo / "prompts" / "t.j2").write_text(JSX)
    result = invoke("units", "prompts/t.j2")
    assert result.exit_code == 2
    assert result.output.strip() == ("error: prompts/t.j2:3: syntax error: expected token 'end of print statement', "
                                     "got ':' — prompts/t.j2 is read as Jinja: for literal braces rename it to t.txt "
                                     "(plain text) or wrap them in {% raw %}…{% endraw %}")
    (repo / "prompts" / "t.j2").rename(repo / "prompts" / "t.txt")
    data = json.loads(invoke("units", "prompts/t.txt", "--json").stdout)
    assert [u["kind"] for u in data["units"]] == ["sentence", "sentence", "code", "sentence", "sentence"]


def test_count_without_an_eval_set_says_how_to_give_variables_and_why_the_month_is_zero(repo):  # noqa: F811
    (repo / "prompts" / "solo.j2").write_text("Plan: {{ plan }}.\n")
    result = invoke("count", "prompts/solo.j2")
    assert result.exit_code == 2
    assert "prompts/solo.j2:1: undefined variable 'plan' — pass --vars FILE.yaml" in result.output
    assert "input: key is the user message" in result.output and "case's vars" not in result.output
    (repo / "v.yaml").write_text("input: hi\n")
    result = invoke("count", "prompts/solo.j2", "--vars", "v.yaml")
    assert result.exit_code == 2 and "undefined variable 'plan' — add it to v.yaml" in result.output
    (repo / "prompts" / "solo.j2").write_text("Be brief.\n")
    result = invoke("count", "prompts/solo.j2")
    assert result.exit_code == 0
    assert "note: no eval set for prompts/solo.j2" in result.stderr and "--vars FILE.yaml" in result.stderr
    assert 'note: $/month is 0 because calls_per_month is not set' in result.stderr
    assert '[prompts."solo"]' in result.stderr
    data = json.loads(invoke("count", "prompts/t.j2", "--json").stdout)
    assert data["notes"] == []  # t has an eval set and calls_per_month


def test_ablate_warns_before_it_runs(repo, fake):  # noqa: F811
    fake.handler = lambda body: "x"
    (repo / "prompts" / "t.j2").write_text(TWIG + "Customer: {{ name }}\n")
    result = invoke("ablate", "prompts/t.j2", "--model", "gpt-4o-mini", "--judge-model", "none", "--yes")
    assert result.exit_code == 0, result.output
    assert "warning: prompts/t.j2:3: Jinja comment {# … #} is dropped" in result.stderr
    assert "warning: prompts/t.j2:4: {% … %} inside a code fence (and 3 more lines) runs as Jinja" in result.stderr
