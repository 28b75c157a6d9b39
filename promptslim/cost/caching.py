"""What provider prompt caching does to a prompt's bill: the cacheable prefix, the cliff, the layout hint.

Providers bill a repeated static prefix at a discount, but only above a minimum length and (OpenAI) in
128-token steps, and Anthropic charges a premium to write it. So a slimmer prompt can cost *more*
than the original once its static prefix drops below the minimum (the cache cliff), and a variable
placed early breaks the prefix for everything after it. This module models that from the rendered
chat requests of an eval set; it prices nothing itself but returns the token split a `Price` bills.

Token positions follow `tokens.count_messages`: per message, 3 framing tokens, then the role, then
the content — so a prefix length here is in the same units as the prompt token count.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from collections import Counter
from typing import Sequence

from promptslim.tokens import encode, encoding_for, get_encoding

Message = dict[str, str]
SECONDS_PER_MONTH = 30 * 24 * 3600
_FRAME = (-1, -2, -3)  # the 3 framing tokens of a message: identical in every request


@dataclass(frozen=True)
class CacheRule:
    """How one provider caches a prompt prefix, with the documented figures it is built from."""

    provider: str  # openai | anthropic | none
    min_tokens: int  # shorter prefixes are never cached
    step: int  # cached length is min_tokens + a multiple of step (OpenAI: 128); 1 = any length
    write_multiplier: float  # input price multiple paid to write the prefix on a miss (Anthropic 5-min: 1.25)
    ttl_seconds: int  # how long an unused prefix stays cached
    source: str  # where the figures come from, for the report


NO_CACHE = CacheRule("none", 0, 1, 1.0, 0, "no prompt caching modelled for this endpoint")
# OpenAI: automatic for prompts of 1,024 tokens or more, cache hits in 128-token increments, no write premium,
# prefixes evicted after 5–10 minutes of inactivity (we take 5: the conservative end).
OPENAI = CacheRule("openai", 1024, 128, 1.0, 300, "OpenAI prompt caching: from 1,024 tokens in 128-token steps")
# Anthropic: explicit cache_control breakpoints; minimum by model; 5-minute writes at 1.25x input, reads at 0.1x.
_ANTHROPIC_MIN = ((re.compile(r"haiku-4|opus-4-[56]"), 4096), (re.compile(r"sonnet-4-6|haiku-3|3-5-haiku|3-haiku"), 2048))


def rule_for(model: str, *, local: bool = False, min_tokens: int | None = None,
             write_multiplier: float | None = None, ttl_seconds: int | None = None) -> CacheRule:
    """The caching rule for a model name (provider prefix optional); config values override the table."""
    name = model.lower()
    if local:
        rule = NO_CACHE
    elif "claude" in name or name.startswith("anthropic/"):
        floor = next((n for pattern, n in _ANTHROPIC_MIN if pattern.search(name)), 1024)
        rule = CacheRule("anthropic", floor, 1, 1.25, 300,
                         f"Anthropic prompt caching: from {floor:,} tokens for this model, 5-minute writes at 1.25x")
    elif not encoding_for(model)[1]:  # an OpenAI model (exact tokenizer known)
        rule = OPENAI
    else:
        rule = NO_CACHE
    if min_tokens is None and write_multiplier is None and ttl_seconds is None:
        return rule
    return CacheRule(rule.provider if rule is not NO_CACHE else "config",
                     rule.min_tokens if min_tokens is None else min_tokens, rule.step,
                     rule.write_multiplier if write_multiplier is None else write_multiplier,
                     (rule.ttl_seconds or 300) if ttl_seconds is None else ttl_seconds,
                     rule.source + " (overridden in config)")


def genai_write_multiplier(model: str) -> float | None:
    """The cache-write premium genai-prices lists for a model (Anthropic: 1.25), or None where it lists none."""
    from genai_prices import Usage, calc_price

    provider, _, ref = model.rpartition("/")
    kwargs = {"provider_id": provider} if provider else {}
    try:
        plain = calc_price(Usage(input_tokens=1_000), ref, **kwargs).input_price
        written = calc_price(Usage(input_tokens=1_000, cache_write_tokens=1_000), ref, **kwargs).input_price
    except (LookupError, ValueError, KeyError):
        return None
    return float(written / plain) if plain and written != plain else None


def request_tokens(messages: Sequence[Message], model: str) -> list[int]:
    """A chat request as one token sequence, position for position as `count_messages` counts it."""
    name = encoding_for(model)[0]
    out: list[int] = []
    for message in messages:
        out.extend(_FRAME)
        for value in message.values():
            out.extend(encode(value, name))
    return out


@dataclass(frozen=True)
class Prefix:
    """The prefix every case of an eval set shares, and how many of its tokens could be static."""

    shared_tokens: int  # longest token prefix common to every case's request
    mean_tokens: float  # mean prompt tokens per case (count_messages' units, the 3 reply-priming tokens left out)
    static_tokens: int  # tokens common to every case wherever they sit (an upper bound for a reordered prompt)


def shared_prefix(requests: Sequence[Sequence[Message]], model: str) -> Prefix:
    """The cacheable prefix of a template across its eval cases: variables placed early cut it short."""
    if not requests:
        return Prefix(0, 0.0, 0)
    seqs = [request_tokens(r, model) for r in requests]
    first = seqs[0]
    shared = len(first)
    for seq in seqs[1:]:
        n = min(shared, len(seq))
        i = 0
        while i < n and first[i] == seq[i]:
            i += 1
        shared = i
    static = _static_tokens(requests, model)
    return Prefix(shared, sum(map(len, seqs)) / len(seqs), static)


def _static_tokens(requests: Sequence[Sequence[Message]], model: str) -> int:
    """Tokens of the lines every case shares, message by message, wherever they sit (linear in prompt size).

    Line-level: a line holding a variable counts as variable as a whole, so this slightly undercounts.
    """
    encoding = get_encoding(encoding_for(model)[0])
    if len({len(r) for r in requests}) != 1:
        return 0
    total = 0
    for i, message in enumerate(requests[0]):
        if any(r[i].get("role") != message.get("role") for r in requests):
            continue
        common = Counter(message.get("content", "").split("\n"))
        for r in requests[1:]:
            common &= Counter(r[i].get("content", "").split("\n"))
        lines = []
        for line in message.get("content", "").split("\n"):  # keep the first case's order
            if common[line] > 0:
                common[line] -= 1
                lines.append(line)
        total += len(_FRAME) + len(encoding.encode(message.get("role", ""), disallowed_special=()))
        total += len(encoding.encode("\n".join(lines), disallowed_special=()))
    return total


def billable_cached(prefix_tokens: int, rule: CacheRule) -> int:
    """Tokens of a shared prefix the provider actually serves from its cache on a hit."""
    if rule.provider == "none" or prefix_tokens < max(rule.min_tokens, 1):
        return 0
    return rule.min_tokens + (prefix_tokens - rule.min_tokens) // rule.step * rule.step


def hit_rate(calls_per_month: int, rule: CacheRule) -> float:
    """Share of calls that find the prefix still cached, for calls arriving at random (Poisson) times.

    A call hits when the previous one came within the cache lifetime: 1 - exp(-calls/s * ttl). A prompt
    called more often than once per lifetime is mostly warm (over 63%); a rarely called one rarely is.
    """
    if rule.provider == "none" or calls_per_month <= 0 or rule.ttl_seconds <= 0:
        return 0.0
    return 1.0 - math.exp(-calls_per_month / SECONDS_PER_MONTH * rule.ttl_seconds)


@dataclass(frozen=True)
class InputSplit:
    """Expected input tokens of one call by how they are billed: list price, cache read, cache write."""

    fresh: float
    cached: float
    written: float  # tokens written to the cache on a miss (billed at write_multiplier x input)

    def usd(self, input_price: float, cached_price: float, write_multiplier: float) -> float:
        """USD for these input tokens at per-million-token prices."""
        return (self.fresh * input_price + self.cached * cached_price
                + self.written * input_price * write_multiplier) / 1_000_000


def split_input(input_tokens: float, prefix_tokens: int, rule: CacheRule, hits: float) -> InputSplit:
    """Expected billing split of one call's input at a hit rate: hits read the prefix, misses (re)write it."""
    cacheable = min(billable_cached(prefix_tokens, rule), int(input_tokens))
    if cacheable == 0:
        return InputSplit(float(input_tokens), 0.0, 0.0)
    cached = hits * cacheable
    written = (1.0 - hits) * cacheable if rule.write_multiplier != 1.0 else 0.0
    return InputSplit(float(input_tokens) - cached - written, cached, written)


def crosses_cliff(original_prefix: int, slim_prefix: int, rule: CacheRule) -> bool:
    """True when removing text drops a cached prefix below the provider minimum (it stops being cached)."""
    return billable_cached(original_prefix, rule) > 0 and billable_cached(slim_prefix, rule) == 0


def layout_gain(prefix: Prefix, rule: CacheRule) -> int:
    """Tokens that would become cacheable per call if every variable moved after the static text."""
    return max(billable_cached(prefix.static_tokens, rule) - billable_cached(prefix.shared_tokens, rule), 0)
