"""Test only what can pay for itself (issue 23): a node's most possible saving against the cost of testing it.

A node saves at most its input tokens on every call (its $/month if removed, priced as the cost figure prices input,
prompt caching included); testing it costs its calls (the variant on the eval set, target and judge). A node that
cannot earn its test back within `payback_months` is not tested: "not worth testing: saves at most $x/month, a
test costs $y". Without traffic there is no $/month to weigh, so nothing is ruled out this way.
"""

from __future__ import annotations

PAYBACK_MONTHS = 3.0  # default horizon (config `payback_months`)


def worth_testing(saves_usd_per_month: float, test_usd: float, months: float = PAYBACK_MONTHS) -> bool:
    """Can the most this node saves pay back a test of it within `months`?"""
    return saves_usd_per_month * months >= test_usd


def not_worth_text(saves_usd_per_month: float, test_usd: float) -> str:
    return f"not worth testing: saves at most ${saves_usd_per_month:,.2f}/month, a test costs ${test_usd:,.2f}"
