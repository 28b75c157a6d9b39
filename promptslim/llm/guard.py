"""What an answer from an endpoint we do not control may be: bounded in time, bytes, choices and usage.

Every run talks to an endpoint the user configured, and `check` does so next to an API key on a pull request. A
broken or hostile endpoint could stall a run (a body dripped one byte per second defeats a per-read timeout),
exhaust memory (a 100 MB body or a million choices to a 512-token call), or defeat the budget (usage of
-10^9 tokens makes every call "earn" money; NaN or 10^400 crash the arithmetic). So each request has a total
deadline, each answer a byte cap that scales with its max_tokens, and the usage it reports must be a whole
number no larger than what the request could have cost. An answer that breaks a bound is a provider error
(exit 4, one line) and is never cached: the budget can only ever be reached sooner, never later.
"""

from __future__ import annotations

import contextvars
import math
import sys
from dataclasses import dataclass
from typing import Any

from promptslim.errors import EndpointError

MAX_CHOICES = 8  # we ask for one; a compliant server sends one
BYTES_PER_TOKEN = 64  # an answer's JSON per output token, escapes (\uXXXX) included, with room to spare
BASE_BYTES = 1 << 20  # the envelope: ids, usage, headers of a JSON body, a refusal message
NO_MAX_TOKENS = 1 << 20  # output tokens a request without max_tokens is allowed to report
PROMPT_SLACK = 8192  # tokens a server may add around our messages (chat template, its own system preamble)
PER_MESSAGE = 64


class AnswerRefused(Exception):
    """An answer broke a bound while it was being read (too many bytes, an encoding we did not ask for)."""


@dataclass(frozen=True)
class AnswerLimits:
    """The most one request's answer may weigh and report, derived from the request itself."""

    bytes: int
    prompt_tokens: int
    completion_tokens: int

    @classmethod
    def of(cls, body: dict) -> "AnswerLimits":
        """From a chat-completions request body (online, or one line of a batch file)."""
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens")
        out = max_tokens if isinstance(max_tokens, int) and max_tokens > 0 else NO_MAX_TOKENS
        messages = body.get("messages") or []
        # a token is at least one byte of what was sent: the prompt cannot count more tokens than its bytes
        size = sum(len(str(m.get("content", "")).encode("utf-8")) for m in messages if isinstance(m, dict))
        size += len(str(body.get("response_format") or "").encode("utf-8"))  # a JSON schema is counted as input
        return cls(bytes=BASE_BYTES + BYTES_PER_TOKEN * out,
                   prompt_tokens=size + PER_MESSAGE * len(messages) + PROMPT_SLACK,
                   completion_tokens=out + 64)


def _whole(value: Any) -> int | None:
    """A token count as an int, or None when it is not a finite whole number (bool, text, NaN, 1.5, 1e400)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value) and value.is_integer():
        return int(value)
    return None


def checked_usage(prompt: Any, completion: Any, cached: Any, limits: AnswerLimits | None, where: str,
                  model: str) -> tuple[int, int, int]:
    """(prompt, completion, cached) tokens when they are possible for this request; EndpointError otherwise."""
    bounds = {"prompt_tokens": limits.prompt_tokens if limits else sys.maxsize,
              "completion_tokens": limits.completion_tokens if limits else sys.maxsize}
    values = {"prompt_tokens": prompt, "completion_tokens": completion, "cached_tokens": cached}
    out = {}
    for name, raw in values.items():
        n = 0 if raw is None else _whole(raw)
        why = None
        if n is None:
            why = "not a whole number"
        elif n < 0:
            why = "negative"
        elif name in bounds and n > bounds[name]:
            why = (f"more than this request could use (at most {bounds[name]:,})" if limits
                   else "out of range")
        elif name == "cached_tokens" and n > out["prompt_tokens"]:
            why = "more cached tokens than prompt tokens"
        if why:
            shown = repr(raw)
            shown = shown if len(shown) <= 24 else shown[:20] + "…"
            raise EndpointError(f"{where}: the endpoint reported impossible usage for model '{model}' (usage.{name} = "
                                f"{shown}: {why}) — a broken or hostile endpoint; nothing was cached, the run stopped "
                                "before that figure could reach the budget")
        out[name] = n
    return out["prompt_tokens"], out["completion_tokens"], out["cached_tokens"]


def checked_choices(count: int, where: str, model: str) -> None:
    if count > MAX_CHOICES:
        raise EndpointError(f"{where}: the endpoint sent {count:,} choices for model '{model}' (one was asked for; at "
                            f"most {MAX_CHOICES} are read) — a broken or hostile endpoint; nothing was cached")


# ---------------------------------------------------------------- the byte cap, while the body is read
_LIMIT: contextvars.ContextVar[int | None] = contextvars.ContextVar("promptslim_answer_bytes", default=None)
_CAPPED: dict[type, type] = {}


def answer_bytes(limit: int) -> contextvars.Token:
    """Cap the bodies read in this task (and the tasks it starts) at `limit` bytes; reset with the token."""
    return _LIMIT.set(limit)


def reset(token: contextvars.Token) -> None:
    _LIMIT.reset(token)


def _capped_class(base: type) -> type:
    """A stream of the HTTP library's own AsyncByteStream type (httpx or httpx2) that stops at the limit."""
    if base not in _CAPPED:
        class Capped(base):  # type: ignore[misc, valid-type]
            def __init__(self, inner: Any, limit: int) -> None:
                self.inner, self.limit = inner, limit

            async def __aiter__(self):  # type: ignore[override]
                seen = 0
                async for chunk in self.inner:
                    seen += len(chunk)
                    if seen > self.limit:
                        raise AnswerRefused(f"the answer is over {self.limit:,} bytes")
                    yield chunk

            async def aclose(self) -> None:
                await self.inner.aclose()

        _CAPPED[base] = Capped
    return _CAPPED[base]


async def cap_response(response: Any) -> None:
    """httpx response hook: refuse a body over the task's limit, announced or streamed, before it is read whole."""
    limit = _LIMIT.get()
    if limit is None:
        return
    encoding = response.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in ("", "identity"):  # a 1 MB gzip body can hold gigabytes: we ask for identity
        await response.aclose()
        raise AnswerRefused(f"the answer came {encoding}-encoded, which was not asked for")
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await response.aclose()
        raise AnswerRefused(f"the answer announces {int(declared):,} bytes, over the {limit:,}-byte limit")
    library = sys.modules[type(response).__module__.split(".")[0]]
    response.stream = _capped_class(library.AsyncByteStream)(response.stream, limit)


def refused(exc: BaseException) -> AnswerRefused | None:
    """The AnswerRefused behind an exception, however the SDK wrapped it."""
    seen = 0
    while exc is not None and seen < 8:
        if isinstance(exc, AnswerRefused):
            return exc
        exc = exc.__cause__ or exc.__context__
        seen += 1
    return None
