"""The one place that decides: retry, wait for Retry-After, or give up with a message that names the fix."""

from __future__ import annotations

import json
import os
import random
import re
from dataclasses import dataclass

import openai

from promptslim.errors import EndpointError

_USERINFO = re.compile(r"//[^/\s@]+@")
_KEYISH = re.compile(r"(sk-|key-|Bearer\s+)[A-Za-z0-9_\-*.]{4,}")


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; tests set base to 0 via PROMPTSLIM_RETRY_BASE."""

    max_retries: int = 6
    base: float = 0.5
    cap: float = 30.0

    @classmethod
    def from_env(cls, max_retries: int = 6) -> "RetryPolicy":
        base = float(os.environ.get("PROMPTSLIM_RETRY_BASE", "0.5"))
        return cls(max_retries=max_retries, base=base)

    def backoff(self, attempt: int) -> float:
        return random.uniform(0, min(self.cap, self.base * 2 ** attempt)) if self.base > 0 else 0.0


def scrub(text: str, secret: str | None = None) -> str:
    """Remove anything that looks like a key (and the key itself) from text meant for output."""
    if secret:
        text = text.replace(secret, "***")
    text = _USERINFO.sub("//***@", text)  # credentials in a URL (http://user:pass@host)
    return _KEYISH.sub(lambda m: m.group(1) + "***", text)


def _server_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])
    return str(exc.message)


def retry_after(exc: BaseException) -> float | None:
    response = getattr(exc, "response", None)
    headers = getattr(response, "headers", None)
    if not headers:
        return None
    value = headers.get("retry-after-ms")
    if value:
        try:
            return float(value) / 1000
        except ValueError:
            pass
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def decide(exc: BaseException, attempt: int, policy: RetryPolicy, *, endpoint: str, model: str,
           key_env: str | None, secret: str | None = None) -> float:
    """Seconds to wait before retrying `exc`, or raise EndpointError when retrying cannot help."""
    if isinstance(exc, openai.AuthenticationError):
        if not secret and key_env is None:  # a [judge]/[models] host with no api_key_env: no key was sent
            raise EndpointError(f"{endpoint} asks for an API key (401) and none is sent to it — name its variable "
                                "with api_key_env in its [judge] or [models.\"…\"] table") from None
        raise EndpointError(f"{endpoint} rejected the API key (401) — check ${key_env or 'OPENAI_API_KEY'}") from None
    if isinstance(exc, openai.PermissionDeniedError):
        raise EndpointError(f"{endpoint} refused access to model '{model}' (403) — the key lacks permission: "
                            f"{scrub(_server_message(exc), secret)}") from None
    if isinstance(exc, openai.NotFoundError):
        raise EndpointError(f"{endpoint} answered 404 for model '{model}' — check the model name and the base URL "
                            "(OPENAI_BASE_URL usually ends in /v1)") from None
    if isinstance(exc, openai.BadRequestError) or (isinstance(exc, openai.APIStatusError)
                                                    and exc.status_code in (400, 422)):
        raise EndpointError(f"{endpoint} rejected the request for model '{model}' ({exc.status_code}): "
                            f"{scrub(_server_message(exc), secret)}") from None
    transient = isinstance(exc, (openai.RateLimitError, openai.InternalServerError, openai.APIConnectionError,
                                 openai.APIResponseValidationError, json.JSONDecodeError, EmptyAnswer))
    transient = transient or (isinstance(exc, openai.APIStatusError) and exc.status_code in (408, 409, 425))
    if not transient:
        raise EndpointError(f"{endpoint}: unexpected error from model '{model}': "
                            f"{type(exc).__name__}: {scrub(str(exc), secret)}") from None
    if attempt >= policy.max_retries:
        raise EndpointError(f"{endpoint} still failing after {policy.max_retries} retries for model '{model}': "
                            f"{type(exc).__name__}: {scrub(str(exc), secret)[:200]} — rerun to resume "
                            "(completed calls are cached)") from None
    wait = retry_after(exc)
    return min(wait, 120.0) if wait is not None else policy.backoff(attempt)


class EmptyAnswer(Exception):
    """A 200 response without usable choices; retried like a transient fault."""


class FormatRefused(Exception):
    """The endpoint rejected a request that asked for a response_format (JSON mode): the caller asks without it."""


def fault_kind(exc: BaseException) -> str:
    """What a failed attempt was, for the run summary and the concurrency limiter."""
    if isinstance(exc, openai.APITimeoutError):
        return "timeout"
    if isinstance(exc, openai.RateLimitError) or (isinstance(exc, openai.APIStatusError) and exc.status_code == 429):
        return "rate_limit"
    if isinstance(exc, openai.APIStatusError) and exc.status_code >= 500:
        return "server_error"
    if isinstance(exc, openai.APIConnectionError):
        return "connection"
    return "other"


def refuses_format(exc: BaseException) -> bool:
    """A 400/422 to a request with a response_format: read as "this endpoint has no JSON mode"."""
    return isinstance(exc, openai.APIStatusError) and exc.status_code in (400, 422)
