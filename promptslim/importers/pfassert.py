"""promptfoo assertions as promptslim's: exact where promptslim can say the same, listed where it cannot.

Each promptfoo type maps to assertions that pass on exactly the answers promptfoo's would pass. Where
promptslim has no type of that name the mapping is a regex that says the same thing (`contains-any` is
`a|b` escaped; `starts-with` is `\\A…`; a negation is a lookahead anchored at the start). Code-running
types (javascript, python, webhook, ruby) are never executed, and types that need a model or data
promptslim does not keep (similar, cost, latency, tool calls) are listed with the reason.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from promptslim.errors import InputError
from promptslim.importers import Skipped

NEVER_RUN = ("javascript", "python", "webhook", "ruby")
RUBRICS = ("llm-rubric", "g-eval")
TOOLS = ("is-valid-openai-tools-call", "is-valid-openai-function-call", "is-valid-function-call", "tool-call-f1")
WHY = {
    "never": "never executed: promptslim runs no code from an imported suite",
    "cost": "not a gate per call: promptslim prices every call ($/call, $/month) and stops a run at its budget",
    "latency": "not mapped: promptslim measures quality, tokens and dollars, not latency",
    "tools": "not mapped: promptslim sends no tools and grades the answer's text",
    "transform": "not mapped: its checks ran on a transformed output; promptslim grades the raw answer",
    "contains-json": "not mapped: promptslim checks whole answers (is-json, json-schema), not JSON inside text",
    "other": "promptslim has no equivalent",
}
NOTES = {
    "equals": "equals: promptslim compares with surrounding whitespace trimmed (promptfoo compares exactly)",
    "json": "is-json / equals (JSON): promptslim also accepts JSON inside a ```json fence",
    "regex": "regex: promptfoo runs JavaScript regular expressions, promptslim Python's (named groups translated)",
}

# promptfoo's assertion types as the CSV `__expected` grammar knows them (src/csv.ts in promptfoo)
CSV_TYPES = (
    "answer-relevance", "bleu", "classifier", "contains", "contains-all", "contains-any", "contains-html",
    "contains-json", "contains-sql", "contains-xml", "context-faithfulness", "context-recall", "context-relevance",
    "conversation-relevance", "cost", "equals", "factuality", "finish-reason", "g-eval", "gleu", "guardrails",
    "icontains", "icontains-all", "icontains-any", "is-html", "is-json", "is-refusal", "is-sql",
    "is-valid-function-call", "is-valid-openai-function-call", "is-valid-openai-tools-call", "is-xml", "javascript",
    "latency", "levenshtein", "llm-rubric", "max-score", "meteor", "model-graded-closedqa", "model-graded-factuality",
    "moderation", "perplexity", "perplexity-score", "pi", "python", "regex", "rouge-n", "ruby", "select-best",
    "similar", "starts-with", "tool-call-f1", "webhook", "word-count",
)
_CSV_RE = re.compile(r"^(not-)?(" + "|".join(map(re.escape, CSV_TYPES)) + r")(?:\((\d+(?:\.\d+)?)\))?(?::([\s\S]*))?$")
_LIST_TYPES = ("contains-all", "contains-any", "icontains-all", "icontains-any")
_RAW_TYPES = ("contains-json", "is-json")
_CODE_FILE = (".js", ".mjs", ".cjs", ".ts", ".py", ".rb")
_VAR = re.compile(r"\{\{\s*([A-Za-z_][\w.]*)\s*\}\}")


@dataclass
class Mapped:
    """One or more promptfoo assertions in promptslim's terms."""

    asserts: list[dict[str, Any]] = field(default_factory=list)
    rubrics: list[tuple[str, Any]] = field(default_factory=list)  # (text, threshold or None)
    skipped: list[Skipped] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)

    def add(self, other: "Mapped") -> None:
        self.asserts += other.asserts
        self.rubrics += other.rubrics
        self.skipped += other.skipped
        self.notes |= other.notes


def from_csv_cell(cell: str) -> dict[str, Any]:
    """A CSV `__expected` cell as promptfoo reads it: `type:value`, `type(threshold):value`, or a bare value (equals)."""
    text = cell.strip()
    for prefix, kind in (("javascript:", "javascript"), ("fn:", "javascript"), ("eval:", "javascript"),
                         ("grade:", "llm-rubric"), ("llm-rubric:", "llm-rubric"), ("python:", "python")):
        if text.startswith(prefix):
            return {"type": kind, "value": text[len(prefix):].strip()}
    if text.startswith("file://") and text.endswith(_CODE_FILE):
        return {"type": "python" if ".py" in text else "javascript", "value": text}
    match = _CSV_RE.match(text)
    if not match:
        return {"type": "equals", "value": text}
    negated, kind, threshold, value = match.groups()
    out: dict[str, Any] = {"type": f"{'not-' if negated else ''}{kind}"}
    if kind in _LIST_TYPES:
        out["value"] = [item.strip() for item in value.split(",")] if value else value
    elif kind in _RAW_TYPES:
        out["value"] = value or None
    else:
        out["value"] = value.strip() if value is not None else None
    if threshold:
        out["threshold"] = float(threshold)
    return out


def _escape(value: str) -> str:
    """re.escape, leaving spaces readable (no pattern here is verbose, so a space is a space)."""
    return re.escape(value).replace("\\ ", " ")


def _python_regex(pattern: str) -> str | None:
    """A JavaScript regex source as Python's: named groups translated; None when Python cannot read it."""
    translated = re.sub(r"\(\?<(?=[A-Za-z_])", "(?P<", pattern)
    translated = re.sub(r"\\k<([A-Za-z_]\w*)>", r"(?P=\1)", translated)
    try:
        re.compile(translated)
    except re.error:
        return None
    return translated


def substitute(value: Any, variables: dict[str, Any]) -> Any:
    """`{{ var }}` in an assertion value, as promptfoo renders it with the test's vars; None when it cannot be done."""
    if isinstance(value, list):
        items = [substitute(v, variables) for v in value]
        return None if any(i is None for i in items) else items
    if not isinstance(value, str) or not re.search(r"\{[{%]", value):
        return value
    missing = object()

    def lookup(match: re.Match[str]) -> str:
        current: Any = variables
        for part in match.group(1).split("."):
            current = current.get(part, missing) if isinstance(current, dict) else missing
        if current is missing or isinstance(current, (dict, list)):
            raise KeyError(match.group(1))
        if isinstance(current, bool):
            return "true" if current else "false"
        return "" if current is None else str(current)

    try:
        out = _VAR.sub(lookup, value)
    except KeyError:
        return None
    return None if re.search(r"\{[{%]", out) else out


LoadFile = Callable[[str, str], Any]  # (file:// reference, where) -> its value


def map_assertion(raw: Any, variables: dict[str, Any], where: str, load_file: LoadFile) -> Mapped:
    """One promptfoo assertion (already merged with defaultTest) as promptslim assertions, rubrics or a listing."""
    out = Mapped()
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str) or not raw["type"].strip():
        raise InputError(f"{where}: an assertion is a mapping with a 'type' (e.g. {{type: contains, value: …}})")
    kind = raw["type"].strip()
    negated = kind.startswith("not-")
    base = kind[4:] if negated else kind

    def skip(why: str) -> Mapped:
        out.skipped.append(Skipped(kind, where, why))
        return out

    if base in NEVER_RUN:
        return skip(WHY["never"])
    if raw.get("transform") is not None or raw.get("contextTransform") is not None:
        return skip(WHY["transform"])
    if base == "assert-set":
        return _assert_set(raw, variables, where, load_file, out)
    value = raw.get("value")
    if isinstance(value, str) and value.startswith("file://"):
        if value.endswith(_CODE_FILE):
            return skip(WHY["never"])
        value = load_file(value, f"{where}.value")
    value = substitute(value, variables)
    if value is None and raw.get("value") is not None:
        return skip("not mapped: a templated value promptslim cannot fill from the test's vars")
    if base in RUBRICS:
        if negated or not isinstance(value, str) or not value.strip():
            return skip("not mapped: promptslim's judge takes one rubric as text")
        if raw.get("provider") is not None or raw.get("rubricPrompt") is not None:
            out.notes.add(f"{kind}: its own grader provider / rubricPrompt is not used; promptslim's judge_model grades")
        out.rubrics.append((value.strip(), raw.get("threshold")))
        return out
    if base == "cost":
        return skip(WHY["cost"])
    if base == "latency":
        return skip(WHY["latency"])
    if base in TOOLS:
        return skip(WHY["tools"])
    if base == "contains-json":
        return skip(WHY["contains-json"])
    mapped = _deterministic(base, negated, value, out)
    if mapped is None:
        return skip(f"not mapped: promptslim cannot express {kind} with this value ({_short(value)})"
                    if base in _HANDLED else WHY["other"])
    out.asserts += mapped
    return out


_HANDLED = ("contains", "icontains", "contains-any", "icontains-any", "contains-all", "icontains-all", "starts-with",
            "equals", "regex", "is-json", "word-count")


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= 40 else text[:39] + "…"


def _texts(value: Any) -> list[str] | None:
    """The list of strings a contains-any/-all takes: a list, or one comma-separated string."""
    if isinstance(value, str):
        value = [item.strip() for item in value.split(",")]
    if not isinstance(value, list) or not value or any(isinstance(v, (dict, list)) or v is None for v in value):
        return None
    return [str(v) for v in value]


def _deterministic(base: str, negated: bool, value: Any, out: Mapped) -> list[dict[str, Any]] | None:
    """promptslim assertions for the answer-text checks; None when this type/value has no exact equivalent."""
    scalar = isinstance(value, (str, int, float)) and not isinstance(value, bool)
    if base in ("contains", "icontains") and scalar:
        text = str(value)
        if base == "contains":
            return [{"type": "not-contains" if negated else "contains", "value": text}]
        return [{"type": "regex", "value": rf"(?is)\A(?!.*?{_escape(text)})"}] if negated else \
            [{"type": "icontains", "value": text}]
    if base in _LIST_TYPES:
        return _contains_list(base, negated, value)
    if base == "starts-with" and scalar:
        text = _escape(str(value))
        return [{"type": "regex", "value": rf"\A(?!{text})" if negated else rf"\A{text}"}]
    if base == "equals":
        return _equals(negated, value, scalar, out)
    if base == "regex" and isinstance(value, str):
        pattern = _python_regex(value)
        if pattern is None:
            return None
        if pattern != value:
            out.notes.add(NOTES["regex"])
        return [{"type": "regex", "value": rf"\A(?!(?s:.*?)(?:{pattern}))" if negated else pattern}]
    if base == "is-json" and not negated:
        return _is_json(value, out)
    if base == "word-count" and not negated and isinstance(value, dict) and set(value) == {"max"}:
        top = value["max"]
        if isinstance(top, int) and not isinstance(top, bool) and top >= 0:
            return [{"type": "max-words", "value": top}]
    return None


def _contains_list(base: str, negated: bool, value: Any) -> list[dict[str, Any]] | None:
    """(i)contains-any/-all: one assertion per item where promptslim has the type, else one regex that says the
    same (an alternation for -any, lookaheads for a negated -all)."""
    items = _texts(value)
    if items is None:
        return None
    case = "(?i)" if base.startswith("i") else ""
    either = "(?:" + "|".join(_escape(i) for i in items) + ")"
    if base.endswith("-any"):
        if not negated:
            return [{"type": "regex", "value": case + either}]
        if case:
            return [{"type": "regex", "value": rf"(?is)\A(?!.*?{either})"}]
        return [{"type": "not-contains", "value": i} for i in items]
    if not negated:
        return [{"type": "icontains" if case else "contains", "value": i} for i in items]
    every = "".join(f"(?=.*?{_escape(i)})" for i in items)
    return [{"type": "regex", "value": rf"(?{'is' if case else 's'})\A(?!{every})"}]


def _equals(negated: bool, value: Any, scalar: bool, out: Mapped) -> list[dict[str, Any]] | None:
    """equals: a JSON value as a json-schema const, a scalar as equals (trimmed, which the notes say)."""
    if isinstance(value, (dict, list)) and not negated:
        out.notes.add(NOTES["json"])
        return [{"type": "json-schema", "value": {"const": value}}]
    if not scalar:
        return None
    out.notes.add(NOTES["equals"])
    text = str(value)
    if negated:
        return [{"type": "regex", "value": rf"\A(?!\s*{_escape(text.strip())}\s*\Z)"}]
    return [{"type": "equals", "value": text}]


def _is_json(value: Any, out: Mapped) -> list[dict[str, Any]] | None:
    """is-json: with no value any JSON, with a schema (an object, or a string holding one) json-schema."""
    if isinstance(value, str) and value.strip():
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    out.notes.add(NOTES["json"])
    if value in (None, ""):
        return [{"type": "is-json"}]
    return [{"type": "json-schema", "value": value}] if isinstance(value, dict) else None


def _assert_set(raw: dict[str, Any], variables: dict[str, Any], where: str, load_file: LoadFile,
                out: Mapped) -> Mapped:
    """An assert-set whose every member must pass (no threshold, or 1) is its members; otherwise it is listed."""
    members = raw.get("assert")
    threshold = raw.get("threshold")
    if raw["type"].startswith("not-") or not isinstance(members, list) or (threshold is not None and threshold != 1):
        out.skipped.append(Skipped(raw["type"], where, "not mapped: a partial assert-set (threshold below 1) has no "
                                                       "promptslim equivalent; every assertion must pass"))
        return out
    for i, member in enumerate(members):
        out.add(map_assertion(member, variables, f"{where}.assert[{i}]", load_file))
    return out
