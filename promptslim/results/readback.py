"""Typed read-back: ablation.json and tier.json as the result types that wrote them (STYLE.md §15), never dicts —
and only when they can be believed.

A file is checked against its `schema_version`; an older one is brought up to date by `migrate`, the one place
that knows what older versions wrote. Readers downstream (`report`, the static cost figure of `count`,
`check --no-eval` and `report`) read attributes, not `.get(` look-ups.

Reports are files in the repository, so a pull request (or a hand edit) can forge them: a `slim` that is a list,
output tokens of Infinity, a 2 kB string where a number belongs, "$-10,000,000/month" saved, a symlink to a file
outside the repository (issue 25). They are read for cost figures and savings, never as a gate, so `read_report`
skips a file that cannot be believed with a one-line warning naming it: it must be a regular file inside the
repository, strict JSON (no NaN or Infinity), valid against its published JSON Schema once migrated, and its
figures sane — finite, within ±1e15, token and money figures not negative (deltas and savings excepted), and no
saving below 0 or above what the prompt costs.
"""

from __future__ import annotations

import hashlib
import json
import math
from functools import lru_cache
from pathlib import Path
from typing import Any

from promptslim.cost.figure import ESTIMATED, NOT_INCLUDED, Output
from promptslim.errors import InputError
from promptslim.jsontypes import SchemaFile, complete
from promptslim.paths import reports_dir
from promptslim.results.ablation import ABLATION_SCHEMA, SCHEMA_VERSION, AblationResult
from promptslim.results.tier import TIER_SCHEMA, TIER_SCHEMA_VERSION, TierResult
from promptslim.safeio import read_repo_text

MAX_REPORT_BYTES = 20_000_000
MAX_FIGURE = 1e15  # no token count, dollar figure or count in a report comes near this
SIGNED = ("_delta", "_saved")  # keys whose numbers may be negative: deltas and savings
SIGNED_KEYS = {"ci"}  # the bounds of a delta
# eval writes no report: only an ablation of this text measures output a command without calls can reuse
NO_ABLATION = ("not included (no ablation of this template text yet — run promptslim ablate, or give count "
               "--output-tokens N)")
RERUN = {"ablation.json": "promptslim ablate", "tier.json": "promptslim tier"}


class Unreadable(ValueError):
    """A report file that is not JSON of its type (the message says why, without the file's name)."""


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number a report may hold")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{_short(text)} is not a finite number")
    return value


def _parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except RecursionError:  # JSON nested thousands deep
        raise Unreadable("not JSON: nested too deep") from None
    except ValueError as exc:  # a JSON error, NaN/Infinity, a 5,000-digit integer
        raise Unreadable(_short(f"not JSON: {exc}")) from None
    if not isinstance(data, dict):
        raise Unreadable("not a JSON object")
    return data


def migrate(data: dict[str, Any], current: int = SCHEMA_VERSION, kind: type = AblationResult) -> dict[str, Any]:
    """An ablation.json (or tier.json) of any version as the current version's data.

    Version 1 (before `schema_version`, promptslim's first decision method) called an unverified slim prompt
    "none"; it is "inconclusive" now (issue 13). Every key a later version added reads as its blank (0, "", [],
    None): readers of an older file use only what every version wrote.
    """
    version = data.get("schema_version", 1)
    if not isinstance(version, int) or version > current:
        raise Unreadable(f"schema_version {_short(repr(version))} is not one this promptslim reads (≤ {current}) — "
                         "upgrade promptslim or rerun the command")
    out = dict(data)
    if version < 2 and isinstance(out.get("slim"), dict) and out["slim"].get("verdict") == "none":
        out["slim"] = {**out["slim"], "verdict": "inconclusive"}
    out["schema_version"] = current
    try:
        return complete(kind, out)
    except ValueError as exc:
        raise Unreadable(_short(str(exc))) from None


def _believed(data: dict[str, Any], schema: SchemaFile) -> dict[str, Any]:
    """The migrated data when it satisfies its JSON Schema and its figures are in range; Unreadable otherwise."""
    from jsonschema.exceptions import best_match

    # generated, not the shipped file: it knows every lever section loaded in this process
    error = best_match(_validator(json.dumps(schema.generate(), sort_keys=True)).iter_errors(data))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "top level"
        raise Unreadable(_short(f"{where}: {error.message}"))
    problem = _figures(data)
    if problem:
        raise Unreadable(problem)
    return data


def _typed(result: Any) -> Any:
    """The typed result when its savings are possible (checked on the types, as the index reads them)."""
    problem = _savings(result)
    if problem:
        raise Unreadable(problem)
    return result


@lru_cache(maxsize=8)
def _validator(schema: str) -> Any:
    from jsonschema import Draft202012Validator

    return Draft202012Validator(json.loads(schema))


def read_ablation(text: str) -> AblationResult:
    """ablation.json's text as an AblationResult (Unreadable when it is not one, or cannot be believed)."""
    try:
        return _typed(AblationResult.from_json(_believed(migrate(_parse(text)), ABLATION_SCHEMA)))
    except (ValueError, TypeError) as exc:
        raise Unreadable(str(exc)) from None


def read_tier(text: str) -> TierResult:
    """tier.json's text as a TierResult (Unreadable when it is not one, or cannot be believed)."""
    try:
        return _typed(TierResult.from_json(_believed(migrate(_parse(text), TIER_SCHEMA_VERSION, TierResult),
                                                     TIER_SCHEMA)))
    except (ValueError, TypeError) as exc:
        raise Unreadable(str(exc)) from None


def read_report(root: Path, rel: str, text: str | None = None) -> tuple[AblationResult | TierResult | None, str | None]:
    """reports/<name>/ablation.json or tier.json at rel (or its `text`, read elsewhere, e.g. from git): the typed
    result, or None with the one-line warning that says why it was skipped (no warning when there is no file)."""
    kind = rel.rsplit("/", 1)[-1]
    if text is None:
        path = root / rel
        if not path.exists() and not path.is_symlink():
            return None, None
        try:
            text = read_repo_text(path, root, "report", MAX_REPORT_BYTES)  # no symlink, inside the repository
        except InputError as exc:
            return None, f"{exc.message} — skipped"
    try:
        return (read_tier(text) if kind == "tier.json" else read_ablation(text)), None
    except Unreadable as exc:
        return None, (f"{rel}: not a valid {kind.split('.')[0]} result ({exc}) — skipped; rerun "
                      f"{RERUN.get(kind, 'promptslim')} to write it again")


def static_output(root: Path, template_name: str, template_source: str, text: str | None = None) -> Output:
    """Output tokens for a command that makes no call: the latest ablation's baseline, if it ran on this text.

    `text` is ablation.json's content when the caller read it elsewhere (check reads the base revision's, never
    the pull request's: a PR must not set its own cost figure). A file that cannot be believed is left out, and the
    Output's warning says why.
    """
    rel = f"{reports_dir(template_name)}/ablation.json"
    result, warning = read_report(root, rel, text)
    sha = hashlib.sha256(template_source.encode()).hexdigest()
    if isinstance(result, AblationResult) and result.template_sha256 == sha:
        tokens = result.baseline.output_tokens
        return Output(float(tokens), ESTIMATED, f"≈ {tokens:.1f} tokens/call, estimated from {rel} "
                                                f"({result.model or None}, {str(result.created_at or '')[:10]})")
    if warning:
        return Output(0.0, NOT_INCLUDED, "not included (its ablation.json was skipped)", warning)
    return Output(0.0, NOT_INCLUDED, NO_ABLATION)


# ---------------------------------------------------------------- figures a report may hold
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


def _savings(result: AblationResult | TierResult) -> str | None:
    """A saving the index adds up may not be negative, nor more than the whole prompt costs at that traffic."""
    base = result.baseline
    found = [(f"{lever} lever's usd_per_month_saved", proven.usd_per_month_saved, base.usd_per_month)
             for lever, proven in result.levers().items() if proven is not None]
    if isinstance(result, AblationResult) and result.slim.removed:
        found.append(("slim/usd_per_call_saved", result.slim.usd_per_call_saved, base.usd_per_call))
    for where, saved, limit in found:
        if not 0 <= saved <= limit * (1 + 1e-9) + 1e-12:
            return f"{where}: {saved!r} is not a saving between 0 and what the prompt costs ({limit!r})"
    return None


def _short(text: str, limit: int = 120) -> str:
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"
