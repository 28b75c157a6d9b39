"""The say-it-shorter lever's result: one entry per tested rewrite, the refused ones, the rewritten prompt
(ablation.json's `rewrites`, `rewrites_refused`, `rewritten`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from promptslim.jsontypes import INTERNAL, JsonRecord
from promptslim.results.sections import PromptFile, Proven, Section
from promptslim.results.variants import ModelVerdict, SideErrors, SlimStep


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


@dataclass(frozen=True)
class RewritesSection(Section):
    """Say it shorter: every tested wording, the refused ones, and the verified rewritten prompt."""

    lever: ClassVar[str] = "rewrite"
    rewrites: list[RewriteFinding]
    rewrites_refused: list[RefusedRewrite]
    rewritten: RewrittenPrompt
    source: str | None = field(default=None, metadata=INTERNAL, compare=False)  # rewritten.j2's text when verified

    def proven(self, model: str) -> Proven | None:
        w = self.rewritten
        if not w.verified:
            return None
        return Proven(w.usd_per_month_saved, "whole text reworded" if w.whole_text else
                      f"slim prompt with units {', '.join(map(str, w.rewritten))} reworded")

    def prompt_file(self) -> PromptFile | None:
        w = self.rewritten
        if self.source is None or not w.verified:
            return None
        return PromptFile("rewritten", self.source, w.usd_per_month_saved, w.input_tokens_saved or 0)
