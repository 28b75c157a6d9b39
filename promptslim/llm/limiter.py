"""Concurrency that adapts to the endpoint: AIMD, as promptfoo's scheduler and TCP do.

A single-slot server (llama.cpp, a small vLLM) answers one request at a time; eight requests in
flight then only queue, and the last one can spend most of its timeout waiting. So a timeout or a
429 halves the limit, and a full window of successes (as many as the limit) adds one back, up to
the configured ceiling. Requests that started before a halving cannot halve it again: one burst of
timeouts is one signal, not eight.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

OVERLOAD = ("timeout", "rate_limit")  # the faults that mean "too many at once"; others do not move the limit
MAX_TIMELINE = 200  # changes kept; a long flapping run keeps its first ones and the count of the rest


@dataclass
class AdaptiveLimit:
    """An async semaphore whose size moves between 1 and `ceiling` (additive increase, multiplicative decrease)."""

    ceiling: int
    floor: int = 1
    limit: int = 0
    in_flight: int = 0
    timeline: list[dict] = field(default_factory=list)
    dropped: int = 0  # timeline entries not kept (beyond MAX_TIMELINE)
    lowest: int = 0
    _successes: int = 0
    _epoch: int = 0
    _started: float | None = None
    _cond: asyncio.Condition | None = None

    def __post_init__(self) -> None:
        self.ceiling = max(self.ceiling, self.floor)
        self.limit = self.ceiling
        self.lowest = self.limit

    def _condition(self) -> asyncio.Condition:
        if self._cond is None:  # bound to the loop that first waits (each run has its own loop)
            self._cond = asyncio.Condition()
        return self._cond

    def _now(self) -> float:
        if self._started is None:
            self._started = time.monotonic()
        return round(time.monotonic() - self._started, 2)

    async def acquire(self) -> int:
        """Wait for a slot; returns the epoch the request started in (pass it back to `release`)."""
        self._now()
        cond = self._condition()
        async with cond:
            await cond.wait_for(lambda: self.in_flight < self.limit)
            self.in_flight += 1
            return self._epoch

    def _record(self, why: str) -> None:
        self.lowest = min(self.lowest, self.limit)
        if len(self.timeline) < MAX_TIMELINE:
            self.timeline.append({"t": self._now(), "limit": self.limit, "why": why})
        else:
            self.dropped += 1

    async def release(self, epoch: int, outcome: str) -> None:
        """outcome: 'ok', one of OVERLOAD, or anything else (an error that says nothing about load)."""
        cond = self._condition()
        async with cond:
            self.in_flight -= 1
            if outcome == "ok":
                self._successes += 1
                if self._successes >= self.limit and self.limit < self.ceiling:
                    self.limit += 1
                    self._successes = 0
                    self._record("recovered")
            elif outcome in OVERLOAD:
                self._successes = 0
                if epoch == self._epoch and self.limit > self.floor:
                    self.limit = max(self.floor, self.limit // 2)
                    self._epoch += 1
                    self._record(outcome)
            cond.notify_all()

    def summary(self) -> dict:
        """What the run summary shows: where it started, the lowest it went, where it ended, every change."""
        return {"start": self.ceiling, "lowest": self.lowest, "end": self.limit, "changes": list(self.timeline),
                "changes_not_shown": self.dropped}
