"""Shorter wordings of instruction units: proposed by rules or by a rewriter model, refused mechanically when they
change the template's Jinja, and applied to the source together with any removals.

Why a mechanical check before any target call: a rewrite comes from a model (or a rule) that does not know
what the template's variables and control blocks do; one that drops `{{ plan }}` or adds `{% include %}`
would change what the prompt is, not how it says it. Every `{{ … }}`, `{% … %}` and `{# … #}` of the unit
must survive in order, and the whole template must still compile in the sandbox and render every case.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Sequence

from promptslim.errors import InputError
from promptslim.template import Template, sandbox
from promptslim.units import Unit, remove_units

if TYPE_CHECKING:
    from promptslim.evaluate import Evaluator
    from promptslim.llm.runner import Runner

RULES = "rules"
REWRITER = "rewriter"
# Filler that states no instruction: dropped at the start of a sentence or bullet, the next letter capitalised.
FILLERS = ("please remember to ", "always remember to ", "remember to ", "it is very important that you ",
           "it is important that you ", "it is important to ", "please make sure that you ", "please make sure to ",
           "make sure that you ", "make sure to ", "please note that ", "please ensure that you ", "please ensure ")
_BULLET = re.compile(r"^(\s*(?:[-*+•]|\d+[.)])\s+)")
_ENV = sandbox()


@dataclass(frozen=True)
class Rewrite:
    """A proposed shorter wording of one unit ("" = drop it: a duplicate sentence), and who proposed it."""

    unit: Unit
    original: str
    rewrite: str
    proposer: str  # "rules" or "rewriter:<model>"
    reason: str = ""


@dataclass(frozen=True)
class Refusal:
    """A rewrite refused before any target call, and why."""

    rewrite: Rewrite
    why: str


def _span_text(source: str, unit: Unit) -> str | None:
    """The unit's source text when it is one span (a sentence or a bullet); blocks and groups are not reworded."""
    if len(unit.spans) != 1 or unit.kind not in ("sentence", "bullet", "line"):
        return None
    a, b = unit.spans[0]
    return source[a:b] if unit.text in source[a:b] else None  # a hard-wrapped bullet is not reworded


def jinja_parts(text: str) -> list[str]:
    """Every Jinja construct in order ({{ }}, {% %}, {# #}), whitespace inside normalised."""
    parts, current = [], []
    try:
        tokens = list(_ENV.lex(text))
    except Exception as exc:  # a lexer error is a template error: refuse the rewrite
        raise InputError(f"does not lex as Jinja: {exc}") from None
    for _, kind, value in tokens:
        if kind in ("data", "whitespace"):
            continue
        current.append(value.strip())
        if kind in ("variable_end", "block_end", "comment_end", "linestatement_end"):
            parts.append(" ".join(p for p in current if p))
            current = []
    if current:
        parts.append(" ".join(p for p in current if p))
    return parts


def check_rewrite(original: str, rewrite: str) -> str | None:
    """Why a rewrite is refused (it drops, adds or reorders Jinja), or None when it keeps every construct."""
    try:
        before, after = jinja_parts(original), jinja_parts(rewrite)
    except InputError as exc:
        return exc.message
    if before == after:
        return None
    dropped = [p for p in before if p not in after]
    added = [p for p in after if p not in before]
    if dropped:
        return f"drops {dropped[0]!r} (a rewrite must keep every {{{{ variable }}}} and control block)"
    if added:
        return f"adds {added[0]!r} (a rewrite may not add Jinja)"
    return "reorders the template's Jinja"


def _capitalise(text: str) -> str:
    return text[:1].upper() + text[1:]


def rule_rewrites(template: Template) -> list[Rewrite]:
    """The compressions that need no model: filler openings, and a sentence or bullet that repeats an earlier one."""
    out: list[Rewrite] = []
    seen: set[str] = set()
    for unit in template.candidates:
        text = _span_text(template.source, unit)
        if text is None:
            continue
        key = " ".join(_BULLET.sub("", unit.text).lower().split())
        if key in seen:
            out.append(Rewrite(unit, unit.text, "", RULES, "repeats an earlier instruction"))
            continue
        seen.add(key)
        marker = _BULLET.match(unit.text)
        head = marker.group(1) if marker else ""
        body = unit.text[len(head):]
        for filler in FILLERS:
            if body.lower().startswith(filler) and len(body) > len(filler):
                shorter = head + _capitalise(body[len(filler):])
                out.append(Rewrite(unit, unit.text, shorter, RULES, f"drops the filler {body[:len(filler)].strip()!r}"))
                break
    return out


def rewriter_prompt(text: str) -> list[dict[str, str]]:
    """What the rewriter model is asked: the same instruction in fewer words, Jinja untouched."""
    return [{"role": "system", "content": (
        "You shorten instructions in LLM prompt templates. Rewrite the instruction the user gives you so it says "
        "exactly the same thing in as few words as possible. Keep every fact, number, name and condition. Copy "
        "every {{ ... }}, {% ... %} and {# ... #} exactly as written, in the same order. Keep a leading bullet "
        "marker. Answer with the rewritten instruction only, on one line, without quotes.")},
        {"role": "user", "content": text}]


def clean_answer(answer: str, original: str) -> str:
    """The rewriter's answer as one line, quotes and fences stripped, the original's bullet marker kept."""
    text = answer.strip().strip("`").strip()
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'":
        text = text[1:-1].strip()
    text = " ".join(text.split())
    marker = _BULLET.match(original)
    if marker and not _BULLET.match(text):
        text = marker.group(1) + text
    return text


async def model_rewrites(runner: "Runner", model: str, template: Template) -> list[Rewrite]:
    """One rewriter call per rewordable unit, through the runner (cached, budgeted, in the ledger)."""
    from promptslim.llm.base import Params

    units = [u for u in template.candidates if _span_text(template.source, u) is not None]
    params = Params(model=model, temperature=0.0, max_tokens=max(64, 2 * len(max((u.text for u in units),
                                                                             key=len, default="")) // 3))
    answers = await runner.gather(runner.complete(REWRITER, rewriter_prompt(u.text), params) for u in units)
    return [Rewrite(u, u.text, clean_answer(a.text, u.text), f"{REWRITER}:{model}") for u, a in zip(units, answers)
            if a.text.strip()]


def apply(template: Template, removed: Sequence[int], rewrites: Sequence[Rewrite]) -> str:
    """The template source with units removed and rewrites applied (a rewrite to "" removes its unit)."""
    gone = {u.id: u for u in template.units if u.id in set(removed)}
    edits = []
    for r in rewrites:
        if r.unit.id in gone:
            continue
        if not r.rewrite:
            gone[r.unit.id] = r.unit
            continue
        a, b = r.unit.spans[0]
        span = template.source[a:b]
        edits.append((a, b, span.replace(r.original, r.rewrite, 1)))
    source = template.source
    shifts: list[tuple[int, int]] = []  # (offset, length change) of each edit, for the removals' spans
    for a, b, new in sorted(edits, reverse=True):
        source = source[:a] + new + source[b:]
        shifts.append((a, len(new) - (b - a)))

    def moved(pos: int) -> int:
        return pos + sum(delta for at, delta in shifts if at < pos)

    units = [replace(u, spans=tuple((moved(a), moved(b)) for a, b in u.spans),
                     lead=(moved(u.lead[0]), moved(u.lead[1])) if u.lead else None) for u in gone.values()]
    return remove_units(source, units)


def vet(ev: "Evaluator", template: Template, proposals: Sequence[Rewrite], tokens_of) -> tuple[list[Rewrite],
                                                                                              list[Refusal]]:
    """Keep the proposals that are shorter, keep the template's Jinja, compile and render every case; the rest
    are refused here, before any target call."""
    kept: list[Rewrite] = []
    refused: list[Refusal] = []
    seen: set[tuple[int, str]] = set()
    for r in proposals:
        if (r.unit.id, r.rewrite) in seen or r.rewrite == r.original:
            continue
        seen.add((r.unit.id, r.rewrite))
        why = check_rewrite(r.original, r.rewrite) if r.rewrite else None
        if why is None and r.rewrite and tokens_of(r.rewrite) >= tokens_of(r.original):
            why = "is not shorter in tokens"
        if why is None:
            try:
                ev.messages(apply(template, [], [r]))  # compiles in the sandbox and renders every case
            except InputError as exc:
                why = f"does not render: {exc.message}"
        if why is None:
            kept.append(r)
        else:
            refused.append(Refusal(r, why))
    return kept, refused
