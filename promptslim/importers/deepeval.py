"""`promptslim import deepeval goldens.json|.csv|.jsonl`: an eval set from goldens saved by EvaluationDataset.

deepeval keeps no prompt: goldens are inputs with an expected output. Each golden becomes a case whose
`input` is the user message and whose `expected` is the judge's reference; `context`, `retrieval_context`,
`additional_metadata` and `custom_column_key_values` become vars of those names, for the template to use.
The judge's criteria come from --criteria or a GEval definition file (GEval's own argument names:
name, criteria, evaluation_steps, threshold). Multi-turn goldens, tools and expectations are listed.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from promptslim.errors import InputError
from promptslim.importers import (MAX_CASES, ImportResult, PlannedFile, Skipped, Source, evalset_yaml, load_data,
                                  slug, unique)

_VARS = ("context", "retrieval_context", "additional_metadata", "custom_column_key_values")
_IGNORED = ("actual_output", "comments", "source_file", "token_cost", "input_token_count", "output_token_count",
            "name", "id")  # measurements of an earlier run, or labels: they change no grade
_LISTED = {"tools_called": "tools: promptslim sends no tools and grades the answer's text",
           "expected_tools": "tools: promptslim sends no tools and grades the answer's text",
           "expectations": "expectations: not mapped (promptslim grades by criteria and the expected output)"}
_MULTI_TURN = ("scenario", "turns", "expected_outcome", "user_description", "persona")
_GEVAL_KEYS = ("name", "criteria", "evaluation_steps", "threshold", "evaluation_params", "rubric", "model",
               "strict_mode", "async_mode", "verbose_mode")
_DELIMITER = "|"  # deepeval joins a context list with '|' in CSV and JSONL (deepeval/dataset/utils.py DELIMITER)


def import_deepeval(goldens: Path, template: str, criteria: str | None = None,
                    geval: Path | None = None) -> ImportResult:
    """Goldens -> evalsets/<name>.yaml for the template prompts/<name>.j2 (which the user writes or already has)."""
    src = Source(Path(goldens))
    shown = src.name
    text = src.read(Path(goldens), str(goldens), "goldens file")
    rows = _rows(text, Path(goldens).suffix.lower(), shown)
    if not rows:
        raise InputError(f"{shown}: no goldens")
    if len(rows) > MAX_CASES:
        raise InputError(f"{shown}: {len(rows):,} goldens (limit {MAX_CASES:,}) — promptslim runs every case on "
                         "every variant")
    skipped: list[Skipped] = []
    notes: list[str] = []
    steps, threshold = None, None
    if geval is not None:
        criteria, steps, threshold = _geval(Path(geval), criteria, skipped)
    if not criteria:
        raise InputError(f"{shown}: goldens carry no grading — pass --criteria 'the judge's rubric' or --geval "
                         "FILE (a GEval definition: criteria, evaluation_steps, threshold)")
    taken: set[str] = set()
    cases = []
    for where, row in rows:
        case = _case(row, where, taken, skipped)
        if case is not None:
            cases.append(case)
    if not cases:
        raise InputError(f"{shown}: no golden promptslim can import (multi-turn goldens are listed)")
    used = [k for k in _VARS if any(k in c.get("vars", {}) for c in cases)]
    for case in cases:  # every case sets the same vars, so a template can test them ({% if context %})
        for key in used:
            case.setdefault("vars", {}).setdefault(key, [] if key.endswith("context") else {})
    name = _template_name(template)
    header = f"imported from {shown} by `promptslim import deepeval` ({len(cases)} goldens)"
    files = [PlannedFile(f"evalsets/{name}.yaml", evalset_yaml(cases, criteria, threshold, steps, header))]
    if any("context" in c.get("vars", {}) for c in cases):
        notes.append("context is a var: the template puts it in the prompt ({{ context | join('\\n') }}); the judge "
                     "sees the input, the answer and the expected output")
    return ImportResult(source=str(goldens), files=files, cases=len(cases), skipped=list(dict.fromkeys(skipped)),
                        notes=notes)


def _template_name(template: str) -> str:
    path = Path(template)
    parts = path.parts[1:] if path.parts and path.parts[0] == "prompts" else path.parts
    if not parts or path.is_absolute() or ".." in parts:
        raise InputError(f"--template {template}: a template under prompts/ (prompts/<name>.j2)")
    return Path(*parts).with_suffix("").as_posix()


def _rows(text: str, suffix: str, shown: str) -> list[tuple[str, dict[str, Any]]]:
    """Each golden as (where, fields): a JSON list, JSON lines, or deepeval's CSV with its header."""
    if suffix == ".csv":
        reader = csv.DictReader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
        rows = []
        try:
            for row in reader:
                if None in row:
                    raise InputError(f"{shown}:{reader.line_num}: this row has more cells than the header has columns")
                rows.append((f"{shown}:{reader.line_num}", _csv_fields(row, f"{shown}:{reader.line_num}")))
        except csv.Error as exc:
            raise InputError(f"{shown}:{reader.line_num}: invalid CSV: {exc}") from None
        return rows
    if suffix == ".jsonl":
        items = [(f"{shown}:{n}", load_data(line, f"{shown}:{n}", "json"))
                 for n, line in enumerate(text.splitlines(), start=1) if line.strip()]
    elif suffix == ".json":
        data = load_data(text, shown, "json")
        if not isinstance(data, list):
            raise InputError(f"{shown}: goldens are a JSON list of objects (EvaluationDataset.save_as('json', …))")
        items = [(f"{shown}: [{i}]", item) for i, item in enumerate(data)]
    else:
        raise InputError(f"{shown}: goldens are .json, .jsonl or .csv (what EvaluationDataset.save_as writes)")
    for where, item in items:
        if not isinstance(item, dict):
            raise InputError(f"{where}: a golden is an object (input, expected_output, context, …)")
    return items


def _csv_fields(row: dict[str, str], where: str) -> dict[str, Any]:
    """deepeval's CSV cells as the JSON fields: '|'-joined context lists, JSON metadata, empty cells absent."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        key = (key or "").strip()
        if value is None or value == "":
            continue
        if key in ("context", "retrieval_context"):
            out[key] = value.split(_DELIMITER)
        elif key in ("additional_metadata", "custom_column_key_values", "expectations", "turns"):
            try:
                out[key] = json.loads(value)
            except json.JSONDecodeError as exc:
                raise InputError(f"{where}: {key}: invalid JSON: {exc.msg}") from None
        else:
            out[key] = value
    return out


def _case(row: dict[str, Any], where: str, taken: set[str], skipped: list[Skipped]) -> dict[str, Any] | None:
    if row.get("input") in (None, "") and any(row.get(k) not in (None, "", []) for k in _MULTI_TURN):
        skipped.append(Skipped("multi-turn", where, "not imported: a conversational golden (scenario, turns) — "
                                                    "promptslim grades one answer to one input"))
        return None
    user_input = row.get("input")
    if not isinstance(user_input, str) or not user_input.strip():
        raise InputError(f"{where}: input: every golden needs its input text")
    case: dict[str, Any] = {"id": unique(slug(row.get("name") or "", f"golden-{len(taken) + 1}"), taken),
                            "input": user_input}
    variables = {k: row[k] for k in _VARS if row.get(k) not in (None, "", [], {})}
    for key in ("context", "retrieval_context"):
        value = variables.get(key)
        if isinstance(value, str):  # deepeval's CSV and JSONL join a context list with '|'
            value = variables[key] = value.split(_DELIMITER)
        if value is not None and (not isinstance(value, list) or not all(isinstance(v, (str, dict)) for v in value)):
            raise InputError(f"{where}: {key}: a list of text")
    if variables:
        case["vars"] = variables
    expected = row.get("expected_output")
    if expected not in (None, ""):
        case["expected"] = expected if isinstance(expected, str) else json.dumps(expected, ensure_ascii=False)
    for key, why in _LISTED.items():
        if row.get(key) not in (None, "", [], {}):
            skipped.append(Skipped(key, where, why))
    for key in sorted(set(row) - set(_VARS) - set(_IGNORED) - set(_LISTED) - set(_MULTI_TURN)
                      - {"input", "expected_output"}):
        if row.get(key) not in (None, "", [], {}):
            skipped.append(Skipped("field", where, f"{key}: not a golden field promptslim knows"))
    return case


def _geval(path: Path, criteria: str | None, skipped: list[Skipped]) -> tuple[str | None, list[str] | None, Any]:
    """A GEval definition (YAML or JSON, GEval's argument names) as criteria, steps and threshold."""
    src = Source(path)
    data = load_data(src.read(path, str(path), "GEval definition"), src.name,
                     "json" if path.suffix == ".json" else "yaml")
    metrics = data if isinstance(data, list) else [data]
    if not metrics or not all(isinstance(m, dict) for m in metrics):
        raise InputError(f"{src.name}: a GEval definition is a mapping (name, criteria, evaluation_steps, threshold)")
    first = metrics[0]
    for k, extra in enumerate(metrics[1:], start=1):
        skipped.append(Skipped("geval", f"{src.name}: [{k}]", f"metric '{extra.get('name', k)}': promptslim's judge "
                                                             "grades one criteria per eval set (the first is used)"))
    for key in first:
        if key not in _GEVAL_KEYS:
            raise InputError(f"{src.name}: {key}: unknown GEval argument (known: {', '.join(_GEVAL_KEYS)})")
    steps = first.get("evaluation_steps")
    if steps is not None and (not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps)):
        raise InputError(f"{src.name}: evaluation_steps: a list of steps (text)")
    own = first.get("criteria")
    if own is not None and (not isinstance(own, str) or not own.strip()):
        raise InputError(f"{src.name}: criteria: the judge's rubric (text)")
    threshold = first.get("threshold")
    if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, (int, float))
                                  or not 0 <= threshold <= 1):
        raise InputError(f"{src.name}: threshold: a number between 0 and 1")
    params = first.get("evaluation_params") or []
    seen = {str(p).split(".")[-1].lower() for p in params} if isinstance(params, list) else set()
    for param in sorted(seen - {"input", "actual_output", "expected_output"}):
        skipped.append(Skipped("geval", f"{src.name}: evaluation_params", f"{param}: promptslim's judge sees the "
                                                                          "input, the answer and the expected output"))
    if first.get("rubric") is not None:
        skipped.append(Skipped("geval", f"{src.name}: rubric", "score ranges are not mapped: promptslim scores 0..1"))
    text = criteria or own or (f"Judged by the evaluation steps of GEval '{first.get('name', 'metric')}'."
                               if steps else None)
    return text, steps, threshold
