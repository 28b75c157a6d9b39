"""Load and validate eval sets (YAML or JSONL) into frozen dataclasses, keeping lines for error messages."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from promptslim import limits, paths, safeyaml
from promptslim.errors import InputError
from promptslim.safeio import MAX_EVALSET_BYTES, read_repo_text, relative_inside

ASSERTION_TYPES = ("contains", "not-contains", "icontains", "equals", "regex", "one-of", "is-json",
                   "json-schema", "max-words", "max-sentences", "max-tokens")
_SET_KEYS = ("criteria", "threshold", "steps", "cases")
_CASE_KEYS = ("id", "vars", "input", "expected", "assert")
_NO_VALUE = ("is-json",)
_INT_VALUE = ("max-words", "max-sentences", "max-tokens")


@dataclass(frozen=True)
class Assertion:
    """A deterministic check on one answer."""

    type: str
    value: Any
    line: int


@dataclass(frozen=True)
class Case:
    """One eval case: the template's variables, the user input, an optional reference, and checks."""

    id: str
    vars: dict[str, Any]
    input: str | None
    expected: str | None
    asserts: tuple[Assertion, ...]
    line: int

    def where(self, evalset_path: str) -> str:
        """How error messages point at this case: evalsets/x.yaml:12 (case 'refund-1')."""
        return f"{evalset_path}:{self.line} (case '{self.id}')"


@dataclass(frozen=True)
class EvalSet:
    """A template's eval set; `path` is the repo-relative path shown in messages."""

    path: str
    criteria: str | None
    threshold: float
    steps: tuple[str, ...] | None
    cases: tuple[Case, ...]
    sha256: str


def evalset_for(template_rel: str, root: Path) -> Path | None:
    """prompts/a/b.j2 -> evalsets/a/b.yaml (or .yml, .jsonl), if it exists."""
    for rel in paths.evalset_candidates(template_rel):
        if (root / rel).is_file():
            return root / rel
    return None


class _Err:
    def __init__(self, rel: str) -> None:
        self.rel = rel

    def __call__(self, line: int | None, message: str) -> InputError:
        return InputError(f"{self.rel}:{line}: {message}" if line else f"{self.rel}: {message}")


def _plain(node: yaml.Node, err: "_Err | None" = None) -> Any:
    """A YAML node to plain Python, resolving scalars the way yaml.safe_load does; unknown tags are errors."""
    return safeyaml.plain(node, err)


def load_yaml_text(text: str, shown: str) -> Any:
    """Plain data from untrusted YAML (e.g. --vars): safe tags only, no aliases, bounded; errors name the line."""
    err = _Err(shown)
    return _plain(safeyaml.compose(text, err), err)


def load_evalset(path: Path, root: Path, criteria: str | None = None, threshold: float | None = None) -> EvalSet:
    """Parse and validate; criteria/threshold are fallbacks for .jsonl sets (from config or flags)."""
    rel = relative_inside(path, root) or path.as_posix()
    err = _Err(rel)
    text = read_repo_text(path, root, "eval set", MAX_EVALSET_BYTES)
    digest = hashlib.sha256(text.encode()).hexdigest()
    if path.suffix == ".jsonl":
        return _jsonl(text, rel, criteria, threshold, err, digest)
    node = safeyaml.compose(text, err, count_cases=True)  # anchors, nesting and the case count bounded first
    if not isinstance(node, yaml.MappingNode):
        raise err(1, "an eval set is a mapping with 'cases' (and optional criteria, threshold, steps)")
    top = {k.value: v for k, v in node.value}
    lines = {k.value: k.start_mark.line + 1 for k, _ in node.value}
    for key in top:
        if key not in _SET_KEYS:
            raise err(lines[key], f"unknown key '{key}' (known: {', '.join(_SET_KEYS)})")
    set_criteria = _plain(top["criteria"], err) if "criteria" in top else criteria
    if set_criteria is not None and not isinstance(set_criteria, str):
        raise err(lines.get("criteria"), "'criteria' must be text")
    set_threshold = _plain(top["threshold"], err) if "threshold" in top else (0.7 if threshold is None else threshold)
    if isinstance(set_threshold, bool) or not isinstance(set_threshold, (int, float)) or not 0 <= set_threshold <= 1:
        raise err(lines.get("threshold"), "'threshold' must be a number between 0 and 1")
    steps = _plain(top["steps"], err) if "steps" in top else None
    if steps is not None and (not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps)):
        raise err(lines.get("steps"), "'steps' must be a list of evaluation steps (text)")
    if "cases" not in top or not isinstance(top["cases"], yaml.SequenceNode):
        raise err(lines.get("cases", 1), "'cases' must be a list of cases")
    cases = []
    for item in top["cases"].value:
        line = item.start_mark.line + 1
        if not isinstance(item, yaml.MappingNode):
            raise err(line, "each case must be a mapping with id, vars, input, expected, assert")
        data = {k.value: _plain(v, err) for k, v in item.value}
        key_lines = {k.value: k.start_mark.line + 1 for k, _ in item.value}
        assert_node = next((v for k, v in item.value if k.value == "assert"), None)
        if isinstance(assert_node, yaml.SequenceNode):
            key_lines["assert_items"] = [n.start_mark.line + 1 for n in assert_node.value]
        cases.append(_case(data, key_lines, line, err))
    return _finish(rel, set_criteria, float(set_threshold), tuple(steps) if steps else None, cases, err, digest)


def _jsonl(text: str, rel: str, criteria: str | None, threshold: float | None, err: _Err, digest: str) -> EvalSet:
    """One case per line; lines are counted and each case's nesting bounded before it is kept."""
    bounds = limits.current()
    cases = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if len(cases) >= bounds.max_cases:
            raise err(number, f"more than {bounds.max_cases:,} cases (max_cases) — split the eval set, or raise "
                              "max_cases in promptslim.toml")
        deep = err(number, f"nested deeper than {bounds.max_nesting} levels (max_nesting) — refused")
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise err(number, f"invalid JSON: {exc.msg}") from None
        except RecursionError:
            raise deep from None
        if safeyaml.nesting(data, bounds.max_nesting):
            raise deep
        if not isinstance(data, dict):
            raise err(number, "each line must be a JSON object (one case)")
        cases.append(_case(data, {k: number for k in data}, number, err))
    return _finish(rel, criteria, 0.7 if threshold is None else threshold, None, cases, err, digest)


def _remote_ref(schema: Any) -> str | None:
    """The first $ref / $dynamicRef that does not point inside the schema itself, if any."""
    if isinstance(schema, dict):
        for key, value in schema.items():
            if key in ("$ref", "$dynamicRef") and isinstance(value, str) and not value.startswith("#"):
                return value
            found = _remote_ref(value)
            if found is not None:
                return found
    elif isinstance(schema, list):
        for item in schema:
            found = _remote_ref(item)
            if found is not None:
                return found
    return None


def _finish(rel: str, criteria: str | None, threshold: float, steps: tuple[str, ...] | None, cases: list[Case],
            err: _Err, digest: str) -> EvalSet:
    if not cases:
        raise err(None, "no cases")
    seen: dict[str, int] = {}
    for case in cases:
        if case.id in seen:
            raise err(case.line, f"duplicate case id '{case.id}' (first at line {seen[case.id]})")
        seen[case.id] = case.line
    if not criteria and not any(c.asserts for c in cases):
        raise err(None, "nothing to grade: add 'criteria' for the judge or 'assert' checks to the cases")
    return EvalSet(rel, criteria.strip() if criteria else None, threshold, steps, tuple(cases), digest)


def _case(data: dict[str, Any], lines: dict[str, Any], line: int, err: _Err) -> Case:
    for key in data:
        if key not in _CASE_KEYS:
            raise err(lines.get(key, line), f"unknown case key '{key}' (known: {', '.join(_CASE_KEYS)})")
    case_id = data.get("id")
    if case_id is None or isinstance(case_id, (dict, list)) or str(case_id).strip() == "":
        raise err(line, "case without 'id'")
    variables = data.get("vars") or {}
    if not isinstance(variables, dict):
        raise err(lines.get("vars", line), f"case '{case_id}': 'vars' must be a mapping")
    user_input = data.get("input")
    if user_input is not None and not isinstance(user_input, str):
        user_input = json.dumps(user_input) if isinstance(user_input, (dict, list)) else str(user_input)
    expected = data.get("expected")
    if expected is not None and not isinstance(expected, str):
        expected = str(expected)
    raw = data.get("assert") or []
    if not isinstance(raw, list):
        raise err(lines.get("assert", line), f"case '{case_id}': 'assert' must be a list")
    item_lines = lines.get("assert_items") or [lines.get("assert", line)] * len(raw)
    asserts = tuple(_assertion(a, item_lines[i], case_id, err) for i, a in enumerate(raw))
    return Case(str(case_id), variables, user_input, expected, asserts, line)


def _assertion(raw: Any, line: int, case_id: Any, err: _Err) -> Assertion:
    if not isinstance(raw, dict) or "type" not in raw:
        raise err(line, f"case '{case_id}': each assertion is a mapping with 'type' (and 'value')")
    unknown = set(raw) - {"type", "value"}
    if unknown:
        raise err(line, f"case '{case_id}': unknown assertion key '{sorted(unknown)[0]}' (known: type, value)")
    kind, value = raw["type"], raw.get("value")
    if kind not in ASSERTION_TYPES:
        raise err(line, f"case '{case_id}': unknown assertion type '{kind}' (known: {', '.join(ASSERTION_TYPES)})")
    if kind in _NO_VALUE:
        return Assertion(kind, None, line)
    if value is None:
        raise err(line, f"case '{case_id}': assertion '{kind}' needs a 'value'")
    if kind in _INT_VALUE and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise err(line, f"case '{case_id}': '{kind}' needs a whole number, got {value!r}")
    if kind == "one-of" and (not isinstance(value, list) or not value):
        raise err(line, f"case '{case_id}': 'one-of' needs a list of allowed labels")
    if kind in ("contains", "not-contains", "icontains", "equals") and not isinstance(value, str):
        value = str(value)
    if kind == "regex":
        try:
            re.compile(str(value))
        except re.error as exc:
            raise err(line, f"case '{case_id}': invalid regex {value!r}: {exc}") from None
    if kind == "json-schema":
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise err(line, f"case '{case_id}': json-schema value must be a schema (mapping)") from None
        from jsonschema import Draft202012Validator
        from jsonschema.exceptions import SchemaError

        try:
            Draft202012Validator.check_schema(value)
        except SchemaError as exc:
            raise err(line, f"case '{case_id}': invalid JSON schema: {exc.message}") from None
        remote = _remote_ref(value)
        if remote is not None:
            raise err(line, f"case '{case_id}': json-schema refers to {remote!r} — promptslim resolves no remote "
                            "references (it would fetch them from CI with your eval data); inline that schema "
                            "under $defs and refer to it as '#/$defs/…'")
    return Assertion(kind, value, line)
