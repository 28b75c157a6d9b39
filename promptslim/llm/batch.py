"""Eval calls through the OpenAI Batch API (--batch): half the price, answers within the provider's 24 h window.

A `BatchBackend` wraps an `OpenAIBackend` behind the same `complete()` seam, so the engines, the runner's cache,
in-flight dedup, ledger and budget work unchanged. `complete()` queues its request and awaits a future; when
the queue has stopped growing for `settle` seconds (every coroutine of a phase — all target calls of a variant
set, then all their judge calls — has queued and is waiting), the queue becomes one batch: uploaded with
/v1/files, created with /v1/batches, polled until it ends, its output and error files read back. Waiting on the
event loop instead of counting calls keeps the engines unaware of batching: no phase has to announce its size.

Every batch and its requests are recorded in the store before the first poll, so a killed run that is started
again attaches to the same batch instead of paying for the calls twice.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import time
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable

import openai

from promptslim.errors import EndpointError, InputError, PromptslimError
from promptslim.llm import guard
from promptslim.llm.base import Completion, Message, Params, cache_key
from promptslim.llm.openai_backend import OpenAIBackend, completion_from, request_body
from promptslim.llm.retry import EmptyAnswer, FormatRefused, RetryPolicy, decide, scrub
from promptslim.llm.store import Store
from promptslim.cost.prices import Price

MAX_REQUESTS = 50_000  # OpenAI's limit per batch
MAX_BYTES = 190 * 1024 * 1024  # under the 200 MB input file limit
FOLLOW_UPS = 2  # follow-up batches for requests that failed transiently
TERMINAL = ("completed", "failed", "expired", "cancelled")
BATCH_SHARE = 0.5  # the Batch API's discount where no batch price is known (OpenAI's, and most providers')
WINDOW = 24 * 3600  # the completion window asked for; a batch past it (plus the grace) is given up
BYTES_PER_SECOND = 1_000_000  # the slowest transfer an upload or a result file is given time for
_TRANSIENT = {408, 409, 425, 429}


@dataclass(frozen=True)
class BatchStatus:
    """One poll of one batch, for the progress bar: counts, time waited, and an ETA once requests finish."""

    batch_id: str
    role: str
    status: str
    total: int
    completed: int
    failed: int
    elapsed: float
    resumed: bool = False

    @property
    def eta(self) -> float | None:
        """Seconds left at the rate seen so far; None until the first request finished."""
        done = self.completed + self.failed
        if done <= 0 or self.total <= 0 or self.status in TERMINAL:
            return None
        return self.elapsed / done * (self.total - done)


@dataclass
class _Request:
    custom_id: str
    key: str
    model: str
    body: dict
    json_mode: bool
    futures: list[asyncio.Future] = field(default_factory=list)
    round: int = 0  # 0: first batch; 1..FOLLOW_UPS: follow-up batches after transient failures


class _Gone(Exception):
    """The provider no longer knows a recorded batch or its file (deleted, or past its retention)."""


@dataclass(frozen=True)
class _LineError:
    status: int | None
    message: str


def custom_id(key: str) -> str:
    """Deterministic from the cache key, so a rerun asks for exactly the same requests by the same names."""
    return "ps-" + key.split(":", 1)[-1]


def batch_price(price: Price) -> Price:
    """The price a batched call is billed at: the batch price from genai-prices or config, else 50% of list."""
    if price.batch_input is not None and price.batch_output is not None:
        cached = _genai_batch_cached(price.model) if price.kind == "genai-prices" else None
        cached = min(price.cached_input, price.batch_input) if cached is None else cached
        return replace(price, input=price.batch_input, cached_input=cached, output=price.batch_output,
                       source=f"{price.source}, batch price")
    return replace(price, input=price.input * BATCH_SHARE, cached_input=price.cached_input * BATCH_SHARE,
                   output=price.output * BATCH_SHARE,
                   source=f"{price.source}, batch at 50% of list (no batch price known for {price.model})")


def _genai_batch_cached(model: str) -> float | None:
    """genai-prices' batch price for cached input tokens (e.g. gpt-4.1-nano: $0.025, half the batch input)."""
    from genai_prices import Usage, calc_price

    provider, _, ref = model.rpartition("/")
    kwargs = {"provider_id": provider} if provider else {}
    try:
        result = calc_price(Usage(input_tokens=1000, cache_read_tokens=1000), ref,
                            price_context={"processing": "batch"}, **kwargs)
    except (LookupError, ValueError, KeyError):
        return None
    return float(result.input_price) * 1000


class BatchBackend:
    """A Backend whose calls go out as Batch API jobs; `list_price` is what the same calls cost online."""

    concurrency: int | None = MAX_REQUESTS  # the runner's online cap would split a phase into many batches
    timed = False  # a call's wait is its batch's: not the pace of the endpoint (the ledger's plan timing)

    def __init__(self, inner: OpenAIBackend, store: Store, role: str, list_price: Price, run_id: str | None = None,
                 settle: float | None = None, poll: float | None = None, retry: RetryPolicy | None = None) -> None:
        self.inner = inner
        self.endpoint = inner.endpoint
        self.key_env = inner.key_env
        self.secret = inner.secret
        self.store = store
        self.role = role
        self.list_price = list_price
        self.run_id = run_id
        self.settle = float(os.environ.get("PROMPTSLIM_BATCH_SETTLE", "0.5")) if settle is None else settle
        self.poll = float(os.environ.get("PROMPTSLIM_BATCH_POLL", "10")) if poll is None else poll
        # how long past its expiry (expires_at, else 24 h after we started following it) a batch may stay unfinished
        self.grace = float(os.environ.get("PROMPTSLIM_BATCH_GRACE", "3600"))
        self.retry = retry or RetryPolicy.from_env()
        self.listeners: list[Callable[[BatchStatus], None]] = []
        self.submitted: list[str] = []  # batch ids created by this run
        self.resumed: list[str] = []  # batch ids found in the store and attached to
        self._queue: dict[str, _Request] = {}
        self._flusher: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    async def complete(self, messages: list[Message], params: Params) -> Completion:
        key = cache_key(self.endpoint, messages, params)
        cid = custom_id(key)
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        request = self._queue.get(cid)
        if request is None:
            request = _Request(cid, key, params.model, request_body(messages, params), bool(params.response_format))
            self._enqueue(request)
        request.futures.append(future)
        return await future

    def _enqueue(self, request: _Request) -> None:
        self._queue[request.custom_id] = request
        if self._flusher is None or self._flusher.done():
            self._flusher = self._spawn(self._flush_when_settled())

    def _spawn(self, coro: Awaitable[Any]) -> asyncio.Task:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def _flush_when_settled(self) -> None:
        """Wait until the queue stops growing, then send it; repeat while requests keep arriving."""
        while self._queue:
            size = -1
            while len(self._queue) != size:
                size = len(self._queue)
                await asyncio.sleep(self.settle)
            requests, self._queue = list(self._queue.values()), {}
            self._spawn(self._dispatch(requests))

    async def _dispatch(self, requests: list[_Request]) -> None:
        """Attach to recorded batches that hold some of these requests; submit the rest as new batches."""
        jobs: list[Any] = []
        try:
            by_id = {r.custom_id: r for r in requests}
            for batch_id, ids in self.store.open_batches(self.endpoint, list(by_id)).items():
                mine = {cid: by_id.pop(cid) for cid in ids}
                self.resumed.append(batch_id)
                jobs.append(self._follow(batch_id, mine, resumed=True))
            for chunk in _chunks(list(by_id.values())):
                batch_id = await self._submit(chunk)
                jobs.append(self._follow(batch_id, {r.custom_id: r for r in chunk}, resumed=False))
            outcomes = await asyncio.gather(*jobs, return_exceptions=True)
            jobs = []
            for outcome in outcomes:
                if isinstance(outcome, BaseException):
                    raise outcome
        except asyncio.CancelledError:
            _fail(requests, None)
            raise
        except PromptslimError as exc:
            _fail(requests, exc)
        except Exception as exc:  # a bug or an SDK surprise: every waiter learns of it, none hangs
            _fail(requests, EndpointError(f"{self.endpoint}: batch failed: {type(exc).__name__}: "
                                          f"{scrub(str(exc), self.secret)[:200]}"))
        finally:
            for job in jobs:  # a later submission failed before these were followed (they stay recorded)
                job.close()

    async def _submit(self, requests: list[_Request]) -> str:
        lines = [json.dumps({"custom_id": r.custom_id, "method": "POST", "url": "/v1/chat/completions",
                             "body": r.body}, ensure_ascii=False, separators=(",", ":")) for r in requests]
        data = ("\n".join(lines) + "\n").encode("utf-8")
        client = self.inner.client
        upload = await self._api(lambda: client.files.create(file=("promptslim-batch.jsonl", data), purpose="batch"),
                                 "POST /v1/files", requests[0].model, seconds=len(data) / BYTES_PER_SECOND)
        batch = await self._api(lambda: client.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions",
                                                              completion_window="24h",
                                                              metadata={"created_by": "promptslim"}),
                                "POST /v1/batches", requests[0].model)
        # recorded before the first poll: from here on a killed run finds this batch again
        self.store.record_batch(batch.id, self.endpoint, self.role, upload.id, self.run_id,
                                [(r.custom_id, r.key, r.model) for r in requests])
        self.submitted.append(batch.id)
        return batch.id

    async def _follow(self, batch_id: str, requests: dict[str, _Request], resumed: bool) -> None:
        """Poll until the batch ends, cache every answer, hand each waiter its answer or its error; a batch the
        provider no longer knows is marked gone and its requests go into a new batch."""
        try:
            await self._poll_and_collect(batch_id, requests, resumed)
        except _Gone as gone:
            self.store.finish_batch(batch_id, "gone")
            if not resumed:  # a batch created a moment ago cannot be gone: do not resubmit in a loop
                raise EndpointError(f"{self.endpoint}: {gone} answered 404 for a batch this run created — "
                                    "rerun the same command") from None
            for request in requests.values():
                self._enqueue(request)

    async def _poll_and_collect(self, batch_id: str, requests: dict[str, _Request], resumed: bool) -> None:
        client = self.inner.client
        model = next(iter(requests.values())).model if requests else ""
        started = time.monotonic()
        give_up = time.time() + WINDOW + self.grace
        wait = self.poll
        while True:
            batch = await self._api(lambda: client.batches.retrieve(batch_id), f"GET /v1/batches/{batch_id}", model)
            counts = batch.request_counts
            self._emit(BatchStatus(batch_id, self.role, str(batch.status),
                                   _count(counts, "total", len(requests)), _count(counts, "completed", 0),
                                   _count(counts, "failed", 0), time.monotonic() - started, resumed))
            if batch.status in TERMINAL:
                break
            give_up = self._overdue(batch_id, batch, give_up)
            await asyncio.sleep(wait)
            wait = min(wait * 1.5, max(self.poll, 60.0))
        answers, errors = await self._collect(batch, model, requests, len(self.store.batch_keys(batch_id)))
        keys = self.store.batch_keys(batch_id)
        for cid, completion in answers.items():  # also answers no one here waits for (a resumed, larger batch)
            if cid in keys and completion.text.strip():
                key, line_model = keys[cid]
                self.store.put(key, self.endpoint, line_model, completion)
        self.store.finish_batch(batch_id, batch.status)
        retry: list[_Request] = []
        missing: list[_Request] = []
        for cid, request in requests.items():
            if cid in answers:
                _resolve(request, answers[cid])
                continue
            error = errors.get(cid)
            if batch.status != "completed":
                missing.append(request)
            elif error is None or error.status is None or error.status in _TRANSIENT or error.status >= 500:
                if request.round < FOLLOW_UPS:
                    retry.append(request)
                else:
                    _fail([request], EndpointError(
                        f"{self.endpoint}: a batched request for model '{request.model}' still failed after "
                        f"{FOLLOW_UPS} follow-up batches ({_describe(error)}) — rerun to resume (completed calls "
                        "are cached)"))
            elif request.json_mode and error.status in (400, 422):
                _fail([request], FormatRefused(error.message[:200]))
            else:
                _fail([request], EndpointError(
                    f"{self.endpoint} rejected a batched request for model '{request.model}' ({_describe(error)})"))
        if missing:
            reason = _batch_errors(batch)
            _fail(missing, EndpointError(
                f"batch {batch_id} {batch.status}{reason}: {len(answers)} of {len(keys) or len(requests)} requests "
                f"answered and cached, {len(missing)} not — rerun the same command to submit them again"))
        for request in retry:
            request.round += 1
            self._enqueue(request)

    def _overdue(self, batch_id: str, batch: Any, give_up: float) -> float:
        """The time to give up on an unfinished batch (its expires_at, if sane, never later than our own 24 h plus
        the grace); past it, the batch is abandoned (a rerun submits its requests again) and the run ends."""
        expires = getattr(batch, "expires_at", None)
        if _finite(expires):
            give_up = min(give_up, float(expires) + self.grace)
        if time.time() > give_up:
            self.store.finish_batch(batch_id, "abandoned")
            raise EndpointError(f"{self.endpoint}: batch {batch_id} is still {_shown(batch.status)} "
                                f"{(time.time() - give_up + self.grace) / 3600:,.1f} h past its expiry "
                                f"(expires_at + {self.grace:g} s grace) — given up; nothing of it was cached, rerun "
                                "the same command to submit it again")
        return give_up

    async def _collect(self, batch: Any, model: str, requests: dict[str, _Request],
                       lines: int) -> tuple[dict[str, Completion], dict[str, _LineError]]:
        """Read the output file (answers) and the error file (failed lines) of a finished batch; each file is capped
        at what its lines could weigh, each answer's usage checked against its own request."""
        answers: dict[str, Completion] = {}
        errors: dict[str, _LineError] = {}
        client = self.inner.client
        limits = {cid: guard.AnswerLimits.of(r.body) for cid, r in requests.items()}
        widest = max((lim.bytes for lim in limits.values()), default=guard.AnswerLimits.of({}).bytes)
        max_bytes = guard.BASE_BYTES + widest * max(lines, len(requests), 1)
        for file_id in (batch.output_file_id, batch.error_file_id):
            if not file_id:
                continue
            content = await self._api(lambda: client.files.content(file_id), f"GET /v1/files/{file_id}/content",
                                      model, max_bytes=max_bytes, seconds=max_bytes / BYTES_PER_SECOND)
            for line in content.text.splitlines():
                if not line.strip():
                    continue
                record = json.loads(line)
                cid = record.get("custom_id")
                response = record.get("response") or {}
                status = response.get("status_code")
                if status == 200:
                    try:
                        answers[cid] = completion_from(
                            openai.types.chat.ChatCompletion.model_validate(response.get("body") or {}),
                            limits.get(cid), f"{self.endpoint} (batch {batch.id})",
                            requests[cid].model if cid in requests else model)
                        continue
                    except (EmptyAnswer, ValueError) as exc:
                        errors[cid] = _LineError(None, f"unusable answer: {exc}"[:200])
                        continue
                errors[cid] = _LineError(status, _line_message(record, response))
        return answers, errors

    async def _api(self, call: Callable[[], Awaitable[Any]], what: str, model: str, max_bytes: int = guard.BASE_BYTES,
                   seconds: float = 0.0) -> Any:
        """One files/batches request, bounded and retried like any call; a 404 or 405 means no Batch API."""
        attempt = 0
        while True:
            try:
                return await self.inner.bounded(call, max_bytes, self.inner.timeout + seconds, model,
                                                what.split(" ", 1)[-1].removeprefix("/v1"))
            except PromptslimError:
                raise
            except (openai.NotFoundError, openai.APIStatusError) as exc:
                if isinstance(exc, openai.NotFoundError) or exc.status_code == 405:
                    if what.startswith("POST"):
                        raise InputError(f"{self.endpoint} has no Batch API ({what} answered {exc.status_code}) — "
                                         "--batch needs OpenAI's /v1/files and /v1/batches; run without --batch")
                    raise _Gone(what) from None
                wait = decide(exc, attempt, self.retry, endpoint=self.endpoint, model=model, key_env=self.key_env,
                              secret=self.secret)
            except Exception as exc:
                wait = decide(exc, attempt, self.retry, endpoint=self.endpoint, model=model, key_env=self.key_env,
                              secret=self.secret)
            attempt += 1
            await asyncio.sleep(wait)

    def _emit(self, status: BatchStatus) -> None:
        for listener in self.listeners:
            listener(status)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await self.inner.aclose()


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _count(counts: Any, name: str, default: int) -> int:
    """A request count from the provider's batch object, for the progress line only: garbage reads as the default."""
    value = getattr(counts, name, None) if counts is not None else None
    return int(value) if _finite(value) and 0 <= value < 10**9 else default


def _shown(status: Any) -> str:
    text = str(status)
    return text if len(text) <= 40 else text[:40] + "…"


def _chunks(requests: list[_Request]) -> list[list[_Request]]:
    """Split at the provider's limits: one model per batch, 50,000 requests and 200 MB per input file."""
    chunks: list[list[_Request]] = [[]]
    size = 0
    for request in sorted(requests, key=lambda r: r.model):
        line = len(json.dumps(request.body)) + 200
        if chunks[-1] and (len(chunks[-1]) >= MAX_REQUESTS or size + line > MAX_BYTES
                           or chunks[-1][-1].model != request.model):
            chunks.append([])
            size = 0
        chunks[-1].append(request)
        size += line
    return [c for c in chunks if c]


def _resolve(request: _Request, completion: Completion) -> None:
    for future in request.futures:
        if not future.done():
            future.set_result(completion)


def _fail(requests: list[_Request], exc: BaseException | None) -> None:
    """Hand every waiter the error (None: cancel them), marked as retrieved so a waiter gone is no warning."""
    for request in requests:
        for future in request.futures:
            if future.done():
                continue
            if exc is None:
                future.cancel()
            else:
                future.set_exception(exc)
                future.exception()


def _line_message(record: dict, response: dict) -> str:
    error = record.get("error") or (response.get("body") or {}).get("error") or {}
    if isinstance(error, dict):
        return str(error.get("message") or error.get("code") or "no message")[:200]
    return str(error)[:200]


def _describe(error: _LineError | None) -> str:
    if error is None:
        return "no line in the output or error file"
    return f"{error.status}: {error.message}" if error.status is not None else error.message


def _batch_errors(batch: Any) -> str:
    data = getattr(getattr(batch, "errors", None), "data", None) or []
    messages = [f"{e.code}: {e.message}" if getattr(e, "code", None) else str(e.message) for e in data[:2]]
    return f" ({'; '.join(messages)})" if messages else ""


def batched(roles: dict[str, Any], store: Store, run_id: str | None = None) -> None:
    """Put every role's backend behind a BatchBackend and bill it at the batch price; the embedded model has none."""
    for name, role in roles.items():
        if not isinstance(role.backend, OpenAIBackend):
            raise InputError(f"--batch: the {name} model runs in-process (the embedded local model), which has no "
                             "Batch API — run without --batch, or use an API model")
    for name, role in roles.items():
        role.backend = BatchBackend(role.backend, store, name, role.price, run_id)
        role.price = batch_price(role.price)


def batch_backends(runner: Any) -> list[BatchBackend]:
    return [r.backend for r in runner.roles.values() if isinstance(r.backend, BatchBackend)]


def list_price(role: Any) -> Price:
    """What a role's calls would cost online (the plan's comparison for --batch)."""
    return role.backend.list_price if isinstance(role.backend, BatchBackend) else role.price
