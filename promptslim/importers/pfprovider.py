"""promptfoo providers as promptslim's model settings: the first OpenAI-compatible one becomes `model`.

promptslim calls OpenAI-compatible chat endpoints, so `openai:chat:gpt-4o-mini`, Azure OpenAI, Ollama,
OpenRouter, LiteLLM, Groq, DeepSeek and Together map (with their base URL and key variable); Anthropic,
Bedrock, Vertex, HTTP and script providers are listed. An `apiKey` written in the config is never copied.
"""

from __future__ import annotations

import re
from typing import Any

from promptslim.errors import InputError
from promptslim.importers import Skipped, Source

# vendor -> (base_url or None for the SDK's default / the config's own, the variable promptfoo reads its key from)
_COMPATIBLE: dict[str, tuple[str | None, str | None]] = {
    "openai": (None, None),
    "azure": (None, "AZURE_API_KEY"),
    "azureopenai": (None, "AZURE_API_KEY"),
    "ollama": ("http://localhost:11434/v1", None),
    "openrouter": ("https://openrouter.ai/api/v1", "OPENROUTER_API_KEY"),
    "litellm": (None, "LITELLM_API_KEY"),
    "groq": ("https://api.groq.com/openai/v1", "GROQ_API_KEY"),
    "deepseek": ("https://api.deepseek.com/v1", "DEEPSEEK_API_KEY"),
    "togetherai": ("https://api.together.xyz/v1", "TOGETHER_API_KEY"),
}
_KINDS = {"chat", "responses"}  # an OpenAI-style id's second part; completion/embedding/assistant are not chat
_CONFIG_MAPPED = {"apiBaseUrl", "apiHost", "apiKeyEnvar", "temperature", "max_tokens", "apiKey"}


def provider_settings(spec: Any, src: Source, skipped: list[Skipped], notes: list[str]) -> dict[str, Any]:
    """promptslim.toml keys for the first OpenAI-compatible provider; every other provider is noted or listed."""
    if isinstance(spec, str) and spec.startswith("file://"):
        from promptslim.importers.pftests import load_file_value

        spec = load_file_value(src, spec, f"{src.name}: providers")
    if spec is None:
        return {}
    items = spec if isinstance(spec, list) else [spec]
    settings: dict[str, Any] = {}
    for i, item in enumerate(items):
        where = f"{src.name}: providers" + (f"[{i}]" if isinstance(spec, list) else "")
        ident, config = _id_and_config(item, where)
        mapped = _map(ident, config, where, skipped)
        if mapped is None:
            continue
        if settings:
            notes.append(f"provider {ident}: not the model under test (the first one is) — compare it with "
                         f"`promptslim tier prompts/<name> --model {mapped['model']}`")
            continue
        settings = mapped
        if isinstance(item, dict) and item.get("prompts") is not None:
            notes.append(f"{where}.prompts: promptslim runs every imported prompt on the model under test")
    return settings


def _id_and_config(item: Any, where: str) -> tuple[str, dict[str, Any]]:
    if isinstance(item, str) and item.strip():
        return item.strip(), {}
    if isinstance(item, dict):
        if "id" in item and not isinstance(item["id"], str):
            raise InputError(f"{where}.id: a provider id such as openai:chat:gpt-4o-mini")
        if isinstance(item.get("id"), str):
            config = item.get("config") or {}
            if not isinstance(config, dict):
                raise InputError(f"{where}.config: must be a mapping")
            return item["id"].strip(), config
        if len(item) == 1:  # legacy {"openai:gpt-4": {config: …}}
            (ident, value), = item.items()
            config = value.get("config", value) if isinstance(value, dict) else {}
            if isinstance(ident, str):
                return ident, config if isinstance(config, dict) else {}
    raise InputError(f"{where}: a provider is an id (openai:chat:gpt-4o-mini) or a mapping with 'id'")


def _map(ident: str, config: dict[str, Any], where: str, skipped: list[Skipped]) -> dict[str, Any] | None:
    vendor, _, rest = ident.partition(":")
    if vendor not in _COMPATIBLE or not rest:
        skipped.append(Skipped("provider", where, f"{ident}: not an OpenAI-compatible provider — promptslim calls "
                                                  "OpenAI-compatible endpoints (a LiteLLM proxy can front it)"))
        return None
    kind, _, model = rest.partition(":")
    if not model:  # openai:gpt-4o-mini, ollama:llama3
        kind, model = "chat", rest
    if vendor in ("openrouter", "litellm", "groq", "deepseek", "togetherai"):
        kind, model = "chat", rest  # their model names may contain ':' (openrouter:…:free)
    if kind not in _KINDS:
        skipped.append(Skipped("provider", where, f"{ident}: a {kind} API, not chat completions"))
        return None
    base_url, key_env = _COMPATIBLE[vendor]
    settings: dict[str, Any] = {"model": model}
    if kind == "responses":
        skipped.append(Skipped("provider", where, f"{ident}: the Responses API; promptslim calls chat completions "
                                                  f"with the same model name ({model})"))
    if config.get("apiBaseUrl"):
        base_url = str(config["apiBaseUrl"])
    elif config.get("apiHost"):
        host = str(config["apiHost"]).removeprefix("https://").rstrip("/")
        base_url = f"https://{host}/openai/v1/" if vendor.startswith("azure") else f"https://{host}/v1"
    if base_url is not None:
        if not re.match(r"https?://", base_url):
            raise InputError(f"{where}.config.apiBaseUrl: must be an http(s) URL")
        settings["base_url"] = base_url
    elif vendor.startswith("azure") or vendor == "litellm":
        skipped.append(Skipped("provider", where, f"{ident}: no apiHost/apiBaseUrl — set base_url in "
                                                  "promptslim.toml to your endpoint's /v1 URL"))
    key_env = config.get("apiKeyEnvar") or key_env
    if key_env:
        if not isinstance(key_env, str) or not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}", key_env):
            raise InputError(f"{where}.config.apiKeyEnvar: must name an environment variable")
        settings["api_key_env"] = key_env
    temperature, max_tokens = config.get("temperature"), config.get("max_tokens")
    if isinstance(temperature, (int, float)) and not isinstance(temperature, bool) and 0 <= temperature <= 2:
        settings["temperature"] = float(temperature)
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens >= 1:
        settings["max_tokens"] = max_tokens
    if "apiKey" in config:
        skipped.append(Skipped("provider", where, "config.apiKey: not copied — promptslim never stores keys; set "
                                                  f"{settings.get('api_key_env', 'OPENAI_API_KEY')} instead"))
    for key in sorted(set(config) - _CONFIG_MAPPED):
        skipped.append(Skipped("provider", where, f"config.{key}: not mapped"))
    return settings


def settings_toml(settings: dict[str, Any], source: str) -> str:
    """promptslim.toml text for the imported settings (TOML basic strings are JSON strings)."""
    import json

    lines = [f"# written by `promptslim import` from {' '.join(source.split())}"]
    for key in ("model", "base_url", "api_key_env", "temperature", "max_tokens"):
        if key in settings:
            value = settings[key]
            lines.append(f"{key} = {json.dumps(value, ensure_ascii=False) if isinstance(value, str) else value}")
    return "\n".join(lines) + "\n"
