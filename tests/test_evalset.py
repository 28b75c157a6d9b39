"""Eval sets: loaded into frozen values, and every mistake stopped before any call, with file:line and exit 2."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import textwrap
from pathlib import Path

import pytest
from typer.testing import CliRunner

import promptslim.cli
from promptslim.errors import InputError
from promptslim.evalset import ASSERTION_TYPES, evalset_for, load_evalset

try:
    from tests.repofiles import write_files as write
except ImportError:  # tests/ itself on sys.path (no package)
    from repofiles import write_files as write  # type: ignore

CONFIG = """[prompts."x"]
calls_per_month = 1000
[prices."fake-model"]
input = 1.0
output = 2.0
"""
TEMPLATE = "You are the support assistant of {{ shop }}.\n- Answer in one sentence.\n"


def load(tmp_path: Path, text: str, name: str = "evalsets/x.yaml", **fallbacks):
    write(tmp_path, {name: textwrap.dedent(text)})
    return load_evalset(tmp_path / name, tmp_path, **fallbacks)


def load_error(tmp_path: Path, text: str, name: str = "evalsets/x.yaml") -> str:
    with pytest.raises(InputError) as info:
        load(tmp_path, text, name)
    return info.value.message


@pytest.fixture
def repo(make_repo) -> Path:
    return make_repo({"promptslim.toml": CONFIG, "prompts/x.j2": TEMPLATE})


def run_eval(*args: str):
    return CliRunner().invoke(promptslim.cli.app, ["eval", "prompts/x.j2", "--model", "fake-model",
                                                  "--judge-model", "none", *args])


def rejected(repo: Path, fake, evalset: str, name: str = "evalsets/x.yaml", template: str | None = None) -> str:
    """Run `eval` on a bad eval set: exit 2, one line on stderr, no traceback, and not one call to the endpoint."""
    files = {name: textwrap.dedent(evalset)}
    if template is not None:
        files["prompts/x.j2"] = template
    write(repo, files)
    result = run_eval()
    assert result.exit_code == 2, result.output
    assert isinstance(result.exception, SystemExit)
    assert "Traceback" not in result.output
    assert result.stdout == ""
    assert fake.calls == 0
    message = result.stderr.strip()
    assert "\n" not in message
    assert message.startswith("error: ")
    return message[len("error: "):]


# ------------------------------------------------------------------ where the eval set lives
def test_evalset_for_mirrors_the_template_path_under_evalsets(tmp_path):
    write(tmp_path, {"evalsets/support/reply.yaml": "cases: []\n"})
    assert evalset_for("prompts/support/reply.j2", tmp_path) == tmp_path / "evalsets/support/reply.yaml"
    assert evalset_for("prompts/other.j2", tmp_path) is None


@pytest.mark.parametrize("suffix", [".yaml", ".yml", ".jsonl"])
def test_evalset_for_accepts_each_suffix(tmp_path, suffix):
    write(tmp_path, {f"evalsets/x{suffix}": ""})
    assert evalset_for("prompts/x.j2", tmp_path) == tmp_path / f"evalsets/x{suffix}"


def test_yaml_wins_over_jsonl_when_both_exist(tmp_path):
    write(tmp_path, {"evalsets/x.yaml": "", "evalsets/x.jsonl": ""})
    assert evalset_for("prompts/x.j2", tmp_path) == tmp_path / "evalsets/x.yaml"


# ------------------------------------------------------------------ loading the DESIGN.md example
DESIGN_EXAMPLE = """\
criteria: >            # the LLM judge's rubric
  The reply answers the customer's question correctly, politely and in at most three sentences.
threshold: 0.8
cases:
  - id: refund-1
    vars: {customer_name: Ana}
    input: "How do I return a broken toaster?"
    expected: "Explains the 30-day return via the account page."
    assert:
      - {type: contains, value: "Anything else?"}
      - {type: regex, value: "(?i)return"}
  - id: 2
    input: 42
"""


def test_the_design_example_loads_into_frozen_values_with_lines(tmp_path):
    es = load(tmp_path, DESIGN_EXAMPLE)
    assert es.path == "evalsets/x.yaml"
    assert es.criteria == ("The reply answers the customer's question correctly, politely and in at most "
                           "three sentences.")
    assert es.threshold == 0.8
    assert es.steps is None
    assert es.sha256 == hashlib.sha256(DESIGN_EXAMPLE.encode()).hexdigest()
    first, second = es.cases
    assert (first.id, first.vars, first.input, first.line) == ("refund-1", {"customer_name": "Ana"},
                                                              "How do I return a broken toaster?", 5)
    assert first.expected == "Explains the 30-day return via the account page."
    assert [(x.type, x.value, x.line) for x in first.asserts] == [("contains", "Anything else?", 10),
                                                                  ("regex", "(?i)return", 11)]
    assert (second.id, second.input, second.vars, second.asserts, second.line) == ("2", "42", {}, (), 12)
    with pytest.raises(dataclasses.FrozenInstanceError):
        first.id = "other"  # type: ignore[misc]


def test_threshold_defaults_to_0_7_and_steps_are_kept(tmp_path):
    es = load(tmp_path, """\
        criteria: Polite.
        steps: ["Check politeness.", "Check correctness."]
        cases:
          - {id: a, input: hi}
        """)
    assert es.threshold == 0.7
    assert es.steps == ("Check politeness.", "Check correctness.")


def test_is_json_needs_no_value_and_json_schema_may_be_given_as_text(tmp_path):
    es = load(tmp_path, """\
        cases:
          - id: a
            input: hi
            assert:
              - type: is-json
              - {type: json-schema, value: '{"type": "object"}'}
        """)
    assert [(x.type, x.value) for x in es.cases[0].asserts] == [("is-json", None), ("json-schema", {"type": "object"})]


def test_every_assertion_type_is_accepted(tmp_path):
    values = {"one-of": ["a", "b"], "json-schema": {"type": "object"}, "is-json": None,
              "max-words": 5, "max-sentences": 2, "max-tokens": 9}
    asserts = [{"type": kind, "value": values.get(kind, "x")} for kind in ASSERTION_TYPES]
    for item in asserts:
        if item["value"] is None:
            del item["value"]
    es = load(tmp_path, json.dumps({"cases": [{"id": "a", "input": "hi", "assert": asserts}]}))
    assert [x.type for x in es.cases[0].asserts] == list(ASSERTION_TYPES)


# ------------------------------------------------------------------ .jsonl
def test_jsonl_cases_keep_their_jsonl_line_and_take_criteria_from_the_caller(tmp_path):
    text = ('{"id": "a", "vars": {"shop": "Acme"}, "input": "hi"}\n'
            "\n"
            '{"id": "b", "input": "yo", "expected": "greets", "assert": [{"type": "contains", "value": "x"}]}\n')
    es = load(tmp_path, text, "evalsets/x.jsonl", criteria="Be polite.", threshold=0.5)
    assert [(c.id, c.line) for c in es.cases] == [("a", 1), ("b", 3)]
    assert es.cases[1].asserts[0].line == 3
    assert (es.criteria, es.threshold, es.steps) == ("Be polite.", 0.5, None)


def test_jsonl_threshold_defaults_to_0_7(tmp_path):
    es = load(tmp_path, '{"id": "a", "input": "hi", "assert": [{"type": "contains", "value": "x"}]}\n',
              "evalsets/x.jsonl")
    assert es.threshold == 0.7 and es.criteria is None


@pytest.mark.parametrize("text, expected", [
    ('{"id": "a", "input": "hi"}\n{"id": "b",\n', "evalsets/x.jsonl:2: invalid JSON: "),
    ('{"id": "a", "input": "hi"}\n\n["not", "a", "case"]\n', "evalsets/x.jsonl:3: each line must be a JSON object"),
    ('{"id": "a", "input": "hi"}\n{"id": "b", "inptu": "hi"}\n', "evalsets/x.jsonl:2: unknown case key 'inptu'"),
    ('{"id": "a", "input": "hi"}\n{"id": "b", "assert": [{"type": "startswith", "value": "x"}]}\n',
     "evalsets/x.jsonl:2: case 'b': unknown assertion type 'startswith'"),
    ('{"id": "a", "input": "hi"}\n\n\n{"id": "a", "input": "again"}\n',
     "evalsets/x.jsonl:4: duplicate case id 'a' (first at line 1)"),
])
def test_jsonl_errors_name_the_jsonl_line(tmp_path, text, expected):
    assert load_error(tmp_path, text.replace('"hi"}', '"hi", "assert": [{"type": "contains", "value": "x"}]}'),
                      "evalsets/x.jsonl").startswith(expected)


# ------------------------------------------------------------------ more validation, at the loader
@pytest.mark.parametrize("text, expected", [
    ("threshold: 1.5\ncases:\n  - {id: a, input: hi}\ncriteria: ok\n",
     "evalsets/x.yaml:1: 'threshold' must be a number between 0 and 1"),
    ("criteria: ok\nsteps: Check it.\ncases:\n  - {id: a, input: hi}\n",
     "evalsets/x.yaml:2: 'steps' must be a list of evaluation steps (text)"),
    ("criteria: ok\ncases: {id: a}\n", "evalsets/x.yaml:2: 'cases' must be a list of cases"),
    ("criteria: ok\n", "evalsets/x.yaml:1: 'cases' must be a list of cases"),
    ("- id: a\n", "evalsets/x.yaml:1: an eval set is a mapping with 'cases'"),
    ("criteria: ok\ncases:\n  - {input: hi}\n", "evalsets/x.yaml:3: case without 'id'"),
    ("criteria: ok\ncases:\n  - id: a\n    vars: [shop]\n", "evalsets/x.yaml:4: case 'a': 'vars' must be a mapping"),
    ("cases:\n  - id: a\n    input: hi\n", "evalsets/x.yaml: nothing to grade: add 'criteria'"),
    ("criteria: ok\ncases: []\n", "evalsets/x.yaml: no cases"),
    ("cases:\n  - id: a\n    assert:\n      - {type: max-words, value: many}\n",
     "evalsets/x.yaml:4: case 'a': 'max-words' needs a whole number, got 'many'"),
    ("cases:\n  - id: a\n    assert:\n      - {type: one-of, value: billing}\n",
     "evalsets/x.yaml:4: case 'a': 'one-of' needs a list of allowed labels"),
    ("cases:\n  - id: a\n    assert:\n      - {type: contains}\n",
     "evalsets/x.yaml:4: case 'a': assertion 'contains' needs a 'value'"),
    ("cases:\n  - id: a\n    assert:\n      - {type: contains, value: x, weight: 2}\n",
     "evalsets/x.yaml:4: case 'a': unknown assertion key 'weight'"),
    ("cases:\n  - id: a\n    assert:\n      - {type: json-schema, value: {type: strnig}}\n",
     "evalsets/x.yaml:4: case 'a': invalid JSON schema: "),
])
def test_loader_errors_name_file_and_line(tmp_path, text, expected):
    assert load_error(tmp_path, text).startswith(expected)


def test_a_missing_evalset_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="^evalsets/x.yaml: no such eval set$"):
        load_evalset(tmp_path / "evalsets/x.yaml", tmp_path)


# ------------------------------------------------------------------ through `promptslim eval`: stopped before any call
def test_unknown_set_key_is_rejected_before_any_call(repo, fake):
    message = rejected(repo, fake, """\
        criteria: Polite.
        cases:
          - {id: a, vars: {shop: Acme}, input: hi}
        treshold: 0.8
        """)
    assert message.startswith("evalsets/x.yaml:4: unknown key 'treshold' (known: criteria, threshold, steps, cases)")


def test_unknown_case_key_is_rejected_at_the_keys_line(repo, fake):
    message = rejected(repo, fake, """\
        criteria: Polite.
        cases:
          - id: a
            vars: {shop: Acme}
            input: hi
          - id: b
            vars: {shop: Acme}
            inputs: hello
        """)
    assert message.startswith("evalsets/x.yaml:8: unknown case key 'inputs' (known: id, vars, input, expected, assert)")


def test_missing_template_variable_names_template_line_variable_and_evalset(repo, fake):
    message = rejected(repo, fake, """\
        criteria: Polite.
        cases:
          - {id: a, vars: {shop: Acme, plan: gold}, input: hi}
          - {id: b, vars: {shop: Acme}, input: hi}
        """, template="You work for {{ shop }}.\n- Be brief.\nThe customer's plan: {{ plan }}\n")
    assert message == ("prompts/x.j2:3: undefined variable 'plan' — add it to the case's vars in evalsets/x.yaml:4 "
                       "(case 'b'); prompts/x.j2 is read as Jinja: for literal braces rename it to x.txt (plain text) "
                       "or wrap them in {% raw %}…{% endraw %}")  # issue 16: the literal-brace fixes too


CASE_WITHOUT_INPUT = """\
    criteria: Polite.
    cases:
      - {id: a, vars: {shop: Acme}, input: hi}
      - id: b
        vars: {shop: Acme}
    """


def test_case_without_input_is_rejected_before_any_call(repo, fake):
    message = rejected(repo, fake, CASE_WITHOUT_INPUT)
    assert "'input'" in message and "evalsets/x.yaml" in message


def test_case_without_input_names_the_cases_evalset_line(repo, fake):
    message = rejected(repo, fake, CASE_WITHOUT_INPUT)
    assert message.startswith("evalsets/x.yaml:4:")
    assert "'b'" in message


def test_case_without_input_for_a_template_that_uses_input_names_the_cases_line(repo, fake):
    message = rejected(repo, fake, CASE_WITHOUT_INPUT,
                       template="You work for {{ shop }}.\n{# role: user #}\nQuestion: {{ input }}\n")
    assert message.startswith("evalsets/x.yaml:4:")
    assert "'b'" in message and "vars" not in message


def test_unknown_assertion_type_is_rejected_at_the_assertions_line(repo, fake):
    message = rejected(repo, fake, """\
        cases:
          - id: a
            vars: {shop: Acme}
            input: hi
            assert:
              - {type: contains, value: Acme}
              - type: startswith
                value: Hi
        """)
    assert message.startswith("evalsets/x.yaml:7: case 'a': unknown assertion type 'startswith' (known: contains, ")


def test_invalid_regex_is_rejected_at_the_assertions_line(repo, fake):
    message = rejected(repo, fake, """\
        cases:
          - id: a
            vars: {shop: Acme}
            input: hi
            assert:
              - {type: regex, value: "(?i)refund("}
        """)
    assert message.startswith("evalsets/x.yaml:6: case 'a': invalid regex '(?i)refund(': ")


def test_duplicate_ids_are_rejected_at_the_second_case(repo, fake):
    message = rejected(repo, fake, """\
        criteria: Polite.
        cases:
          - id: refund-1
            vars: {shop: Acme}
            input: hi
          - id: refund-2
            vars: {shop: Acme}
            input: hello
          - id: refund-1
            vars: {shop: Acme}
            input: hey
        """)
    assert message == "evalsets/x.yaml:9: duplicate case id 'refund-1' (first at line 3)"


@pytest.mark.parametrize("text, line", [
    ("criteria: Polite.\ncases:\n  - id: a\n    input: where: now\n", 4),
    ("criteria: Polite.\ncases:\n  - id: a\n\tinput: hi\n", 4),
    ("criteria: Polite.\ncases:\n  - id: a\n    input: hi\n   vars: {shop: Acme}\n", 5),
])
def test_invalid_yaml_is_rejected_with_its_line(repo, fake, text, line):
    message = rejected(repo, fake, text)
    assert message.startswith(f"evalsets/x.yaml:{line}: invalid YAML: ")


def test_unclosed_quote_is_reported_where_the_quote_opens(repo, fake):
    message = rejected(repo, fake, 'criteria: Polite.\ncases:\n  - id: a\n    input: "hi\n  - id: b\n')
    assert message.startswith("evalsets/x.yaml:4: invalid YAML: ")


def test_jsonl_evalset_errors_name_the_jsonl_line_through_eval(repo, fake):
    message = rejected(repo, fake, '{"id": "a", "vars": {"shop": "A"}, "input": "hi", '
                                   '"assert": [{"type": "contains", "value": "A"}]}\n'
                                   '{"id": "b", "vars": {"shop": "A"}, "input": "hi", '
                                   '"assert": [{"type": "regex", "value": "[a-"}]}\n', name="evalsets/x.jsonl")
    assert message.startswith("evalsets/x.jsonl:2: case 'b': invalid regex '[a-': ")


def test_missing_evalset_says_which_file_to_create(repo, fake):
    result = run_eval()
    assert result.exit_code == 2
    assert fake.calls == 0
    assert "prompts/x.j2: no eval set — create evalsets/x.yaml" in result.stderr


def test_a_valid_jsonl_evalset_runs(repo, fake):
    fake.handler = lambda body: "Acme says hi."
    write(repo, {"evalsets/x.jsonl": '{"id": "a", "vars": {"shop": "Acme"}, "input": "hi", '
                                     '"assert": [{"type": "contains", "value": "Acme"}]}\n'})
    result = run_eval("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["evalset"] == "evalsets/x.jsonl"
    assert [(c["id"], c["score"]) for c in data["cases"]] == [("a", 1.0)]
    assert fake.calls == 1
