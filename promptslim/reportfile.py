"""Reading a report back (ablation.json, tier.json): the one place that decides whether a file may be believed.

Reports are files in the repository, so a pull request (or a teammate's hand edit) can forge them: a `slim` that
is a list, output tokens of Infinity, a 2 kB string where a number belongs, "$-10,000,000/month" saved, a symlink
to a file outside the repository. `report`, `count` and `check` read them for cost figures and savings, never as
a gate — so a file that fails is skipped with a one-line warning naming it, never a crash and never a fact.

A report is believed when it is a regular file inside the repository, parses as strict JSON (no NaN or Infinity),
satisfies the JSON Schema the project publishes for it (schema_version included: an older file is skipped and
the warning says to rerun), and its figures are sane: finite, within ±1e15, token and money figures not
negative (deltas and savings excepted), and no saving larger than what the prompt costs.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from promptslim.errors import InputError
from promptslim.safeio import read_repo_text

MAX_REPORT_BYTES = 20_000_000
MAX_FIGURE = 1e15  # no token count, dollar figure or count in a report comes near this
SIGNED = ("_delta", "_saved")  # keys whose numbers may be negative: deltas and savings
SIGNED_KEYS = {"ci"}  # the bounds of a delta
SCHEMAS = {"ablation.json": "schemas/ablation.schema.json", "tier.json": "schemas/tier.schema.json"}
RERUN = {"ablation.json": "promptslim ablate", "tier.json": "promptslim tier"}


@dataclass(frozen=True)
class ReadBack:
    """A report's validated JSON data, or None with the one-line warning that says why it was skipped."""

    data: dict[str, Any] | None
    warning: str | None = None


def read_report(root: Path, rel: str, text: str | None = None) -> ReadBack:
    """reports/<name>/ablation.json or tier.json at rel (or its `text`, read elsewhere, e.g. from git): validated.

    Absent: ReadBack(None) without a warning. Anything else that cannot be believed: ReadBack(None, warning).
    """
    kind = rel.rsplit("/", 1)[-1]
    if text is None:
        if not (root / rel).exists() and not (root / rel).is_symlink():
            return ReadBack(None)
        try:
            text = read_repo_text(root / rel, root, "report", MAX_REPORT_BYTES)
        except InputError as exc:
            return ReadBack(None, f"{exc.message} — skipped")
    problem = _problem(text, kind)
    if problem is None:
        return ReadBack(json.loads(text))
    return ReadBack(None, f"{rel}: not a valid {kind.split('.')[0]} result ({problem}) — skipped; rerun "
                          f"{RERUN.get(kind, 'promptslim')} to write it again")


def _problem(text: str, kind: str) -> str | None:
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested thousands deep
        return _short(f"not JSON: {exc}" if not isinstance(exc, RecursionError) else "nested too deep")
    if not isinstance(data, dict):
        return "not a JSON object"
    if kind in SCHEMAS:
        from jsonschema.exceptions import best_match

        error = best_match(_validator(kind).iter_errors(data))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "top level"
            if error.validator == "const" and list(error.absolute_path) == ["schema_version"]:
                return f"schema_version {_short(repr(data.get('schema_version')))}, this promptslim reads " \
                       f"{error.validator_value}"
            return _short(f"{where}: {error.message}")
    return _figures(data) or _savings(data, kind)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a report may hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_short(text)} is not a finite number")
    return value


@lru_cache(maxsize=None)
def _validator(kind: str) -> Any:
    from jsonschema import Draft202012Validator

    from promptslim.jsontypes import shipped

    return Draft202012Validator(shipped(SCHEMAS[kind]))


def _figures(value: Any, key: str = "", where: str = "") -> str | None:
    """The first number that is out of range or negative where it must not be, as 'path: why'."""
    if isinstance(value, dict):
        for k, v in value.items():
            found = _figures(v, str(k), f"{where}/{k}" if where else str(k))
            if found:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _figures(v, key, f"{where}/{i}")
            if found:
                return found
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        if abs(value) > MAX_FIGURE:
            return f"{where}: {_short(repr(value))} is out of range"
        if value < 0 and not key.endswith(SIGNED) and key not in SIGNED_KEYS:
            return f"{where}: {value!r} is negative"
    return None


def _savings(data: dict[str, Any], kind: str) -> str | None:
    """A saving the index adds up may not be negative, nor more than the whole prompt costs at that traffic."""
    baseline = data.get("baseline") or {}
    cost = baseline.get("usd_per_month", 0.0)
    found = []
    if kind == "ablation.json":
        for key in ("slim", "rewritten", "model_recommendation"):
            part = data.get(key)
            if isinstance(part, dict):
                found.append((f"{key}/usd_per_month_saved", part.get("usd_per_month_saved")))
        found.append(("slim/usd_per_call_saved", (data.get("slim") or {}).get("usd_per_call_saved")))
    elif kind == "tier.json":
        found.append(("usd_per_month_saved", data.get("usd_per_month_saved")))
    for where, saved in found:
        limit = baseline.get("usd_per_call", 0.0) if where.endswith("per_call_saved") else cost
        if isinstance(saved, (int, float)) and not 0 <= saved <= limit * (1 + 1e-9) + 1e-12:
            return f"{where}: {saved!r} is not a saving between 0 and what the prompt costs ({limit!r})"
    return None


def _short(text: str, limit: int = 120) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
