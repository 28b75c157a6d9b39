"""Any OpenAI-compatible chat endpoint through the official SDK (its own retries off: ours decide).

The endpoint is not ours to trust (llm/guard.py): a request has a total deadline of `timeout` seconds (the SDK's
timeout is per read, so a body dripped a byte at a time would never end), its answer a byte cap read as it
arrives, and the usage it reports must be possible for the request.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import openai

from promptslim.errors import EndpointError
from promptslim.llm import guard
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
        self.timeout = timeout
        # Local servers (vLLM, Ollama, llama.cpp) accept any key; the SDK insists on one. Bodies are read through
        # the byte cap and asked for uncompressed (a small gzip body can expand to gigabytes).
        http = openai.DefaultAsyncHttpxClient(event_hooks={"response": [guard.cap_response]})
        self.client = openai.AsyncOpenAI(base_url=url, api_key=api_key or "not-needed", timeout=timeout,
                                         max_retries=0, http_client=http,
                                         default_headers={"Accept-Encoding": "identity"})

    async def complete(self, messages: list[Message], params: Params) -> Completion:
        body = request_body(messages, params)
        limits = guard.AnswerLimits.of(body)
        response = await self.bounded(lambda: self.client.chat.completions.create(**body), limits.bytes,
                                      self.timeout, params.model, "/chat/completions")
        return completion_from(response, limits, self.endpoint, params.model)

    async def bounded(self, call: Any, max_bytes: int, deadline: float, model: str, path: str) -> Any:
        """One request under a total deadline and a byte cap; an over-long answer is a provider error (exit 4)."""
        token = guard.answer_bytes(max_bytes)
        try:
            return await asyncio.wait_for(call(), deadline)
        except asyncio.TimeoutError:
            # transient, like the SDK's own timeout: retried, and it halves the concurrency
            raise openai.APITimeoutError(request=self._request(path)) from None
        except Exception as exc:
            why = guard.refused(exc)
            if why is None:
                raise
            raise EndpointError(f"{self.endpoint}: {why} for model '{model}' — a broken or hostile endpoint; nothing "
                                "was cached") from None
        finally:
            guard.reset(token)

    def _request(self, path: str) -> Any:
        """The request object the SDK's exceptions carry (only its method and URL are read)."""
        return self.client._client.build_request("POST", str(self.client.base_url).rstrip("/") + path)

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


def completion_from(response: Any, limits: guard.AnswerLimits | None = None, where: str = "the endpoint",
                    model: str = "?") -> Completion:
    """A chat completion (the SDK's object, online or parsed from a batch's output line) as our Completion.

    The SDK does not validate what it parses: usage can hold any JSON value, so it is checked here.
    """
    choices = getattr(response, "choices", None)
    if not isinstance(choices, list) or not choices:
        raise EmptyAnswer("the response has no choices")
    guard.checked_choices(len(choices), where, model)
    choice = choices[0]
    usage = response.usage
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    prompt, completion, cached = guard.checked_usage(
        getattr(usage, "prompt_tokens", None), getattr(usage, "completion_tokens", None),
        getattr(details, "cached_tokens", None) if details else None, limits, where, model)
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None)
    if text is not None and not isinstance(text, str):
        raise EmptyAnswer("the answer's content is not text")
    reported = usage is not None and getattr(usage, "prompt_tokens", None) is not None \
        and getattr(usage, "completion_tokens", None) is not None
    return Completion(text=text or "", prompt_tokens=prompt, completion_tokens=completion, cached_tokens=cached,
                      finish_reason=getattr(choice, "finish_reason", None), usage_reported=reported)
