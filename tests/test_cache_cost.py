"""Issue 15 part 1 in the commands: the provider's prompt cache in every $ figure, the cliff, the layout hint.

gpt-4o-mini (genai-prices: $0.15 input, $0.075 cached input, $0.60 output per million) at 3,000,000 calls a
month, so the cache is warm on almost every call (Poisson hit rate from the traffic). Every figure is
recomputed here from tiktoken counts and the documented OpenAI rule (from 1,024 tokens, in 128-token steps).
"""

from __future__ import annotations

import json
import math

import pytest
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.cost.prices import price_for
from promptslim.tokens import get_encoding

ENC = get_encoding("o200k_base")
CPM = 3_000_000
HITS = 1 - math.exp(-CPM / (30 * 24 * 3600) * 300)  # OpenAI keeps a prefix ~5 minutes
TABLE = "| code | queue |\n|---|---|\n" + "".join(f"| R-{i:03d} route code | queue Q-{i:03d} handles it |\n"
                                              for i in range(70))
BULLET = "- Glossary to keep in mind: " + " ".join(f"term{i} means item{i}" for i in range(60)) + "\n"
INPUTS = [f"{w} ticket about my order" for w in ("Alpha", "Bravo", "Charlie", "Delta", "Echo", "Foxtrot", "Golf",
                                                "Hotel", "India", "Juliet", "Kilo", "Lima", "Mike", "November",
                                                "Oscar", "Papa", "Quebec", "Romeo", "Sierra", "Tango")]
EVALSET = "cases:\n" + "".join(f"  - id: c{i}\n    input: \"{t}\"\n    assert: [{{type: contains, value: ok}}]\n"
                               for i, t in enumerate(INPUTS))
CONFIG = f'model = "gpt-4o-mini"\njudge_model = "none"\nmargin = 0.2\n[prompts."p"]\ncalls_per_month = {CPM}\n'


def tok(text: str) -> int:
    return len(ENC.encode(text, disallowed_special=()))


def cached(prefix: int) -> int:
    return 0 if prefix < 1024 else 1024 + (prefix - 1024) // 128 * 128


def per_call(system: str) -> float:
    """$ per call of a system prompt + each case's user message, at the warm-cache hit rate (output left out)."""
    prefix = 3 + tok("system") + tok(system) + 3 + tok("user")  # the user messages share no first token
    inputs = [3 + 3 + tok("system") + tok(system) + 3 + tok("user") + tok(t) for t in INPUTS]
    mean_in = sum(inputs) / len(inputs)
    c = HITS * cached(prefix)
    price = price_for("gpt-4o-mini")
    return ((mean_in - c) * price.input + c * price.cached_input) / 1e6


def test_a_slim_prompt_below_the_cache_minimum_costs_more_and_is_not_proposed(fake, make_repo):
    template = "{# promptslim: keep #}\n" + TABLE + BULLET
    system = template.split("\n", 1)[1].strip()
    slim_system = TABLE.strip()
    assert tok(system) > 1100 and tok(slim_system) < 1000  # the bullet holds the prefix above 1,024
    make_repo({"prompts/p.j2": template, "evalsets/p.yaml": EVALSET, "promptslim.toml": CONFIG})
    result = CliRunner().invoke(app, ["ablate", "prompts/p.j2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    [unit] = data["units"]
    assert unit["verdict"] == "removable"  # the answers did not change ...
    saved = per_call(system) - per_call(slim_system)
    assert saved < 0  # ... but without the discount the shorter prompt costs more per call
    assert unit["usd_per_call_saved"] == pytest.approx(saved, rel=1e-9)
    assert data["slim"]["removed"] == []  # removable on quality, yet no slim prompt: it would cost more
    [cliff] = [w for w in data["warnings"] if w.startswith("cache cliff")]
    assert f"removing unit {unit['id']} shrinks" in cliff and "is not proposed" in cliff
    assert "below the openai prompt-cache minimum of 1,024" in cliff
    assert data["baseline"]["usd_per_call"] == pytest.approx(per_call(system) + 1 * 0.60 / 1e6, rel=1e-9)


def test_variables_first_get_the_layout_hint_with_the_tokens_it_would_cache(make_repo):
    static = (TABLE + BULLET).strip()
    template = "Customer: {{ name }}\n\n" + TABLE + BULLET
    names = ["Zoe", "Adam", "Maria Lopez"]
    evalset = "cases:\n" + "".join(f"  - id: c{i}\n    vars: {{name: {n}}}\n    input: hi\n"
                                   f"    assert: [{{type: contains, value: ok}}]\n" for i, n in enumerate(names))
    make_repo({"prompts/p.j2": template, "evalsets/p.yaml": evalset, "promptslim.toml": CONFIG})
    result = CliRunner().invoke(app, ["count", "prompts/p.j2", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    # today: the prefix ends inside "Customer: …" — nothing cached; moved last, the whole table would be
    # the lines every case shares: the blank line and the table and bullet after it, then the same user message
    static_tokens = 3 + tok("system") + tok("\n" + static) + 3 + tok("user") + tok("hi")
    gain = cached(static_tokens)
    assert gain >= 1024
    [hint] = [n for n in data["notes"] if "layout:" in n]
    assert f"layout: {gain:,} more tokens/call would be cached" in hint
    price = price_for("gpt-4o-mini")
    usd = gain * HITS * (price.input - price.cached_input) / 1e6 * CPM
    assert f"about ${usd:,.2f}/month" in hint
    report = CliRunner().invoke(app, ["report", "--json"])
    assert report.exit_code == 0, report.output
    [entry] = json.loads(report.stdout)["entries"]
    assert f"layout: {gain:,} more tokens/call would be cached" in entry["cache_note"]


def test_an_explicit_cached_input_fraction_overrides_the_model(make_repo):
    make_repo({"prompts/p.j2": "{# promptslim: keep #}\n" + TABLE + BULLET, "evalsets/p.yaml": EVALSET,
               "promptslim.toml": CONFIG + "cached_input_fraction = 0.5\n"})
    data = json.loads(CliRunner().invoke(app, ["count", "prompts/p.j2", "--json"]).stdout)
    row = data["models"][0]
    price = price_for("gpt-4o-mini")
    expected = (row["input_tokens"] * 0.5 * price.input + row["input_tokens"] * 0.5 * price.cached_input) / 1e6
    assert row["usd_per_call"] == pytest.approx(expected, rel=1e-9)
    assert not [n for n in data["notes"] if "prompt cache" in n or "layout:" in n]


def test_anthropic_misses_pay_the_write_premium_in_the_figure():
    from promptslim.config import PromptConfig
    from promptslim.cost.figure import Output, cost_of
    from promptslim.cost.caching import Prefix

    price = price_for("anthropic/claude-sonnet-4-5")
    prompt = PromptConfig(calls_per_month=1000, cache_hit_rate=0.8)
    figure = cost_of(price, 3000, Output(100.0, "measured", ""), prompt, 1000, Prefix(2500, 3000.0, 2500))
    # 80% of calls read the 2,500-token prefix at the cache-read price, 20% write it at 1.25x input
    expected = (500 * price.input + 0.8 * 2500 * price.cached_input + 0.2 * 2500 * 1.25 * price.input
                + 100 * price.output) / 1e6
    assert figure.usd_per_call == pytest.approx(expected, rel=1e-12)
    assert figure.usd_per_month == pytest.approx(expected * 1000, rel=1e-12)
    assert figure.caching is not None and figure.caching.hit_rate == 0.8
    assert "80% of calls (config cache_hit_rate)" in figure.caching.describe()
