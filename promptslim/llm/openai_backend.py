"""Any OpenAI-compatible chat endpoint through the official SDK (its own retries off: ours decide)."""

from __future__ import annotations

import json
from typing import Any

import openai

from promptslim.llm.base import Completion, Message, Params
from promptslim.llm.retry import EmptyAnswer
from promptslim.redact import redact_url

_REASONING = ("o1", "o3", "o4", "gpt-5")


class OpenAIBackend:
    """Chat completions over HTTP; `endpoint` is the base URL, which the cache key includes."""

    concurrency: int | None = None

    def __init__(self, base_url: str | None, api_key: str | None, timeout: float,
                 key_env: str | None = "OPENAI_API_KEY"):
        url = (base_url or "https://api.openai.com/v1").rstrip("/")
        # what messages, the cache key and the ledger see: no userinfo, no secret query values
        self.endpoint = redact_url(url)
        self.key_env = key_env
        self.secret = api_key
        # Local servers (vLLM, Ollama, llama.cpp) accept any key; the SDK insists on one.
        self.client = openai.AsyncOpenAI(base_url=url, api_key=api_key or "not-needed",
                                         timeout=timeout, max_retries=0)

    async def complete(self, messages: list[Message], params: Params) -> Completion:
        response = await self.client.chat.completions.create(**request_body(messages, params))
        return completion_from(response)

    async def aclose(self) -> None:
        await self.client.close()


def request_body(messages: list[Message], params: Params) -> dict:
    """The chat-completions request for these messages and params: online, or as one line of a batch file."""
    kwargs: dict = {"model": params.model, "messages": messages}
    reasoning = params.model.split("/")[-1].startswith(_REASONING)
    if params.max_tokens is not None:
        kwargs["max_completion_tokens" if reasoning else "max_tokens"] = params.max_tokens
    if not reasoning:
        kwargs["temperature"] = params.temperature
    if params.seed is not None:
        kwargs["seed"] = params.seed
    if params.response_format:
        kwargs["response_format"] = json.loads(params.response_format)
    return kwargs


def completion_from(response: Any) -> Completion:
    """A chat completion (the SDK's object, online or parsed from a batch's output line) as our Completion."""
    if not getattr(response, "choices", None):
        raise EmptyAnswer("the response has no choices")
    choice = response.choices[0]
    usage = response.usage
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    return Completion(
        text=choice.message.content or "",
        prompt_tokens=int(getattr(usage, "prompt_tokens", 0) or 0),
        completion_tokens=int(getattr(usage, "completion_tokens", 0) or 0),
        cached_tokens=int(getattr(details, "cached_tokens", 0) or 0) if details else 0,
        finish_reason=choice.finish_reason,
    )
