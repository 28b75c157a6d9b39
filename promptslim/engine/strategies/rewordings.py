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
from typing import TYPE_CHECKING, Callable, Sequence

from promptslim.errors import InputError
from promptslim.template.load import Template
from promptslim.template.sandbox import sandbox
from promptslim.template.units import Unit, remove_units

if TYPE_CHECKING:
    from promptslim.engine.evaluator import Evaluator
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
    """A proposed shorter wording of one unit ("" = drop it: a duplicate sentence), or of the whole template
    (`unit` None: `original` and `rewrite` are whole sources, `covers` every unit id), and who proposed it."""

    unit: Unit | None
    original: str
    rewrite: str
    proposer: str  # "rules" or "rewriter:<model>"
    reason: str = ""
    covers: tuple[int, ...] = ()

    @property
    def whole(self) -> bool:
        return self.unit is None

    @property
    def unit_ids(self) -> list[int]:
        return [self.unit.id] if self.unit is not None else list(self.covers)

    @property
    def label(self) -> str:
        return "the whole text" if self.unit is None else f"unit {self.unit.id}"


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


WHOLE_SYSTEM = (
    "You shorten LLM prompt templates. Rewrite the whole template the user gives you so it tells the model exactly "
    "the same things in as few words as possible: merge sentences that overlap, drop filler and politeness, keep "
    "every fact, number, name, label, format rule and condition. Copy every {{ ... }}, {% ... %} and {# ... #} "
    "exactly as written, in the same order, and keep each on its own line where it was on its own line. Keep "
    "markdown headings and XML-style tags. Answer with the rewritten template only, no commentary, no code fence.")
_FENCE = re.compile(r"^```[\w-]*\n(.*?)\n?```\s*$", re.S)


def whole_prompt(source: str) -> list[dict[str, str]]:
    """What the rewriter model is asked for the whole instruction text at once (a unit-by-unit rewrite cannot merge
    two instructions that overlap; this can)."""
    return [{"role": "system", "content": WHOLE_SYSTEM}, {"role": "user", "content": source}]


def clean_whole(answer: str, original: str) -> str:
    """The rewriter's whole-template answer with a code fence stripped, ending in a newline where the original did."""
    text = answer.strip()
    fenced = _FENCE.match(text)
    if fenced:
        text = fenced.group(1).strip()
    return text + "\n" if original.endswith("\n") and text else text


async def model_rewrites(runner: "Runner", model: str, template: Template) -> list[Rewrite]:
    """One rewriter call per rewordable unit and one for the whole template (when it has two units or more),
    through the runner (cached, budgeted, in the ledger)."""
    from promptslim.llm.base import Params

    units = [u for u in template.candidates if _span_text(template.source, u) is not None]
    params = Params(model=model, temperature=0.0, max_tokens=max(64, 2 * len(max((u.text for u in units),
                                                                             key=len, default="")) // 3))
    proposer = f"{REWRITER}:{model}"
    asks = [runner.complete(REWRITER, rewriter_prompt(u.text), params) for u in units]
    whole = len(template.candidates) >= 2
    if whole:  # room for the same length back: the answer is refused unless shorter anyway
        asks.append(runner.complete(REWRITER, whole_prompt(template.source),
                                    Params(model=model, temperature=0.0, max_tokens=max(128, len(template.source) // 2))))
    answers = await runner.gather(asks)
    out = [Rewrite(u, u.text, clean_answer(a.text, u.text), proposer) for u, a in zip(units, answers) if a.text.strip()]
    if whole and answers[-1].text.strip():
        out.append(Rewrite(None, template.source, clean_whole(answers[-1].text, template.source), proposer,
                           "the whole text in fewer words", tuple(u.id for u in template.units)))
    return out


def apply(template: Template, removed: Sequence[int], rewrites: Sequence[Rewrite]) -> str:
    """The template source with units removed and rewrites applied (a rewrite to "" removes its unit). A whole-text
    rewrite replaces everything, so it combines with nothing else."""
    whole = [r for r in rewrites if r.whole]
    if whole:
        if len(rewrites) > 1 or removed:
            raise ValueError("a whole-text rewrite combines with no removal or other rewrite")
        return whole[0].rewrite
    gone = {u.id: u for u in template.units if u.id in set(removed)}
    edits = []
    for r in rewrites:
        assert r.unit is not None
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


def pinned_problem(template: Template, rewrite: str) -> str | None:
    """Why a whole-text rewrite is refused for touching a pinned unit (`{# promptslim: keep #}`): pinned text stays
    word for word."""
    for unit in template.units:
        if unit.pinned and any(template.source[a:b] not in rewrite for a, b in unit.spans):
            return f"rewords pinned unit {unit.id} ({unit.text[:40]!r}): pinned units stay word for word"
    return None


def vet(ev: "Evaluator", template: Template, proposals: Sequence[Rewrite],
        tokens_of: Callable[[str], int]) -> tuple[list[Rewrite], list[Refusal]]:
    """Keep the proposals that are shorter, keep the template's Jinja (and, for the whole text, its pinned units),
    compile and render every case; the rest are refused here, before any target call."""
    kept: list[Rewrite] = []
    refused: list[Refusal] = []
    seen: set[tuple[int, str]] = set()
    for r in proposals:
        key = (r.unit.id if r.unit is not None else 0, r.rewrite)
        if key in seen or r.rewrite == r.original:
            continue
        seen.add(key)
        why = check_rewrite(r.original, r.rewrite) if r.rewrite else None
        if why is None and r.whole:
            why = pinned_problem(template, r.rewrite)
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
