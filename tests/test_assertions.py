"""Deterministic checks: every assertion type passes and fails, and a failure says why in words."""

from __future__ import annotations

import pytest

from promptslim.assertions import check, count_sentences, failures
from promptslim.evalset import Assertion
from promptslim.tokens import get_encoding


def a(kind: str, value=None) -> Assertion:
    return Assertion(kind, value, line=1)


# ------------------------------------------------------------------ one pass and one fail per type
def test_contains_passes_and_fails_with_reason():
    assert check(a("contains", "Anything else?"), "Done. Anything else?") is None
    assert check(a("contains", "Anything else?"), "Done. anything else?") == "contains 'Anything else?': not found"


def test_not_contains_passes_and_fails_with_reason():
    assert check(a("not-contains", "sorry"), "Here you go.") is None
    assert check(a("not-contains", "sorry"), "I am sorry.") == "not-contains 'sorry': found"


def test_icontains_ignores_case_and_fails_with_reason():
    assert check(a("icontains", "REFUND"), "Your refund is on its way.") is None
    assert check(a("icontains", "REFUND"), "Your parcel is on its way.") == "icontains 'REFUND': not found"


def test_equals_ignores_surrounding_whitespace_and_fails_with_what_it_got():
    assert check(a("equals", "yes"), "  yes\n") is None
    assert check(a("equals", "yes"), "no") == "equals 'yes': got 'no'"


def test_equals_shortens_a_long_answer_in_the_reason():
    reason = check(a("equals", "yes"), "word " * 30)
    assert reason.startswith("equals 'yes': got 'word word")
    assert reason.endswith("…'")
    assert len(reason) < 70


def test_regex_searches_anywhere_and_fails_with_reason():
    assert check(a("regex", r"(?i)\breturn"), "You can RETURN it within 30 days.") is None
    assert check(a("regex", r"^\d+$"), "forty-two") == r"regex '^\\d+$': no match"


def test_one_of_compares_trimmed_lowercase_labels_and_fails_with_reason():
    assert check(a("one-of", ["billing", "shipping", "other"]), "  Shipping\n") is None
    assert check(a("one-of", ["billing", "shipping"]), "refunds") == "one-of billing, shipping: got 'refunds'"


def test_is_json_passes_plain_json_and_fails_with_the_parse_error():
    assert check(a("is-json"), '{"ok": true}') is None
    assert check(a("is-json"), "[1, 2, 3]") is None
    assert check(a("is-json"), "Sure! {\"ok\": true}") == "is-json: not valid JSON (Expecting value at char 0)"


def test_is_json_accepts_json_inside_a_json_fence():
    assert check(a("is-json"), '```json\n{"ok": true}\n```') is None
    assert check(a("is-json"), '  ```\n[1, 2]\n```  \n') is None


def test_is_json_rejects_a_fence_with_broken_json_inside():
    reason = check(a("is-json"), '```json\n{"ok": tru}\n```')
    assert reason is not None and reason.startswith("is-json: not valid JSON (")


SCHEMA = {"type": "object", "properties": {"label": {"enum": ["a", "b"]}, "age": {"type": "integer"}},
          "required": ["label"]}


def test_json_schema_passes_a_valid_document_also_inside_a_fence():
    assert check(a("json-schema", SCHEMA), '{"label": "a", "age": 3}') is None
    assert check(a("json-schema", SCHEMA), '```json\n{"label": "b"}\n```') is None


def test_json_schema_fails_naming_the_path_and_the_problem():
    assert check(a("json-schema", SCHEMA), '{"label": "a", "age": "three"}') == \
        "json-schema: age: 'three' is not of type 'integer'"
    assert check(a("json-schema", SCHEMA), '{"age": 3}') == "json-schema: (root): 'label' is a required property"


def test_json_schema_fails_on_text_that_is_not_json():
    assert check(a("json-schema", SCHEMA), "label: a") == \
        "json-schema: not valid JSON (Expecting value at char 0)"


def test_max_words_counts_whitespace_separated_words():
    assert check(a("max-words", 3), "one two  three") is None
    assert check(a("max-words", 3), "one two three four") == "max-words 3: 4 words"


def test_max_sentences_passes_and_fails_with_reason():
    assert check(a("max-sentences", 2), "Hello there. How can I help?") is None
    assert check(a("max-sentences", 2), "Hi. Sure! Anything else?") == "max-sentences 2: 3 sentences"


def test_max_tokens_counts_with_the_models_tokenizer():
    text = "The quick brown fox jumps over the lazy dog."
    tokens = len(get_encoding("o200k_base").encode(text))
    assert tokens == 10
    assert check(a("max-tokens", tokens), text, model="gpt-4o") is None
    assert check(a("max-tokens", tokens - 1), text, model="gpt-4o") == f"max-tokens {tokens - 1}: {tokens} tokens"


def test_max_tokens_uses_cl100k_for_gpt_4():
    text = "antidisestablishmentarianism"
    cl100k = len(get_encoding("cl100k_base").encode(text))
    reason = check(a("max-tokens", 1), text, model="gpt-4")
    assert reason == f"max-tokens 1: {cl100k} tokens"


# ------------------------------------------------------------------ failures() over several checks
def test_failures_lists_every_failed_check_in_order_and_nothing_for_a_pass():
    asserts = (a("contains", "hi"), a("max-words", 1), a("not-contains", "bye"), a("regex", "x"))
    assert failures(asserts, "hi there") == ["max-words 1: 2 words", "regex 'x': no match"]
    assert failures(asserts[:1], "hi") == []
    assert failures((), "anything") == []


# ------------------------------------------------------------------ sentence counting
@pytest.mark.parametrize("text, expected", [
    ("", 0),
    ("   \n ", 0),
    ("Hello", 1),
    ("Hello.", 1),
    ("Hi. How are you? Fine!", 3),
    ("Really?! Yes.", 2),
    ("- first item\n- second item\n", 2),
    ("First line\nSecond line.", 2),
    ("...", 0),
])
def test_count_sentences(text, expected):
    assert count_sentences(text) == expected


def test_a_decimal_point_does_not_end_a_sentence():
    assert count_sentences("It costs 3.5 dollars.") == 1


def test_a_dot_inside_a_domain_name_does_not_end_a_sentence():
    assert count_sentences("Visit example.com today.") == 1
