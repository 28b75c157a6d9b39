"""One cost figure for every command: $/call and $/month of a prompt, and where its output tokens came from.

count, eval, ablate, check and report all call `cost_of`, so they agree for the same prompt and model. Input
tokens are the mean over the eval set's cases. Output tokens are the answers' measured mean when the command ran
the eval set; the static commands (count, check --no-eval, report) use the output the latest ablation of the
same template text measured — and say "estimated" on the line — or leave output out and say that.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from promptslim.config import PromptConfig
from promptslim.cost.caching import billable_cached, hit_rate, layout_gain, rule_for, split_input
from promptslim.cost.prices import Price

if TYPE_CHECKING:
    from promptslim.cost.caching import Prefix

MEASURED = "measured"  # this run's answers
ESTIMATED = "estimated"  # the latest ablation's baseline answers, for a command that makes no call
NOT_INCLUDED = "not included"  # no answers measured yet: input only


@dataclass(frozen=True)
class Output:
    """Output tokens per call and what they rest on, said on the line that shows the dollars."""

    tokens: float
    basis: str  # MEASURED | ESTIMATED | NOT_INCLUDED
    note: str
    warning: str | None = None  # the latest ablation.json was skipped: why (results/readback.py), for the command


@dataclass(frozen=True)
class Caching:
    """How the provider's prompt cache was modelled for a figure (None on a Cost: not modelled)."""

    provider: str
    prefix_tokens: int  # the static prefix every case shares
    cached_tokens: int  # of it, what the provider serves from its cache (minimum length, step)
    hit_rate: float
    hit_rate_source: str  # "config" or "traffic"
    layout_tokens: int  # more tokens that would be cached if the variables came after the static text
    layout_usd_per_month: float  # what that would save

    def describe(self) -> str:
        if self.cached_tokens == 0:
            return (f"{self.provider} prompt cache: the {self.prefix_tokens:,}-token static prefix is below its "
                    "minimum, so no input is billed as cached")
        return (f"{self.provider} prompt cache: {self.cached_tokens:,} of the {self.prefix_tokens:,}-token static "
                f"prefix cached on {self.hit_rate:.0%} of calls ({self.hit_rate_source})")


@dataclass(frozen=True)
class Cost:
    input_tokens: float
    output: Output
    usd_per_call: float
    usd_per_month: float
    calls_per_month: int
    caching: Caching | None = None

    def describe(self) -> str:
        return f"output {self.output.note}"


def measured(tokens: float) -> Output:
    return Output(tokens, MEASURED, f"{tokens:.1f} tokens/call, measured on this run's answers")


def cost_of(price: Price, input_tokens: float, output: Output, prompt: PromptConfig, calls_per_month: int,
            prefix: "Prefix | None" = None) -> Cost:
    """$/call and $/month at the prompt's traffic: the one formula every command uses.

    With the shared prefix of the prompt's rendered cases, the provider's prompt cache is modelled (minimum
    length, step, write premium, a hit rate from the traffic or `cache_hit_rate`); a `cached_input_fraction`
    set in the config overrides the model, and without a prefix the figure is plain list price.
    """
    if prefix is None or prompt.cached_input_fraction > 0:
        per_call = price.per_call(input_tokens, output.tokens, prompt.cached_input_fraction)
        return Cost(input_tokens, output, per_call, per_call * calls_per_month, calls_per_month)
    rule = rule_for(price.model, local=price.kind in ("local", "self-hosted"))
    if rule.provider == "none":
        per_call = price.per_call(input_tokens, output.tokens)
        return Cost(input_tokens, output, per_call, per_call * calls_per_month, calls_per_month)
    configured = prompt.cache_hit_rate is not None
    hits = prompt.cache_hit_rate if configured else hit_rate(calls_per_month, rule)
    split = split_input(input_tokens, prefix.shared_tokens, rule, hits)
    if split.cached == 0 and split.written == 0:  # nothing cacheable: the list-price formula, to the last bit
        per_call = price.per_call(input_tokens, output.tokens)
    else:
        per_call = split.usd(price.input, price.cached_input, rule.write_multiplier) + output.tokens * price.output / 1e6
    gain = layout_gain(prefix, rule)
    gain_usd = gain * hits * (price.input - price.cached_input) / 1e6 * calls_per_month
    caching = Caching(rule.provider, prefix.shared_tokens, min(billable_cached(prefix.shared_tokens, rule),
                                                               int(input_tokens)),
                      hits, "config cache_hit_rate" if configured else f"from {calls_per_month:,} calls/month",
                      gain, gain_usd)
    return Cost(input_tokens, output, per_call, per_call * calls_per_month, calls_per_month, caching)


def layout_hint(cost: Cost) -> str | None:
    """The hint when variables placed early keep static text out of the provider's cache."""
    c = cost.caching
    if c is None or c.layout_tokens <= 0:
        return None
    return (f"layout: {c.layout_tokens:,} more tokens/call would be cached if the variable parts came after the "
            f"static instructions (about ${c.layout_usd_per_month:,.2f}/month at {c.hit_rate:.0%} cache hits)")


def no_traffic_warning(template_name: str) -> str:
    return (f"$/month is 0 because calls_per_month is not set — add [prompts.\"{template_name}\"] calls_per_month = N "
            "to promptslim.toml (or pass --calls-per-month N)")


def traffic_warnings(template_name: str, calls_per_month: int) -> list[str]:
    """The warning eval and ablate add when $/month can only be 0."""
    return [] if calls_per_month else [no_traffic_warning(template_name)]
