"""Typed read-back: ablation.json and tier.json as the result types that wrote them (STYLE.md §15), never dicts.

A file is checked against its `schema_version`; an older one is brought up to date by `migrate`, the one place
that knows what older versions wrote. Readers downstream (`report`, the static cost figure of `count`,
`check --no-eval` and `report`) read attributes, not `.get(` look-ups.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from promptslim.cost.figure import ESTIMATED, NOT_INCLUDED, Output
from promptslim.jsontypes import complete
from promptslim.paths import reports_dir
from promptslim.results.ablation import SCHEMA_VERSION, AblationResult
from promptslim.results.tier import TIER_SCHEMA_VERSION, TierResult


class Unreadable(ValueError):
    """A report file that is not JSON of its type (the message says why, without the file's name)."""


def _parse(text: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise Unreadable(str(exc)) from None
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
        raise Unreadable(f"schema_version {version!r} is not one this promptslim reads (≤ {current}) — upgrade "
                         "promptslim or rerun the command")
    out = dict(data)
    if version < 2 and isinstance(out.get("slim"), dict) and out["slim"].get("verdict") == "none":
        out["slim"] = {**out["slim"], "verdict": "inconclusive"}
    out["schema_version"] = current
    try:
        return complete(kind, out)
    except ValueError as exc:
        raise Unreadable(str(exc)) from None


def read_ablation(text: str) -> AblationResult:
    """ablation.json's text as an AblationResult (Unreadable when it is not one)."""
    try:
        return AblationResult.from_json(migrate(_parse(text)))
    except (ValueError, TypeError) as exc:
        raise Unreadable(str(exc)) from None


def read_tier(text: str) -> TierResult:
    """tier.json's text as a TierResult (Unreadable when it is not one)."""
    try:
        return TierResult.from_json(migrate(_parse(text), TIER_SCHEMA_VERSION, TierResult))
    except (ValueError, TypeError) as exc:
        raise Unreadable(str(exc)) from None


def latest_ablation(root: Path, name: str) -> tuple[str, str | None]:
    """reports/<name>/ablation.json's path (relative to the repo) and text, None when there is none."""
    rel = f"{reports_dir(name)}/ablation.json"
    path = root / rel
    return rel, path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None


def static_output(root: Path, template_name: str, template_source: str, text: str | None = None) -> Output:
    """Output tokens for a command that makes no call: the latest ablation's baseline, if it ran on this text.

    `text` is ablation.json's content when the caller read it elsewhere (check reads the base revision's, never
    the pull request's: a PR must not set its own cost figure).
    """
    rel, found = latest_ablation(root, template_name)
    text = found if text is None else text
    try:
        result = read_ablation(text) if text is not None else None
    except Unreadable:
        result = None
    sha = hashlib.sha256(template_source.encode()).hexdigest()
    if result is not None and result.template_sha256 == sha and isinstance(result.baseline.output_tokens, (int, float)):
        tokens = result.baseline.output_tokens
        return Output(float(tokens), ESTIMATED, f"≈ {tokens:.1f} tokens/call, estimated from {rel} "
                                                f"({result.model or None}, {str(result.created_at or '')[:10]})")
    # eval writes no report: only an ablation of this text measures output a command without calls can reuse
    return Output(0.0, NOT_INCLUDED, "not included (no ablation of this template text yet — run promptslim ablate, "
                                     "or give count --output-tokens N)")
