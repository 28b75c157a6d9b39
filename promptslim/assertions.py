"""Deterministic checks: free, exact, and each failure keeps a reason a person can read."""

from __future__ import annotations

import json
import re

from promptslim.evalset import Assertion
from promptslim.tokens import count_text

# A sentence ends at . ! ? followed by white space or the end, or at a line break: "3.5" and
# "example.com" stay inside their sentence. Enough for length limits.
_BOUNDARY = re.compile(r"(?<=[.!?])[\"')\]]*\s+|\n+")


def count_sentences(text: str) -> int:
    return len([s for s in _BOUNDARY.split(text) if re.search(r"[A-Za-z0-9]", s)])


def _short(text: str, width: int = 40) -> str:
    flat = " ".join(text.split())
    return repr(flat if len(flat) <= width else flat[: width - 1] + "…")


def check(assertion: Assertion, output: str, model: str = "gpt-4o") -> str | None:
    """None when the output passes; otherwise why it failed."""
    kind, value = assertion.type, assertion.value
    if kind == "contains":
        return None if value in output else f"contains {value!r}: not found"
    if kind == "not-contains":
        return None if value not in output else f"not-contains {value!r}: found"
    if kind == "icontains":
        return None if value.lower() in output.lower() else f"icontains {value!r}: not found"
    if kind == "equals":
        return None if output.strip() == value.strip() else f"equals {value!r}: got {_short(output)}"
    if kind == "regex":
        return None if re.search(str(value), output) else f"regex {value!r}: no match"
    if kind == "one-of":
        allowed = [str(v).strip().lower() for v in value]
        got = output.strip().lower()
        return None if got in allowed else f"one-of {', '.join(map(str, value))}: got {_short(output)}"
    if kind in ("is-json", "json-schema"):
        try:
            data = json.loads(_strip_fence(output))
        except json.JSONDecodeError as exc:
            return f"{kind}: not valid JSON ({exc.msg} at char {exc.pos})"
        if kind == "is-json":
            return None
        from jsonschema import Draft202012Validator
        from referencing import Registry
        from referencing.exceptions import Unresolvable

        # an empty registry that retrieves nothing: no reference is ever fetched over the network
        validator = Draft202012Validator(value, registry=Registry())
        try:
            errors = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
        except Unresolvable as exc:
            return f"json-schema: unresolvable reference {exc}"
        if errors:
            where = "/".join(str(p) for p in errors[0].path) or "(root)"
            return f"json-schema: {where}: {errors[0].message}"
        return None
    if kind == "max-words":
        words = len(output.split())
        return None if words <= value else f"max-words {value}: {words} words"
    if kind == "max-sentences":
        sentences = count_sentences(output)
        return None if sentences <= value else f"max-sentences {value}: {sentences} sentences"
    if kind == "max-tokens":
        tokens = count_text(output, model)
        return None if tokens <= value else f"max-tokens {value}: {tokens} tokens"
    raise ValueError(f"unknown assertion type {kind}")  # validated at load time; unreachable


def _strip_fence(text: str) -> str:
    """Models often wrap JSON in a ```json fence; the content is what counts."""
    match = re.fullmatch(r"\s*```(?:json)?\s*(.*?)\s*```\s*", text, re.S)
    return match.group(1) if match else text


def failures(asserts: tuple[Assertion, ...], output: str, model: str = "gpt-4o") -> list[str]:
    return [reason for a in asserts if (reason := check(a, output, model)) is not None]
