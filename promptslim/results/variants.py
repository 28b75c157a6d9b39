"""What every lever says about a variant against the baseline: its verdict, the baseline's own figures, the cases a
judge error left out, and one verified step of a fixed sequence. Shared by the ablation, tier and rewrite results."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from promptslim.jsontypes import FLAT, OPTIONAL, JsonRecord
from promptslim.results.eval import AnswerCounts


class Verdict(str, enum.Enum):
    """What a test of a removal concluded (DESIGN.md, in this order)."""

    REMOVABLE = "removable"  # non-inferior: lower bound of the score delta above −margin
    KEEP = "keep"  # removing it measurably hurts: upper bound below 0
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value


class ModelVerdict(str, enum.Enum):
    """What the comparison of a candidate (a model, a wording) with the baseline concluded."""

    NON_INFERIOR = "non-inferior"  # lower bound of the score delta above −margin (Holm across the candidates)
    WORSE = "worse"  # upper bound below 0: the candidate measurably loses quality
    INCONCLUSIVE = "inconclusive"

    def __str__(self) -> str:
        return self.value

    @classmethod
    def of(cls, verdict: str) -> "ModelVerdict":
        """A unit-style decision (removable / keep / inconclusive) read as a comparison with the baseline."""
        return {"removable": cls.NON_INFERIOR, "keep": cls.WORSE}.get(verdict, cls.INCONCLUSIVE)


@dataclass(frozen=True)
class VariantFacts(AnswerCounts):
    """A variant's own run facts: its answers (cut, cached) and how its input tokens were counted."""

    tokens_source: str


@dataclass(frozen=True)
class Baseline(JsonRecord):
    """The template as it is, over the whole eval set: the figures every variant is compared with."""

    input_tokens: float
    output_tokens: float
    score: float | None
    ci: list[float] | None
    n: int
    se: float | None
    pass_rate: float | None
    judge_errors: int
    usd_per_call: float
    usd_per_month: float
    usd_per_usable_output: float | None
    facts: VariantFacts = field(metadata=FLAT)


@dataclass(frozen=True)
class SideErrors(JsonRecord):
    """Cases left out of the paired deltas because the judge failed on that side."""

    baseline: int
    variant: int


@dataclass(frozen=True)
class SlimStep(JsonRecord):
    """One test of the slim sequence: the units removed together, its bounds, and whether it held.

    `stage` (issue 28) when the eval set is split: 1 = the search on a quarter of the cases (`verified` then means
    the search kept the set; nothing is claimed from it), 2 = the verification on the other cases. Absent when every
    step ran on every case."""

    removed: list[int]
    ci: list[float] | None
    verified: bool
    saves_money: bool
    judge_errors: SideErrors
    stage: int | None = field(default=None, metadata=OPTIONAL)
