"""How far the baseline is above a trivial answer, and per-label pass rates: whether verdicts can mean anything."""

from __future__ import annotations

from dataclasses import dataclass

from promptslim.jsontypes import JsonRecord


@dataclass(frozen=True)
class LabelRate(JsonRecord):
    """One label of a label task: the cases whose expected answer it is, how many of them the prompt passed, and how
    many answers (over every case) were this label."""

    label: str
    cases: int
    passes: int
    pass_rate: float | None
    answered: int


@dataclass(frozen=True)
class Headroom(JsonRecord):
    """The best constant answer's score on the eval set (graded by its assertions, no call), the baseline's lead over
    it, and whether that lead reaches twice the margin; with labels, each label's pass rate and answer count.

    A model that scores barely above always answering the majority label ignores the prompt: every instruction then
    comes out removable, and `removable` means "this model ignores it", not "the task does not need it".
    """

    trivial_answer: str  # the best constant answer ("" = the empty answer)
    trivial_score: float
    baseline_score: float | None  # None: nothing graded
    lead: float | None
    needed: float  # twice the margin
    enough: bool
    labels: list[LabelRate]
    other_answers: int  # answers that were none of the labels

    def describe(self) -> str:
        """'always answering "No"' — the trivial answer as a person says it."""
        return f'always answering "{self.trivial_answer}"' if self.trivial_answer else "always answering nothing"

    def warning(self) -> str | None:
        """The line every report shows when the verdicts cannot separate "needed" from "ignored"."""
        if self.enough:
            return None
        lead = "no" if self.lead is None else f"only {self.lead:.3f}"
        score = "n/a" if self.baseline_score is None else f"{self.baseline_score:.3f}"
        return (f"no headroom: the baseline scores {score}, {lead} above {self.describe()} ({self.trivial_score:.3f}), "
                f"less than twice the margin ({self.needed:g}) — this model barely does the task, so `removable` means "
                "it ignores an instruction, not that the task does not need it; use a model (or prompt) that clearly "
                "beats the trivial answer before acting on these verdicts")
