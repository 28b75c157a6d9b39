"""The tree design's part of ablation.json (issue 23): `design`, what the plan chose (`tree`), and one entry per node
of the prompt's tree with its parent (`nodes`). Present only when the tree design ran; a file without them is a
flat (leave-one-out) run."""

from __future__ import annotations

from dataclasses import dataclass

from promptslim.jsontypes import JsonRecord
from promptslim.results.sections import Section
from promptslim.results.variants import SideErrors, Verdict


@dataclass(frozen=True)
class NodeFinding(JsonRecord):
    """One node of the tree (a section, a block or a unit): where it sits, what removing it would save at most, and —
    when it was tested — what removing it did. `why` says why an untested node was not tested."""

    id: str  # s2 (section), s2.1 (block), u7 (unit 7)
    kind: str  # section | block | unit
    parent: str | None
    title: str
    line: int
    units: list[int]
    tokens: int  # input tokens of its units (the tokenizer of the price model)
    usd_per_month_max: float  # what removing it could save at most: its input tokens at the run's prices and traffic
    test_usd: float  # what testing it costs (estimated before the run)
    tested: bool
    why: str | None  # untested: "removed with s3", "not worth testing: …", "not decidable at N cases: …", "--max-cost"
    verdict: Verdict | None
    score_delta: float | None
    ci: list[float] | None
    n: int
    p_value: float | None
    level: float | None  # the α level it was tested at (its share of α, with what removable nodes passed to it)
    stage: int | None
    input_tokens_saved: float | None
    output_tokens_delta: float | None
    usd_per_month_saved: float | None  # measured on its own run
    judge_errors: SideErrors | None
    in_slim: bool


@dataclass(frozen=True)
class TreePlanFacts(JsonRecord):
    """What the plan decided before any call: how deep to test, how α is shared, and what that lets a node that changes
    no answer reach at this eval set's size."""

    depth: int  # 1: sections only; 2: and the blocks (or units) below; 3: and the units in blocks
    rho: float  # share of α set aside for the nodes below the sections
    sections_tested: int
    nodes_tested: int  # at most: the descent runs only below sections that were not removable
    section_level: float  # α share of one section at the first step
    below_level: float | None  # α share of one node below the sections (None: no descent)
    cases_unchanged_section: int  # fewest cases for an unchanged section to be removable at the first step
    cases_unchanged_below: int | None
    payback_months: float
    traffic: bool  # calls_per_month was set: nodes that cannot repay their test are not tested
    not_worth_testing: int
    capped_by_budget: int  # nodes --max-cost left untested


@dataclass(frozen=True)
class TreeSection(Section):
    """The tree design's keys: `design` ("tree"), the plan (`tree`), every node with its parent (`nodes`)."""

    design: str
    tree: TreePlanFacts
    nodes: list[NodeFinding]
