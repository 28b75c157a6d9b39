"""A run's progress as plain lines, for output that is not a terminal (a CI log, `2> run.log`).

Rich's bars draw nothing until the end when stderr is not a terminal, so a 25-minute ablation showed only its plan
(issue 24). Here each phase says one line when it starts, and every PROMPTSLIM_PROGRESS_EVERY seconds (default 30)
a line says where it is: cases done of the phase's total, calls, cache hits, $, elapsed time and the phase's ETA at
its rate so far. Part of the CLI's terminal (promptslim/console.py): nothing below the CLI prints.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

from promptslim.numfmt import duration

DEFAULT_EVERY = 30.0


def period() -> float:
    """Seconds between status lines: PROMPTSLIM_PROGRESS_EVERY, else 30 (a bad value is the default, not a crash)."""
    try:
        value = float(os.environ.get("PROMPTSLIM_PROGRESS_EVERY", DEFAULT_EVERY))
    except ValueError:
        return DEFAULT_EVERY
    return value if value > 0 else DEFAULT_EVERY


class LogProgress:
    """Phase lines and a status line every `every` seconds, written by a timer thread while the run's loop works."""

    def __init__(self, write: Any, every: float | None = None) -> None:
        self.write = write  # one line of text -> stderr
        self.every = period() if every is None else every
        self.lock = threading.Lock()
        self.started = time.monotonic()
        self.phase: str | None = None
        self.total = self.done = 0
        self.phase_started = self.started
        self.stats = "calls 0, cached 0, $0.0000"
        self.batch: str | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def begin(self, name: str, total: int) -> None:
        with self.lock:
            self.phase, self.total, self.done, self.phase_started = name, total, 0, time.monotonic()
        self.write(f"progress: {name} — {total} case(s) to grade · {self.stats} · {self._elapsed()} elapsed")
        if self.thread is None:
            self.thread = threading.Thread(target=self._tick, name="promptslim-progress", daemon=True)
            self.thread.start()

    def case_done(self) -> None:
        with self.lock:
            self.done += 1

    def spent(self, calls: int, cache_hits: int, usd: float) -> None:
        self.stats = f"calls {calls}, cached {cache_hits}, ${usd:.4f}"

    def batch_status(self, text: str) -> None:
        """A batch's status, said when it changes (a batch is polled every few seconds for hours)."""
        if text != self.batch:
            self.batch = text
            self.write(f"progress: batch {text}")

    def status(self) -> str:
        """Where the run is: the phase's cases done of its total, spend, elapsed time, the phase's ETA."""
        with self.lock:
            name, total, done, since = self.phase, self.total, self.done, self.phase_started
        rate = (time.monotonic() - since) / done if done else None
        eta = "ETA unknown until a case is done" if rate is None else f"phase ETA {duration(rate * (total - done))}"
        return f"progress: {name} {done}/{total} cases · {self.stats} · {self._elapsed()} elapsed · {eta}"

    def _elapsed(self) -> str:
        return duration(time.monotonic() - self.started)

    def _tick(self) -> None:
        while not self.stop.wait(self.every):
            self.write(self.status())

    def close(self) -> None:
        """Stop the timer and say where the run ended."""
        self.stop.set()
        if self.thread is not None:
            self.thread.join(timeout=5)
            self.write(f"progress: finished after {self._elapsed()} · {self.stats}")
