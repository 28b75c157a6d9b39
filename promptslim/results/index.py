"""`promptslim report --json`: what every prompt costs per month and what its ablation found to save."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptslim.jsontypes import OPTIONAL, JsonRecord


@dataclass(frozen=True)
class IndexAblation(JsonRecord):
    """What a template's latest ablation found, and whether the template changed since."""

    path: str
    units: int
    removable: list[int]
    slim_removed: list[int]
    slim_input_tokens: float | None
    slim_verdict: str | None
    usd_per_month_saved: float | None
    created_at: str | None
    git_commit: str | None
    model: str | None
    template_sha256: str | None
    baseline_output_tokens: float | None
    stale: bool
    no_headroom: bool = False  # its baseline barely beat a constant answer: verdicts say what the model ignores


@dataclass(frozen=True)
class Lever(JsonRecord):
    """The best proven saving of one lever for a template: remove units, say it shorter, cheaper model."""

    lever: str  # remove | rewrite | model
    usd_per_month_saved: float
    detail: str
    report: str
    stale: bool  # the template changed since that run: the saving is not counted


@dataclass(frozen=True)
class IndexEntry(JsonRecord):
    """One template: what it costs per month now, and its ablation."""

    template: str
    name: str
    model: str
    template_sha256: str
    input_tokens: float | None
    output_tokens: float
    tokens_approximate: bool
    rendered_with: str
    calls_per_month: int
    usd_per_call: float | None
    usd_per_month: float | None
    ablation: IndexAblation | None
    levers: list[Lever] | None = field(default=None, metadata=OPTIONAL)  # present when some lever is proven
    output_basis: str = ""  # measured | estimated | not included (promptslim/cost/figure.py); "" in older files
    output_note: str = ""
    cache_note: str = ""  # the provider prompt cache as modelled, and the layout hint; "" when not modelled

    @property
    def saving(self) -> float:
        """Monthly saving that counts: only from a current (non-stale) ablation."""
        ab = self.ablation
        if not ab or ab.stale:
            return 0.0
        return float(ab.usd_per_month_saved or 0.0)


@dataclass(frozen=True)
class IndexTotals(JsonRecord):
    """Sums over every template."""

    usd_per_month_now: float
    usd_per_month_removable: float
    templates: int
    ablated: int
    stale: int


@dataclass(frozen=True)
class IndexResult(JsonRecord):
    """`promptslim report --json`: every template's cost and saving."""

    entries: list[IndexEntry]
    totals: IndexTotals
    model: str
    price_source: str
    # reports that were skipped, one line each (results/readback.py): present when any was
    warnings: list[str] | None = field(default=None, metadata=OPTIONAL)
