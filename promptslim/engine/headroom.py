"""The headroom check: is the baseline clearly better than a trivial answer? (issue 24 finding 1)

A 1.5B model answered "No" to 65 of 69 cases of a Yes/No task: 0.681 with the full prompt, 0.62 for always "No".
At margin 0.10 every instruction, the task's definition included, came out removable — true of this model, which
ignores them, and useless to a prompt engineer. Before any call the eval set's assertions say what a constant answer
scores (the empty answer; on a label task each label, the majority one best); after the baseline, a lead under twice the
margin is said before leave-one-out starts and marks every report.

Only where grading is by assertions alone: a judge's score of a constant answer is unknown without judge calls.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable

from promptslim.assertions import failures
from promptslim.engine.events import Detail, Events, Notice
from promptslim.evalset import EvalSet
from promptslim.results.headroom import Headroom, LabelRate

if TYPE_CHECKING:
    from promptslim.engine.evaluator import Evaluator, VariantResult

LABEL_TYPES = ("equals", "one-of", "contains", "icontains")
MAX_CANDIDATES = 50  # the most frequent values tried as constant answers: labels are few, free text is not one
MAX_LABEL_WORDS = 4  # "feature-request", "not a question": a label is a few words


@dataclass(frozen=True)
class Trivial:
    """The best constant answer and what it scores, known before any call; and each case's label, if any."""

    answer: str
    score: float
    labels: tuple[str | None, ...]  # per case: the one label-like value that passes it (None: no single one)


def _values(evalset: EvalSet) -> list[str]:
    """Label-like values of the eval set's assertions, most frequent first."""
    counts: dict[str, int] = {}
    for case in evalset.cases:
        for a in case.asserts:
            if a.type in LABEL_TYPES:
                for v in (a.value if a.type == "one-of" else [a.value]):
                    text = str(v).strip()
                    if text:
                        counts[text] = counts.get(text, 0) + 1
    return sorted(counts, key=lambda v: -counts[v])[:MAX_CANDIDATES]


def trivial(evalset: EvalSet, model: str, judged: bool) -> Trivial | None:
    """The best constant answer on this eval set by its assertions (None with a judge: its score is unknown)."""
    if judged or not evalset.cases:
        return None
    values = _values(evalset)
    passed = {v: [not failures(c.asserts, v, model) for c in evalset.cases] for v in [*values, ""]}
    per_case = []
    for i in range(len(evalset.cases)):
        fits = [v for v in values if passed[v][i]]
        per_case.append(fits[0] if len(fits) == 1 else None)
    labels = {v for v in per_case if v is not None}
    # what a model that ignores the prompt can do: say nothing, or, on a label task, always give one label. A value
    # every case asks for (contains "BONJOUR") is no such answer: a model says it because the prompt says so, and
    # removing that rule is caught; nor are case-specific facts (a phone number here, a ticket id there).
    task = is_label_task(labels, len(evalset.cases))
    candidates = [v for v in values if v in labels] if task else []
    best = max([*candidates, ""], key=lambda v: (sum(passed[v]), v != ""))
    return Trivial(best, sum(passed[best]) / len(evalset.cases), tuple(per_case if task else [None] * len(per_case)))


def is_label_task(labels: set[str], cases: int) -> bool:
    """Answers are labels: two or more short values, each the one a case is passed by, few against the cases
    (at most a third: keyword checks that differ per case are facts to get right, not labels)."""
    return 2 <= len(labels) <= cases / 3 and all(len(v.split()) <= MAX_LABEL_WORDS for v in labels)


def _norm(text: str) -> str:
    return text.strip().strip(".!\"'`*").strip().casefold()


def answer_label(answer: str, labels: list[str]) -> str | None:
    """The label an answer gives: equal to it (case and trailing punctuation aside), else the one label it opens
    with ("No, because …"); None for anything else."""
    got = _norm(answer)
    exact = [v for v in labels if _norm(v) == got]
    if exact:
        return exact[0]
    leading = [v for v in labels if _norm(v) and re.match(re.escape(_norm(v)) + r"(\W|$)", got)]
    return leading[0] if len(leading) == 1 else None


def headroom(found: Trivial, case_scores: list[float | None], answers: list[list[str]], threshold: float,
             margin: float) -> Headroom:
    """The baseline's lead over the trivial answer, and per-label pass rates when the cases carry labels.

    Args:
        found: the trivial answer (trivial()).
        case_scores: the baseline's score per case (None: not graded), in eval-set order.
        answers: the baseline's answers per case (one per repeat).
        threshold: a case passes at score >= threshold.
        margin: the run's non-inferiority margin.
    """
    graded = [s for s in case_scores if s is not None]
    score = sum(graded) / len(graded) if graded else None
    lead = None if score is None else score - found.score
    labels = sorted({lb for lb in found.labels if lb is not None})
    rates: list[LabelRate] = []
    other = 0
    if len(labels) >= 2:
        given = [answer_label(a, labels) for case in answers for a in case]
        other = sum(1 for g in given if g is None)
        for label in labels:
            mine = [s for s, lb in zip(case_scores, found.labels) if lb == label and s is not None]
            passes = sum(1 for s in mine if s >= threshold)
            rates.append(LabelRate(label, len(mine), passes, passes / len(mine) if mine else None,
                                   sum(1 for g in given if g == label)))
    needed = round(2 * margin, 12)
    return Headroom(trivial_answer=found.answer, trivial_score=found.score, baseline_score=score, lead=lead,
                    needed=needed, enough=lead is not None and lead >= needed, labels=rates, other_answers=other)


def before_line(found: Trivial, margin: float) -> str:
    """What the plan says before any call: the score to beat."""
    answer = f'always answering "{found.answer}"' if found.answer else "always answering nothing"
    label = " (the majority label)" if found.answer in found.labels else ""
    return (f"headroom: {answer}{label} scores {found.score:.3f} on this eval set's assertions; the verdicts can "
            f"separate 'needed' from 'ignored' only if the baseline scores at least {found.score + 2 * margin:.3f} "
            f"(twice the margin above it)")


def headroom_of(ev: "Evaluator", baseline: "VariantResult", margin: float) -> Headroom | None:
    """The headroom of a run's baseline answers (None when a judge grades: a constant answer's score is unknown)."""
    return measure(ev.evalset, ev.models.price_model, ev.judge is not None, baseline, margin)


def measure(evalset: EvalSet, model: str, judged: bool, answers: "VariantResult", margin: float) -> Headroom | None:
    """The headroom of one variant's answers on an eval set (check measures each side this way)."""
    found = trivial(evalset, model, judged)
    if found is None:
        return None
    return headroom(found, [c.score for c in answers.cases], [[s.output for s in c.samples] for c in answers.cases],
                    evalset.threshold, margin)


def announce(ev: "Evaluator", margin: float, events: Events) -> Callable[["VariantResult"], None]:
    """Say the score to beat before any call (a detail), and return the hook that warns right after the baseline,
    before any leave-one-out call, when the baseline does not beat it by twice the margin."""
    found = trivial(ev.evalset, ev.models.price_model, ev.judge is not None)
    if found is not None:
        events(Detail(before_line(found, margin)))

    def after(baseline: "VariantResult") -> None:
        found_now = headroom_of(ev, baseline, margin)
        warning = found_now.warning() if found_now is not None else None
        if warning:
            events(Notice(f"warning: {warning}"))

    return after
