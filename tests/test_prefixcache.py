"""Issue 15 part 1 (core): the cacheable prefix, provider rules, the cliff and the layout hint, recomputed by hand."""

from __future__ import annotations

import math

import pytest

from promptslim.cost.caching import (OPENAI, CacheRule, billable_cached, crosses_cliff, genai_write_multiplier,
                                    hit_rate, layout_gain, request_tokens, rule_for, shared_prefix, split_input)
from promptslim.cost.prices import price_for
from promptslim.tokens import count_messages, get_encoding

ENC = get_encoding("o200k_base")
STATIC = "You route support tickets for Acme. " + "Follow the routing table exactly and answer with one label. " * 120


def tok(text: str) -> int:
    return len(ENC.encode(text, disallowed_special=()))


def test_openai_caches_from_1024_in_128_token_steps() -> None:
    assert billable_cached(1023, OPENAI) == 0
    assert billable_cached(1024, OPENAI) == 1024
    assert billable_cached(1151, OPENAI) == 1024
    assert billable_cached(1152, OPENAI) == 1152
    assert billable_cached(1500, OPENAI) == 1024 + 3 * 128  # 476 tokens past the minimum: three whole steps


def test_request_tokens_count_like_count_messages() -> None:
    messages = [{"role": "system", "content": STATIC}, {"role": "user", "content": "My invoice is wrong."}]
    assert len(request_tokens(messages, "gpt-4o-mini")) + 3 == count_messages(messages, "gpt-4o-mini").tokens


def test_shared_prefix_stops_at_the_first_variable() -> None:
    cases = ["Zebra crossing broke my order.", "Apple pay failed twice.", "Where is my refund?"]
    late = [[{"role": "system", "content": STATIC}, {"role": "user", "content": c}] for c in cases]
    early = [[{"role": "system", "content": f"Customer says: {c}\n" + STATIC}] for c in cases]
    prefix = shared_prefix(late, "gpt-4o-mini")
    # by hand: framing 3 + "system" + the static text + framing 3 + "user"; the user texts share no first token
    assert prefix.shared_tokens == 3 + tok("system") + tok(STATIC) + 3 + tok("user")
    assert prefix.mean_tokens == pytest.approx(sum(prefix.shared_tokens + tok(c) for c in cases) / 3)
    first = shared_prefix(early, "gpt-4o-mini")
    common = ENC.encode("Customer says:")
    assert first.shared_tokens == 3 + tok("system") + len(common)
    assert first.static_tokens == 3 + tok("system") + tok(STATIC)  # the static line, wherever it sits


def test_layout_hint_counts_the_tokens_that_would_become_cacheable() -> None:
    cases = ["Zebra crossing broke my order.", "Apple pay failed twice.", "Where is my refund?"]
    early = [[{"role": "system", "content": f"Customer says: {c}\n" + STATIC}] for c in cases]
    prefix = shared_prefix(early, "gpt-4o-mini")
    assert billable_cached(prefix.shared_tokens, OPENAI) == 0
    gain = layout_gain(prefix, OPENAI)
    assert gain == 1024 + (prefix.static_tokens - 1024) // 128 * 128
    assert gain > 1024


def test_anthropic_write_premium_on_misses() -> None:
    rule = rule_for("anthropic/claude-sonnet-4-5")
    assert (rule.provider, rule.min_tokens, rule.write_multiplier) == ("anthropic", 1024, 1.25)
    split = split_input(3000, 2500, rule, hits=0.8)
    assert (split.cached, split.written, split.fresh) == pytest.approx((2000, 500, 500))
    # $3 input, $0.30 cache read, writes at 1.25 x $3
    assert split.usd(3.0, 0.3, rule.write_multiplier) == pytest.approx((500 * 3 + 2000 * 0.3 + 500 * 3.75) / 1e6)
    assert genai_write_multiplier("anthropic/claude-sonnet-4-5") == pytest.approx(1.25)
    assert genai_write_multiplier("gpt-4o-mini") is None  # OpenAI charges nothing to write


def test_anthropic_minimums_by_model() -> None:
    assert rule_for("claude-haiku-4-5").min_tokens == 4096
    assert rule_for("claude-3-5-haiku-latest").min_tokens == 2048
    assert rule_for("claude-opus-4-1").min_tokens == 1024
    assert rule_for("llama3.2").provider == "none"
    assert rule_for("gpt-4o-mini", local=True).provider == "none"
    custom = rule_for("llama3.2", min_tokens=256)
    assert (custom.provider, custom.min_tokens) == ("config", 256)


def test_the_cache_cliff_makes_a_slimmer_prompt_cost_more() -> None:
    price = price_for("gpt-4o-mini")
    hits = 1.0
    original = split_input(1200, 1100, OPENAI, hits).usd(price.input, price.cached_input, 1.0)
    slim = split_input(1050, 1000, OPENAI, hits).usd(price.input, price.cached_input, 1.0)
    assert crosses_cliff(1100, 1000, OPENAI)
    assert original == pytest.approx((176 * 0.15 + 1024 * 0.075) / 1e6)
    assert slim == pytest.approx(1050 * 0.15 / 1e6)
    assert slim > original  # 150 fewer tokens, yet dearer: the prefix fell below 1,024
    assert not crosses_cliff(1500, 1200, OPENAI)


def test_hit_rate_from_calls_per_month() -> None:
    assert hit_rate(100_000, OPENAI) == pytest.approx(1 - math.exp(-100_000 / 2_592_000 * 300))
    assert hit_rate(1_000, OPENAI) == pytest.approx(0.1093, abs=1e-4)
    assert hit_rate(0, OPENAI) == 0.0
    assert hit_rate(10**6, CacheRule("none", 0, 1, 1.0, 0, "")) == 0.0
