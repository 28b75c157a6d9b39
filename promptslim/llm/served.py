"""Which model an OpenAI-compatible endpoint serves (GET /v1/models), asked once before a run on a custom base URL.

Why: llama.cpp's server answers whatever model name it is sent, so a run without --model against it went out as
the config's 'gpt-4o-mini' and said "on gpt-4o-mini", counted with gpt-4o-mini's tokenizer and priced the local
model at gpt-4o-mini's list price (issue 24). The endpoint knows what it serves: use that, or refuse with one
line naming --model when it serves several and not the one configured.

The list comes from the same endpoint as the answers, so it is read as they are (llm/guard.py): a total deadline,
a byte cap, no compressed body (a dripped or 100 MB list must not stall or flood a run before its first call).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import openai

from promptslim.errors import EndpointError, InputError
from promptslim.llm.openai_backend import OpenAIBackend
from promptslim.redact import redact_url

LOOKUP_TIMEOUT = 10.0  # seconds: the list is small, and a run must not hang on a server without it
LIST_BYTES = 1 << 20  # a list of model ids is a few kB; llama.cpp's is one entry
SHOWN = 5  # served models named in a refusal


def served_models(base_url: str, api_key: str | None, timeout: float = LOOKUP_TIMEOUT) -> list[str] | None:
    """The model ids the endpoint lists, or None when it cannot say (no such route, refused, unreachable, too slow or
    too big: the run's first call reports a real failure with its own message)."""
    return asyncio.run(_listed(base_url, api_key, timeout))


async def _listed(base_url: str, api_key: str | None, timeout: float) -> list[str] | None:
    backend = OpenAIBackend(base_url, api_key, timeout)
    try:
        page = await backend.bounded(backend.client.models.list, LIST_BYTES, timeout, "?", "/models")
        return [m.id for m in page.data if isinstance(getattr(m, "id", None), str)]
    except (openai.OpenAIError, EndpointError, ValueError, TypeError, AttributeError):
        return None
    finally:
        await backend.aclose()


@dataclass(frozen=True)
class Choice:
    """The model a run sends its calls to, and the line that says why when it is not the configured one."""

    model: str
    notice: str | None = None


def choose(configured: str, where: str, served: list[str] | None, base_url: str) -> Choice:
    """The configured model when the endpoint serves it (or cannot say), the one model it serves otherwise;
    several served and not the configured one is bad input, named in one line.

    Args:
        configured: the model the config (or the default) names.
        where: where that name came from, for the message ("model in promptslim.toml", "the default").
        served: what the endpoint lists (None or []: it cannot say).
        base_url: the endpoint, redacted before it is shown.
    """
    if not served or configured in served:
        return Choice(configured)
    url = redact_url(base_url)
    if len(served) == 1:
        return Choice(served[0], f"{url} serves '{served[0]}', not '{configured}' ({where}): running as "
                                 f"'{served[0]}' — its tokenizer and price, not {configured}'s; pass --model to choose")
    names = ", ".join(f"'{m}'" for m in served[:SHOWN]) + (f" and {len(served) - SHOWN} more" if len(served) > SHOWN
                                                           else "")
    raise InputError(f"{url} serves {len(served)} models but not '{configured}' ({where}) — pass --model with one of "
                     f"them: {names}")
