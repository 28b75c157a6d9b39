"""Values that cross the model seam."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Protocol

Message = dict[str, str]


@dataclass(frozen=True)
class Params:
    """Everything besides the messages that can change an answer (all of it is in the cache key)."""

    model: str
    temperature: float = 0.0
    max_tokens: int | None = None
    response_format: str | None = None  # canonical JSON of the response_format object, if any
    seed: int | None = None
    sample: int = 0  # repeat index: repeat 2 of a case must not reuse repeat 1's answer
    attempt: int = 0  # re-asks after an unusable answer (e.g. a judge's broken JSON)


@dataclass(frozen=True)
class Completion:
    """One answer with the usage the API reported (not estimated)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int = 0
    finish_reason: str | None = None
    from_cache: bool = False
    usage_reported: bool = True  # False: the endpoint sent no usage (a priced call then cannot be budgeted)

    def to_json(self) -> str:
        data = asdict(self)
        data.pop("from_cache")
        return json.dumps(data, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "Completion":
        return cls(**json.loads(text), from_cache=True)


class Backend(Protocol):
    """An OpenAI-compatible endpoint or the embedded model; `endpoint` names it in the cache key."""

    endpoint: str
    concurrency: int | None

    async def complete(self, messages: list[Message], params: Params) -> Completion: ...


def cache_key(endpoint: str, messages: list[Message], params: Params) -> str:
    """v1:sha256 of exactly the fields that change the answer; timeouts and concurrency stay out."""
    payload = {"endpoint": endpoint.rstrip("/"), "messages": messages, **asdict(params)}
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "v1:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()
