"""Per-million-token prices from genai-prices' bundled data, with config overrides; never a silent $0."""

from __future__ import annotations

import ipaddress
import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import lru_cache
from urllib.parse import urlsplit

from promptslim.config import Config, PriceOverride
from promptslim.errors import InputError
from promptslim.redact import redact_url

LOCAL = "local"
_MTOK = 1_000_000
_PROBE = 1_000  # price a prompt-sized request: 1M tokens would hit long-context tiers


@dataclass(frozen=True)
class Price:
    """USD per million tokens for one model, and where the figures came from."""

    model: str
    input: float
    cached_input: float
    output: float
    source: str
    batch_input: float | None = None
    batch_output: float | None = None
    kind: str = "config"  # genai-prices | config | local | self-hosted: a hand-entered price must not read as a list price
    data_version: str | None = None  # genai-prices' package version: its bundled data is that release's
    date: str | None = None  # the day the list price was looked up for (genai-prices knows price changes by date)

    def describe(self) -> dict:
        """Where the figures came from, for every report's run facts."""
        return {"model": self.model, "source": self.source, "kind": self.kind, "data_version": self.data_version,
                "date": self.date}

    def cost(self, input_tokens: float, output_tokens: float, cached_tokens: float = 0.0) -> float:
        """USD for a call; cached_tokens is the part of input_tokens billed at the cached-input price."""
        fresh = max(input_tokens - cached_tokens, 0.0)
        return (fresh * self.input + cached_tokens * self.cached_input + output_tokens * self.output) / _MTOK

    def per_call(self, input_tokens: float, output_tokens: float, cached_fraction: float = 0.0) -> float:
        """USD per call at a share of input tokens served from the provider's prompt cache."""
        return self.cost(input_tokens, output_tokens, input_tokens * cached_fraction)


def price_for(model: str, config: Config | None = None, *, self_hosted_free: bool = True) -> Price:
    """Config override first, then genai-prices; the embedded local model costs nothing, and so does a model
    without a list price on a self-hosted endpoint (said so) — except a candidate in a cost comparison
    (`self_hosted_free=False`), where $0 would win every comparison without counting the hardware."""
    overrides = config.prices if config else {}
    if model in overrides:
        return _from_override(model, overrides[model], config.source if config else None)
    if model == LOCAL:
        if not self_hosted_free:  # a candidate: the hardware it runs on is not free, and $0 wins every comparison
            raise InputError(f'no price for candidate model \'{LOCAL}\' (the embedded model runs on this machine): $0 '
                             f'would win every cost comparison — add [prices."{LOCAL}"] with input and output (USD per '
                             "million tokens, your hardware's cost) to promptslim.toml")
        return Price(model, 0.0, 0.0, 0.0, "embedded model, runs locally", kind="local")
    try:
        return _from_genai_prices(model)
    except InputError:
        url = _self_hosted_url(model, config) if self_hosted_free else None
        if url is None:
            raise
        # Ollama, vLLM, llama.cpp on your own machine or network bill no tokens: $0, and every report says so
        return Price(model, 0.0, 0.0, 0.0, f"self-hosted endpoint {redact_url(url)}: no list price, priced at $0 "
                     f'(set [prices."{model}"] to count your own cost)', kind="self-hosted")


def _self_hosted_url(model: str, config: Config | None) -> str | None:
    """The model's endpoint when it is on this machine or a private network (loopback, private IP, .local)."""
    urls = []
    if config is not None:
        if model in config.models:
            urls.append(config.models[model].base_url)
        if model == config.judge_model:
            urls.append(config.judge.base_url)
        urls.append(config.target.base_url)
    urls.append(os.environ.get("OPENAI_BASE_URL"))
    url = next((u for u in urls if u), None)
    return url if url and is_self_hosted(url) else None


def is_self_hosted(url: str) -> bool:
    """True for loopback, private and link-local addresses and local host names; a public host may bill."""
    host = (urlsplit(url).hostname or "").lower()
    if host == "localhost" or host.endswith((".localhost", ".local", ".internal", ".lan")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    return address.is_loopback or address.is_private or address.is_link_local


def _from_override(model: str, override: PriceOverride, source: str | None) -> Price:
    cached = override.cached_input if override.cached_input is not None else override.input
    return Price(model, override.input, cached, override.output, f'{source or "config"} [prices."{model}"]',
                 override.batch_input, override.batch_output, kind="config")


@lru_cache(maxsize=None)
def _from_genai_prices(model: str) -> Price:
    from genai_prices import Usage, calc_price

    provider, _, ref = model.rpartition("/")
    kwargs = {"provider_id": provider} if provider else {}

    def per_mtok(context: dict[str, str] | None = None, **usage: int) -> tuple[float, float]:
        result = calc_price(Usage(**usage), ref, price_context=context, **kwargs)
        scale = _MTOK / _PROBE
        return float(result.input_price) * scale, float(result.output_price) * scale

    try:
        input_price, _ = per_mtok(input_tokens=_PROBE)
        cached_price, _ = per_mtok(input_tokens=_PROBE, cache_read_tokens=_PROBE)
        _, output_price = per_mtok(output_tokens=_PROBE)
        batch_in, _ = per_mtok({"processing": "batch"}, input_tokens=_PROBE)
        _, batch_out = per_mtok({"processing": "batch"}, output_tokens=_PROBE)
        found = calc_price(Usage(input_tokens=1), ref, **kwargs)
    except (LookupError, ValueError, KeyError) as exc:
        raise InputError(f"no price for model '{model}' — add [prices.\"{model}\"] with input and output "
                         f"(USD per million tokens) to promptslim.toml ({exc})") from None
    batch = (batch_in, batch_out) if (batch_in, batch_out) != (input_price, output_price) else (None, None)
    from importlib.metadata import version

    return Price(model, input_price, cached_price, output_price,
                 f"genai-prices: {found.provider.id}/{found.model.id}", batch[0], batch[1], kind="genai-prices",
                 data_version=version("genai-prices"), date=datetime.now(timezone.utc).date().isoformat())


def usd_text(amount: float) -> str:
    """A budget or spend as typed: '$5.00', '$0.001' — never '$0.00' for a budget that is not zero."""
    if not math.isfinite(amount) or amount == 0 or abs(amount) >= 0.01:
        return f"${amount:,.2f}"
    digits = min(12, 2 - math.floor(math.log10(abs(amount))))  # three significant digits
    text = f"{amount:.{digits}f}".rstrip("0")
    return "$" + (text + "0" if text.endswith(".") else text)
