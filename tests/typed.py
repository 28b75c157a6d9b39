"""Typed results for renderer tests: a test writes only the fields it is about, the rest take neutral values
(no estimates, no judge errors, no truncation), and the renderers get the same types the engines return."""

from __future__ import annotations

import copy
from typing import Any

from promptslim.results import AblationResult, IndexEntry, IndexTotals

RUN_FACTS = {"answers": 0, "truncated": 0, "truncated_rate": None, "max_tokens": None, "retries": 0, "timeouts": 0,
             "rate_limited": 0, "server_errors": 0, "other_errors": 0, "judge": None, "by_role": {},
             "concurrency": {}}
PRICES = {"price_model": {"model": "gpt-4o-mini", "source": "genai-prices: openai/gpt-4o-mini",
                          "kind": "genai-prices", "data_version": None, "date": None}}


def _with(defaults: dict, given: dict | None) -> dict:
    out = dict(defaults)
    out.update(given or {})
    return out


def complete_ablation(partial: dict) -> dict:
    """A full ablation.json dict (in the file's key order) from the keys a test gives."""
    r = copy.deepcopy(partial)
    units = r.get("units") or []
    base = r.get("baseline") or {}
    slim = r.get("slim") or {}
    full = _with({
        "schema_version": 2, "template": "prompts/p.j2", "template_sha256": "", "git_commit": None,
        "model": "gpt-4o-mini", "judge_model": "none", "evalset": "evalsets/p.yaml", "cases": 0, "repeats": 1,
        "temperature": 0.0, "margin": 0.05, "calls_per_month": 0, "tokens_approximate": False,
        "tokens_source": "exact", "unit_tokens_approximate": False, "tokens_note": "", "prices": PRICES,
        "warnings": [], "price_model": r.get("model", "gpt-4o-mini"), "judge_note": None, "created_at": "",
        "method": "", "inconclusive_hint": None, "pinned": [],
    }, r)
    full["baseline"] = _with({"n": full["cases"], "se": None, "judge_errors": 0, "answers": 0, "truncated": 0,
                              "cache_hits": 0, "tokens_source": "exact"}, base)
    full["units"] = [_with({"tokens": 0, "n": full["cases"], "p_value": 1.0, "holm_level": 0.05, "stage": 2,
                            "judge_errors": {"baseline": 0, "variant": 0}, "truncated": 0, "answers": 0,
                            "usd_per_call_saved": 0.0, "usd_per_month_saved": 0.0}, u) for u in units]
    full["slim"] = _with({"restored": [], "input_tokens_saved": 0.0, "output_tokens_delta": 0.0, "n": 0,
                          "steps": [], "judge_errors": 0, "answers": 0, "truncated": 0, "cache_hits": 0,
                          "tokens_source": "exact"}, slim)
    run = r.get("run") or {}
    full["run"] = _with({"calls": 0, "cache_hits": 0, "usd": 0.0, "usd_target": run.get("usd", 0.0),
                         "usd_judge": 0.0, "judge_skipped_identical": 0, "wall_seconds": 0.0,
                         "payback_hours": None, **RUN_FACTS}, run)
    full["power"] = _with({"cases": full["cases"], "units": len(units), "min_cases_unchanged": 0,
                           "median_delta_sd": None, "cases_for_80pct_power": None, "min_detectable_margin": None},
                          r.get("power"))
    return AblationResult.from_json(full).to_json()


def as_ablation(result: dict | AblationResult) -> AblationResult:
    if isinstance(result, AblationResult):
        return result
    return AblationResult.from_json(complete_ablation(result))


def as_entries(entries: list[dict]) -> list[IndexEntry]:
    out = []
    for e in entries:
        ab = e.get("ablation")
        full = _with({"template_sha256": "", "output_tokens": 0.0, "rendered_with": "", "usd_per_call": None}, e)
        full["ablation"] = None if ab is None else _with({"template_sha256": None, "baseline_output_tokens": None}, ab)
        out.append(IndexEntry.from_json(full))
    return out


def as_totals(totals: dict, entries: list[Any] = ()) -> IndexTotals:
    return IndexTotals.from_json(_with({"usd_per_month_now": 0.0, "usd_per_month_removable": 0.0,
                                        "templates": len(entries), "ablated": 0, "stale": 0}, totals))
