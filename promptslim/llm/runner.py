"""The runner every model call goes through: cache, in-flight dedup, concurrency cap, retries, ledger, budget."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from typing import Awaitable, Callable, Iterable, TypeVar

from promptslim.errors import BudgetStop, EndpointError, Interrupted, PromptslimError
from promptslim.llm.base import Backend, Completion, Message, Params, cache_key
from promptslim.llm.limiter import AdaptiveLimit
from promptslim.llm.retry import FormatRefused, RetryPolicy, decide, fault_kind, refuses_format
from promptslim.llm.store import Store
from promptslim.cost.prices import Price, usd_text

T = TypeVar("T")


@dataclass
class RoleTotals:
    """Spend and traffic of one role (target or judge) in this run."""

    calls: int = 0  # real API calls
    cache_hits: int = 0
    usd: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    retries: int = 0  # failed attempts that were asked again
    faults: dict[str, int] = field(default_factory=dict)  # fault kind -> count (timeout, rate_limit, ...)
    truncated: int = 0  # real answers that stopped at max_tokens (finish_reason: length)

    def to_dict(self) -> dict:
        return {"calls": self.calls, "cache_hits": self.cache_hits, "usd": self.usd, "retries": self.retries,
                "timeouts": self.faults.get("timeout", 0), "rate_limited": self.faults.get("rate_limit", 0),
                "server_errors": self.faults.get("server_error", 0),
                "other_errors": self.faults.get("connection", 0) + self.faults.get("other", 0)}


def candidate_role(model: str) -> str:
    """The runner role a candidate model's calls go through (its own endpoint, billed at its own price)."""
    return f"model:{model}"


@dataclass
class Role:
    """A backend plus the price its usage is billed at."""

    backend: Backend
    price: Price
    limiter: AdaptiveLimit | None = None


@dataclass
class CallEvent:
    role: str
    from_cache: bool
    usd: float


@dataclass
class Runner:
    """Shared by eval, judge and ablation code so every call is cached, capped, retried, priced and budgeted."""

    roles: dict[str, Role]
    store: Store | None
    budget_usd: float | None = None
    concurrency: int = 8
    retry: RetryPolicy = field(default_factory=RetryPolicy.from_env)
    use_cache: bool = True
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])
    totals: dict[str, RoleTotals] = field(default_factory=dict)
    listeners: list[Callable[[CallEvent], None]] = field(default_factory=list)
    # seconds that answers already in flight get to arrive (and be cached) after SIGINT/SIGTERM
    grace: float = field(default_factory=lambda: float(os.environ.get("PROMPTSLIM_INTERRUPT_GRACE", "5")))

    def __post_init__(self) -> None:
        self._inflight: dict[str, asyncio.Future[Completion]] = {}
        self._stop: PromptslimError | None = None
        for name, role in self.roles.items():
            cap = role.backend.concurrency or self.concurrency
            role.limiter = AdaptiveLimit(cap)
            self.totals.setdefault(name, RoleTotals())

    @property
    def spent(self) -> float:
        return sum(t.usd for t in self.totals.values())

    @property
    def api_calls(self) -> int:
        return sum(t.calls for t in self.totals.values())

    @property
    def cache_hits(self) -> int:
        return sum(t.cache_hits for t in self.totals.values())

    def _emit(self, event: CallEvent) -> None:
        for listener in self.listeners:
            listener(event)

    async def complete(self, role: str, messages: list[Message], params: Params) -> Completion:
        """One answer: from the cache, from an identical call already in flight, or from the endpoint."""
        if role not in self.roles:
            raise KeyError(f"no backend configured for role '{role}'")
        target = self.roles[role]
        key = cache_key(target.backend.endpoint, messages, params)
        if self.use_cache and self.store is not None:
            hit = self.store.get(key)
            if hit is not None:
                self._account(role, params.model, hit, 0.0)
                return hit
        if key in self._inflight:
            shared = await asyncio.shield(self._inflight[key])
            done = Completion(**{**shared.__dict__, "from_cache": True})
            self._account(role, params.model, done, 0.0)
            return done
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            completion, timing = await self._call(role, target, messages, params)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        finally:
            self._inflight.pop(key, None)
        if not completion.usage_reported and (target.price.input > 0 or target.price.output > 0):
            # a priced call we cannot count would let the run go past its budget: the budget is reached sooner,
            # never later (a free, self-hosted or local model without usage is fine)
            fatal = EndpointError(f"{target.backend.endpoint} sent no usage for model '{params.model}', which is "
                                  f"priced (${target.price.input:g}/${target.price.output:g} per million tokens) — "
                                  "the run cannot keep its budget; nothing was cached")
            self._stop = self._stop or fatal
            future.set_exception(fatal)
            future.exception()
            raise fatal
        future.set_result(completion)
        if self.store is not None and completion.text.strip():
            # errors raise before this line and empty answers are not cached: a rerun asks again
            self.store.put(key, target.backend.endpoint, params.model, completion)
        usd = target.price.cost(completion.prompt_tokens, completion.completion_tokens, completion.cached_tokens)
        self._account(role, params.model, completion, usd, target.backend.endpoint, timing)
        if self.budget_usd is not None and self.spent >= self.budget_usd and self._stop is None:
            self._stop = BudgetStop(self._budget_message())
        return completion

    def concurrency_summary(self) -> dict[str, dict]:
        """Per role: the adaptive limit's start, lowest, end and every change (the run summary's timeline)."""
        return {name: role.limiter.summary() for name, role in self.roles.items() if role.limiter is not None}

    def _budget_message(self) -> str:
        return (f"stopped at the cost budget: spent ${self.spent:.4f} of {usd_text(self.budget_usd or 0.0)} — "
                "completed calls are "
                "cached; rerun (with a higher max_cost_usd or --max-cost) to resume where it stopped")

    async def _call(self, role: str, target: Role, messages: list[Message],
                    params: Params) -> tuple[Completion, tuple[float, int] | None]:
        """Ask until answered; the wait between attempts holds no slot, and timeouts or 429s shrink the limit.
        Returns the answer and, for the ledger's pace, its seconds and the calls of this role in flight when it
        started (None for a batched call: its wait is the batch's, not the endpoint's pace)."""
        limiter = target.limiter
        assert limiter is not None
        attempt = 0
        while True:
            if self._stop is not None:
                raise self._stop
            epoch = await limiter.acquire()
            outcome = "error"
            in_flight, started = limiter.in_flight, time.monotonic()
            try:
                if self._stop is not None:
                    raise self._stop
                completion = await target.backend.complete(messages, params)
                outcome = "ok"
                timed = getattr(target.backend, "timed", True)
                return completion, ((time.monotonic() - started, in_flight) if timed else None)
            except PromptslimError as exc:
                if isinstance(exc, EndpointError) and self._stop is None:
                    self._stop = exc  # e.g. a batch that expired: start no further call
                raise
            except FormatRefused:
                raise  # a backend that already knows the endpoint refused JSON mode (a batched judge call)
            except Exception as exc:
                outcome = fault_kind(exc)
                if params.response_format and refuses_format(exc):
                    raise FormatRefused(str(exc)[:200]) from None
                try:
                    wait = decide(exc, attempt, self.retry, endpoint=target.backend.endpoint, model=params.model,
                                  key_env=getattr(target.backend, "key_env", None),
                                  secret=getattr(target.backend, "secret", None))
                except EndpointError as fatal:
                    if role == "judge":  # the judge's own failure must not read as the model under test's
                        fatal = EndpointError(f"the judge ('{params.model}') failed: {fatal} — set judge_model to a "
                                              "model that endpoint serves, give the judge its own endpoint ([judge] "
                                              "base_url), or pass --judge-model none to grade with assertions only")
                    if self._stop is None:
                        self._stop = fatal
                    raise fatal from None
                totals = self.totals[role]
                totals.retries += 1
                totals.faults[outcome] = totals.faults.get(outcome, 0) + 1
                attempt += 1
            finally:
                await limiter.release(epoch, outcome)
            await asyncio.sleep(wait)

    def _account(self, role: str, model: str, completion: Completion, usd: float, endpoint: str | None = None,
                 timing: tuple[float, int] | None = None) -> None:
        totals = self.totals[role]
        if completion.from_cache:
            totals.cache_hits += 1
        else:
            totals.calls += 1
            totals.usd += usd
            totals.prompt_tokens += completion.prompt_tokens
            totals.completion_tokens += completion.completion_tokens
            totals.truncated += completion.finish_reason == "length"
        if self.store is not None:
            latency, in_flight = timing if timing is not None else (None, None)
            self.store.record_call(self.run_id, role, model, completion, usd, endpoint, latency, in_flight)
        self._emit(CallEvent(role, completion.from_cache, usd))

    async def gather(self, coros: Iterable[Awaitable[T]]) -> list[T]:
        """Run all; on a budget stop or fatal endpoint error let in-flight calls finish, then raise it."""
        results = await asyncio.gather(*coros, return_exceptions=True)
        for result in results:
            if isinstance(result, BaseException) and not isinstance(result, PromptslimError):
                raise result
        stopped = [r for r in results if isinstance(r, PromptslimError)]
        if stopped:
            raise self._stop or stopped[0]
        return list(results)  # type: ignore[arg-type]

    def _on_signal(self, name: str, task: asyncio.Task, interrupted: list[str]) -> None:
        """First signal: start no new call, let the ones in flight land within the grace period. Second: stop now."""
        if interrupted:
            task.cancel()
            return
        interrupted.append(name)
        if self._stop is None:
            self._stop = Interrupted(f"interrupted ({name}): waited up to {self.grace:g} s for {len(self._inflight)} "
                                     "answer(s) in flight and cached them; rerun the same command to resume")
        asyncio.get_running_loop().call_later(self.grace, task.cancel)

    def run(self, coro: Awaitable[T]) -> T:
        """Run an engine coroutine to the end: its own event loop, clients closed, the ledger told how it ended."""
        interrupted: list[str] = []
        signals = (signal.SIGINT, signal.SIGTERM)
        previous = {sig: signal.getsignal(sig) for sig in signals}

        async def main() -> T:
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            installed = []
            for sig in signals:
                try:
                    loop.add_signal_handler(sig, self._on_signal, sig.name, task, interrupted)
                    installed.append(sig)
                except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or not POSIX
                    pass
            try:
                return await coro
            finally:
                for sig in installed:
                    loop.remove_signal_handler(sig)
                await self.aclose()

        status = "failed"
        try:
            result = asyncio.run(main())
            status = "done"
            return result
        except BudgetStop:
            status = "interrupted" if interrupted else "budget"
            if interrupted:
                raise self._stop if isinstance(self._stop, Interrupted) else Interrupted(
                    f"interrupted ({interrupted[0]})") from None
            raise
        except (KeyboardInterrupt, Interrupted):
            status = "interrupted"
            raise
        except asyncio.CancelledError:
            if not interrupted:
                raise
            status = "interrupted"
            raise Interrupted(f"interrupted ({interrupted[0]}): answers still in flight after {self.grace:g} s were "
                              "dropped; completed calls are cached — rerun the same command to resume") from None
        finally:
            for sig, handler in previous.items():
                try:
                    if handler is not None and signal.getsignal(sig) != handler:
                        signal.signal(sig, handler)
                except (ValueError, OSError):
                    pass
            if self.store is not None:
                self.store.finish_run(self.run_id, status)

    async def aclose(self) -> None:
        for role in self.roles.values():
            close = getattr(role.backend, "aclose", None)
            if close is not None:
                await close()
