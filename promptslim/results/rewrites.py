"""The say-it-shorter keys of ablation.json: one entry per tested rewrite, the refused ones, the rewritten prompt."""

from __future__ import annotations

from dataclasses import dataclass

from promptslim.jsontypes import JsonRecord
from promptslim.results.ablation import SideErrors, SlimStep
from promptslim.results.tier import ModelVerdict


@dataclass(frozen=True)
class RewriteFinding(JsonRecord):
    """A shorter wording of a unit against the baseline (DESIGN.md's `rewrites` entry first, then what backs it)."""

    unit_ids: list[int]
    original: str
    rewrite: str  # "" = the unit is dropped (it repeats an earlier one)
    input_tokens_saved: float
    output_tokens_delta: float
    score_delta: float | None
    ci: list[float] | None
    verdict: ModelVerdict  # non-inferior | worse | inconclusive, Holm across the rewrites
    usd_per_month_saved: float
    proposer: str  # rules | rewriter:<model>
    reason: str
    n: int
    p_value: float
    holm_level: float
    judge_errors: SideErrors
    adopted: bool  # part of the verified rewritten prompt
    whole_text: bool  # the whole template reworded at once (`original`/`rewrite` are whole sources; every unit id)


@dataclass(frozen=True)
class RefusedRewrite(JsonRecord):
    """A rewrite refused before any target call: it changed the template's Jinja, was not shorter, or broke a render."""

    unit_ids: list[int]
    original: str
    rewrite: str
    proposer: str
    why: str
    whole_text: bool


@dataclass(frozen=True)
class RewrittenPrompt(JsonRecord):
    """The verified rewritten prompt, written next to slim.j2: the slim prompt with the unit rewrites the fixed
    sequence verified, or the whole-text rewrite when it was verified and saves more."""

    path: str
    rewritten: list[int]  # units reworded (or dropped as repeats) in it
    removed: list[int]  # the slim prompt's removals it starts from ([] for a whole-text rewrite: it starts afresh)
    input_tokens: float | None
    input_tokens_saved: float | None
    output_tokens_delta: float | None
    score_delta: float | None
    ci: list[float] | None
    n: int
    verified: bool
    usd_per_month_saved: float
    steps: list[SlimStep]  # the unit-rewrite sequence on top of the slim prompt
    whole_text: bool  # the prompt shipped is the whole-text rewrite
    step_level: float  # confidence of each step: 0.975, or 0.9875 each when a whole-text rewrite shares the 2.5%
    whole_text_step: SlimStep | None  # the whole-text rewrite's own test at step_level (None: there was none)
