"""Prices: genai-prices figures per million tokens, config overrides, and cost arithmetic; never a silent $0."""

from __future__ import annotations

import pytest
from genai_prices import Usage, calc_price

from promptslim.config import load_config
from promptslim.errors import InputError
from promptslim.cost.prices import Price, price_for

MTOK = 1_000_000


def genai_per_mtok(model: str, tokens: int = MTOK, **usage) -> tuple[float, float]:
    """(input, output) USD per million tokens as genai-prices computes them for `tokens` tokens."""
    result = calc_price(Usage(**usage), model)
    return float(result.input_price) * MTOK / tokens, float(result.output_price) * MTOK / tokens


def write_config(tmp_path, text: str):
    (tmp_path / "promptslim.toml").write_text(text, encoding="utf-8")
    return load_config(tmp_path)


def test_gpt_4o_mini_matches_genai_prices():
    price = price_for("gpt-4o-mini")
    input_price, _ = genai_per_mtok("gpt-4o-mini", input_tokens=MTOK)
    cached, _ = genai_per_mtok("gpt-4o-mini", input_tokens=MTOK, cache_read_tokens=MTOK)
    _, output_price = genai_per_mtok("gpt-4o-mini", output_tokens=MTOK)
    assert price.input == pytest.approx(input_price)
    assert price.cached_input == pytest.approx(cached)
    assert price.output == pytest.approx(output_price)
    # OpenAI's published list price for gpt-4o-mini
    assert (price.input, price.cached_input, price.output) == pytest.approx((0.15, 0.075, 0.60))
    assert all(isinstance(v, float) for v in (price.input, price.cached_input, price.output))
    assert price.source == "genai-prices: openai/gpt-4o-mini"


def test_provider_prefixed_model_has_the_same_price():
    a, b = price_for("gpt-4o-mini"), price_for("openai/gpt-4o-mini")
    assert (a.input, a.cached_input, a.output) == (b.input, b.cached_input, b.output)


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "gemini-2.5-pro"])
def test_tiered_models_are_priced_at_prompt_sized_requests(model):
    price = price_for(model)
    input_price, _ = genai_per_mtok(model, 1000, input_tokens=1000)
    _, output_price = genai_per_mtok(model, 1000, output_tokens=1000)
    assert price.input == pytest.approx(input_price)
    assert price.output == pytest.approx(output_price)


def test_cost_math_by_hand():
    price = Price("m", input=0.15, cached_input=0.075, output=0.60, source="test")
    assert price.cost(1000, 200) == pytest.approx((1000 * 0.15 + 200 * 0.60) / MTOK)
    assert price.cost(1000, 200, cached_tokens=400) == pytest.approx((600 * 0.15 + 400 * 0.075 + 200 * 0.60) / MTOK)
    assert price.per_call(1000, 200, cached_fraction=0.4) == pytest.approx(price.cost(1000, 200, 400))
    assert price.per_call(1000, 200) == pytest.approx(0.00027)
    # cached tokens beyond the input are not billed twice nor negatively
    assert price.cost(100, 0, cached_tokens=500) == pytest.approx(500 * 0.075 / MTOK)


def test_monthly_cost_of_the_example_prompt_matches_genai_prices():
    price = price_for("gpt-4o-mini")
    tokens_in, tokens_out, calls = 412.0, 88.3, 1_200_000
    expected = float(calc_price(Usage(input_tokens=412_000, output_tokens=88_300), "gpt-4o-mini").total_price) / 1000
    assert price.per_call(tokens_in, tokens_out) == pytest.approx(expected)
    assert price.per_call(tokens_in, tokens_out) * calls == pytest.approx((412 * 0.15 + 88.3 * 0.6) / MTOK * calls)


def test_config_override_is_used(tmp_path):
    config = write_config(tmp_path, '[prices."my-ft"]\ninput = 0.3\ncached_input = 0.15\noutput = 1.2\n')
    price = price_for("my-ft", config)
    assert (price.model, price.input, price.cached_input, price.output) == ("my-ft", 0.3, 0.15, 1.2)
    assert price.source == 'promptslim.toml [prices."my-ft"]'
    assert price.cost(1000, 100, cached_tokens=500) == pytest.approx((500 * 0.3 + 500 * 0.15 + 100 * 1.2) / MTOK)


def test_override_without_cached_input_bills_cached_at_input_price(tmp_path):
    config = write_config(tmp_path, '[prices."my-ft"]\ninput = 0.3\noutput = 1.2\n')
    price = price_for("my-ft", config)
    assert price.cached_input == 0.3
    assert price.per_call(1000, 0, cached_fraction=0.5) == pytest.approx(1000 * 0.3 / MTOK)


def test_override_beats_genai_prices_for_a_known_model(tmp_path):
    config = write_config(tmp_path, '[prices."gpt-4o-mini"]\ninput = 0.1\noutput = 0.2\n')
    price = price_for("gpt-4o-mini", config)
    assert (price.input, price.output) == (0.1, 0.2)
    assert "[prices.\"gpt-4o-mini\"]" in price.source
    assert price_for("gpt-4o-mini").input == pytest.approx(0.15)


def test_unknown_model_names_the_config_section_to_add(tmp_path):
    config = write_config(tmp_path, 'model = "gpt-4o-mini"\n')
    with pytest.raises(InputError) as err:
        price_for("my-ft", config)
    assert err.value.message.startswith(
        "no price for model 'my-ft' — add [prices.\"my-ft\"] with input and output (USD per million tokens) "
        "to promptslim.toml")
    assert err.value.exit_code == 2
    with pytest.raises(InputError) as err:
        price_for("my-ft")
    assert '[prices."my-ft"]' in err.value.message


def test_local_model_costs_nothing(tmp_path):
    price = price_for("local")
    assert (price.input, price.cached_input, price.output) == (0.0, 0.0, 0.0)
    assert price.cost(10_000, 5_000) == 0.0
    assert price.per_call(10_000, 5_000, 0.5) == 0.0
    assert "local" in price.source
    assert price_for("local", write_config(tmp_path, 'model = "local"\n')).cost(1, 1) == 0.0
