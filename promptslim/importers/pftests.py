"""promptfoo tests as promptslim cases: inline tests, test files (CSV, YAML, JSON, JSONL), defaultTest, var expansion.

Semantics follow promptfoo's documentation: a test's vars are defaultTest's vars overridden by its own; its
assertions are defaultTest's followed by its own; a var whose value is a list expands the test into one
case per combination (unless `options.disableVarExpansion`); CSV columns are vars except the `__expected…`
assertions and the other `__` columns.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptslim.errors import InputError
from promptslim.importers import MAX_CASES, Skipped, Source, load_data, slug, unique
from promptslim.importers.pfassert import WHY, Mapped, from_csv_cell, map_assertion

_TEST_KEYS_IGNORED = ("description", "metadata", "vars", "assert", "options", "threshold")
_DATA_SUFFIXES = (".yaml", ".yml", ".json", ".jsonl", ".csv")
_TEXT_SUFFIXES = (".txt", ".md")
_CODE = (".js", ".ts", ".mjs", ".cjs", ".py")


@dataclass(frozen=True)
class RawTest:
    """One promptfoo test before defaultTest is merged in; `where` names its file and key or line."""

    where: str
    data: dict[str, Any]


@dataclass
class Cases:
    """The cases built from every test, with what could not be mapped."""

    cases: list[dict[str, Any]] = field(default_factory=list)
    rubrics: list[list[tuple[str, Any]]] = field(default_factory=list)  # per case, in case order
    skipped: list[Skipped] = field(default_factory=list)
    notes: set[str] = field(default_factory=set)


def load_file_value(src: Source, ref: str, where: str) -> Any:
    """A `file://` value: parsed when it is YAML or JSON, text otherwise."""
    path = src.resolve(ref, where)
    text = src.read(path, where)
    if path.suffix in (".yaml", ".yml", ".json"):
        return load_data(text, src.shown(path), "json" if path.suffix == ".json" else "yaml")
    return text


def collect(spec: Any, src: Source, skipped: list[Skipped]) -> list[RawTest]:
    """Every test the config's `tests` names: inline mappings, and files or globs (file://…)."""
    if spec is None:
        return []
    items = spec if isinstance(spec, list) else [spec]
    out: list[RawTest] = []
    for i, item in enumerate(items):
        where = f"{src.name}: tests" + (f"[{i}]" if isinstance(spec, list) else "")
        if isinstance(item, dict) and "path" in item and set(item) <= {"path", "config"}:
            item = item["path"]  # {path: file://…, config: …} is a generator with arguments
        if isinstance(item, dict):
            out.append(RawTest(where, item))
        elif isinstance(item, str):
            out += _from_files(item, where, src, skipped)
        else:
            raise InputError(f"{where}: a test is a mapping (vars, assert) or a file:// path")
        if len(out) > MAX_CASES:
            raise InputError(f"{where}: more than {MAX_CASES:,} tests — promptslim runs every case on every variant")
    return out


def _from_files(ref: str, where: str, src: Source, skipped: list[Skipped]) -> list[RawTest]:
    if not ref.startswith("file://") and "://" in ref or ref.startswith(("https:", "http:")):
        skipped.append(Skipped("tests", where, f"not imported: {ref} is remote (Google Sheets, Hugging Face, a URL); "
                                               "promptslim reads no network source — export it to CSV first"))
        return []
    pattern = ref[len("file://"):] if ref.startswith("file://") else ref
    file_part = pattern.split("#", 1)[0]
    if file_part.endswith(_CODE) or re.search(r"\.(?:py|js|ts|mjs|cjs):", file_part):
        skipped.append(Skipped("tests", where, f"not imported: {ref} generates tests with code — {WHY['never']}"))
        return []
    out: list[RawTest] = []
    for path in src.glob(pattern, where) if any(c in pattern for c in "*?[") else [src.resolve(ref, where)]:
        shown = src.shown(path)
        if path.suffix not in _DATA_SUFFIXES:
            skipped.append(Skipped("tests", where, f"not imported: {shown} ({path.suffix or 'no suffix'}) — promptslim "
                                                   "reads tests from .csv, .yaml, .json and .jsonl"))
            continue
        text = src.read(path, where, "test file")
        if path.suffix == ".csv":
            out += _csv_tests(text, shown)
        elif path.suffix == ".jsonl":
            for n, line in enumerate(text.splitlines(), start=1):
                if line.strip():
                    data = load_data(line, f"{shown}:{n}", "json")
                    if not isinstance(data, dict):
                        raise InputError(f"{shown}:{n}: each line is one test (a JSON object)")
                    out.append(RawTest(f"{shown}:{n}", data))
        else:
            data = load_data(text, shown, "json" if path.suffix == ".json" else "yaml")
            items = data if isinstance(data, list) else [data]
            for k, test in enumerate(items):
                if not isinstance(test, dict):
                    raise InputError(f"{shown}: [{k}]: a test is a mapping (vars, assert)")
                out.append(RawTest(f"{shown}: [{k}]", test))
    return out


def _csv_tests(text: str, shown: str) -> list[RawTest]:
    """promptfoo's CSV tests: columns are vars; `__expected…` cells are assertions; other `__` columns are options."""
    reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))  # Excel writes a BOM
    out: list[RawTest] = []
    try:
        for row in reader:
            line = reader.line_num
            if None in row:
                raise InputError(f"{shown}:{line}: this row has more cells than the header has columns")
            test: dict[str, Any] = {"vars": {}, "assert": [], "_assert_where": [], "_columns": {}}
            for key, value in row.items():
                key, value = key.strip(), value or ""
                if key.startswith("__expected"):
                    if value.strip():
                        test["assert"].append(from_csv_cell(value))
                        test["_assert_where"].append(f"{shown}:{line}: {key}")
                elif key == "__description":
                    test["description"] = value
                elif key.startswith(("__metadata", "__metric")):
                    continue  # labels for promptfoo's viewer; they change no grade
                elif key.startswith("__"):
                    if value.strip():
                        test["_columns"][key] = value
                else:
                    test["vars"][key] = value
            out.append(RawTest(f"{shown}:{line}", test))
    except csv.Error as exc:
        raise InputError(f"{shown}:{reader.line_num}: invalid CSV: {exc}") from None
    return out


def _vars(raw: Any, where: str, src: Source) -> dict[str, Any]:
    """A test's vars: a mapping, or file:// YAML/JSON files of vars."""
    if raw is None:
        return {}
    if isinstance(raw, (str, list)) and not isinstance(raw, dict):
        merged: dict[str, Any] = {}
        for ref in raw if isinstance(raw, list) else [raw]:
            data = load_file_value(src, str(ref), f"{where}.vars")
            if not isinstance(data, dict):
                raise InputError(f"{where}.vars: {ref} must hold a mapping of variables")
            merged.update({str(k): v for k, v in data.items()})
        return merged
    if not isinstance(raw, dict):
        raise InputError(f"{where}.vars: must be a mapping of variables")
    return {str(k): v for k, v in raw.items()}  # promptfoo's vars are named by strings (YAML may say 1: …)


def _var_value(value: Any, where: str, src: Source) -> Any:
    """A var that is `file://…`: text and data files are read; images, PDFs and code are not mapped (KeyError)."""
    if not (isinstance(value, str) and value.startswith("file://")):
        return value
    suffix = Path(value.split("#", 1)[0]).suffix.lower()
    if suffix in _TEXT_SUFFIXES + (".yaml", ".yml", ".json", ".j2", ".csv"):
        return load_file_value(src, value, where)
    reason = WHY["never"] if suffix in _CODE else \
        f"not mapped: {value} — promptslim sends text: it reads .txt, .md, YAML and JSON var files, not images, " \
        "PDFs or audio"
    raise KeyError(reason)


def build(tests: list[RawTest], default: dict[str, Any], src: Source) -> Cases:
    """The cases: defaultTest merged into each test, vars expanded, assertions mapped."""
    out = Cases()
    taken: set[str] = set()
    default_where = f"{src.name}: defaultTest"
    _options(default, default_where, out)
    default_asserts = default.get("assert") or []
    default_vars = _vars(default.get("vars"), default_where, src)
    if not isinstance(default_asserts, list):
        raise InputError(f"{default_where}.assert: must be a list of assertions")
    for n, test in enumerate(tests, start=1):
        data, where = test.data, test.where
        if not isinstance(data.get("options") or {}, dict):
            raise InputError(f"{where}.options: must be a mapping")
        options = {**(default.get("options") or {}), **(data.get("options") or {})}
        if _skip_whole_test(data, options, where, out):
            continue
        _options(data, where, out)
        variables = {**default_vars, **_vars(data.get("vars"), where, src)}
        try:
            variables = {k: _var_value(v, f"{where}.vars.{k}", src) for k, v in variables.items()}
        except KeyError as exc:
            out.skipped.append(Skipped("vars", where, f"test not imported: a var is {exc.args[0]}"))
            continue
        expanded = [variables] if options.get("disableVarExpansion") else _expand(variables, where)
        own = data.get("assert") or []
        if not isinstance(own, list):
            raise InputError(f"{where}.assert: must be a list of assertions")
        own_where = data.get("_assert_where") or [f"{where}.assert[{i}]" for i in range(len(own))]
        raw_asserts = [*((a, f"{default_where}.assert[{i}]") for i, a in enumerate(default_asserts)),
                       *zip(own, own_where)]
        base_id = slug(data["description"], f"test-{n}") if data.get("description") else f"test-{n}"
        for k, combo in enumerate(expanded, start=1):
            mapped = Mapped()
            for raw, assert_where in raw_asserts:
                if options.get("transform") is not None and isinstance(raw, dict):
                    mapped.skipped.append(Skipped(str(raw.get("type")), assert_where, WHY["transform"]))
                    continue
                mapped.add(map_assertion(raw, combo, assert_where,
                                         lambda ref, w: load_file_value(src, ref, w)))
            case: dict[str, Any] = {"id": unique(base_id if len(expanded) == 1 else f"{base_id}-{k}", taken)}
            if combo:
                case["vars"] = combo
            if mapped.asserts:
                case["assert"] = mapped.asserts
            out.cases.append(case)
            out.rubrics.append(mapped.rubrics)
            out.skipped += mapped.skipped
            out.notes |= mapped.notes
            if len(out.cases) > MAX_CASES:
                raise InputError(f"{where}: the tests expand to more than {MAX_CASES:,} cases — promptslim runs every "
                                 "case on every variant")
    return out


def _expand(variables: dict[str, Any], where: str) -> list[dict[str, Any]]:
    """promptfoo runs a test once per combination of its list-valued vars."""
    keys = [k for k, v in variables.items() if isinstance(v, list)]
    if not keys:
        return [variables]
    total = 1
    for k in keys:
        total *= max(len(variables[k]), 1)
    if total > MAX_CASES:
        raise InputError(f"{where}.vars: expands to {total:,} cases (limit {MAX_CASES:,})")
    combos = itertools.product(*(variables[k] for k in keys))
    return [{**variables, **dict(zip(keys, combo))} for combo in combos]


def _skip_whole_test(data: dict[str, Any], options: dict[str, Any], where: str, out: Cases) -> bool:
    """Tests whose answer does not come from the prompt as written: a fixed output, or a prefix/suffix."""
    columns = data.get("_columns") or {}
    reasons = []
    if data.get("providerOutput") is not None or "__providerOutput" in columns:
        reasons.append("providerOutput: a fixed answer, not the model's")
    for key in ("prefix", "suffix"):
        if options.get(key) or f"__{key}" in columns:
            reasons.append(f"{key}: the prompt changes per test")
    for reason in reasons:
        out.skipped.append(Skipped("option", where, f"test not imported — {reason}"))
    return bool(reasons)


def _options(data: dict[str, Any], where: str, out: Cases) -> None:
    """List what a test sets that changes grading but has no promptslim equivalent."""
    columns = data.get("_columns") or {}
    if data.get("threshold") is not None or "__threshold" in columns:
        out.skipped.append(Skipped("option", where, "threshold: promptfoo passes a test on a weighted score; "
                                                    "promptslim fails a case on any failed assertion"))
    for key in columns:
        if key not in ("__threshold", "__providerOutput", "__prefix", "__suffix"):
            out.skipped.append(Skipped("option", where, f"{key}: not mapped"))
    options = data.get("options") or {}
    if not isinstance(options, dict):
        raise InputError(f"{where}.options: must be a mapping")
    if options.get("provider") is not None:
        out.notes.add("options.provider (the grader): not used; promptslim's judge_model grades llm-rubric criteria")
    for key in ("provider", "providers"):
        if data.get(key) is not None:
            out.skipped.append(Skipped("option", where, f"{key}: the test runs on every prompt with the configured "
                                                        "model (promptslim has no per-case provider)"))
    unknown = set(data) - set(_TEST_KEYS_IGNORED) - {"provider", "providers", "providerOutput", "_columns",
                                                     "_assert_where"}
    for key in sorted(unknown):
        out.skipped.append(Skipped("option", where, f"{key}: not mapped"))
