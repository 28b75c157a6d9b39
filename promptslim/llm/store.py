"""SQLite state in .promptslim/cache.sqlite: the response cache and the spend ledger, schema by migration."""

from __future__ import annotations

import sqlite3
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from promptslim.llm.base import Completion


def _m001_responses(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE responses (
        key TEXT PRIMARY KEY, endpoint TEXT NOT NULL, model TEXT NOT NULL,
        completion TEXT NOT NULL, created REAL NOT NULL)""")


def _m002_ledger(db: sqlite3.Connection) -> None:
    db.execute("""CREATE TABLE runs (
        run_id TEXT PRIMARY KEY, command TEXT NOT NULL, started REAL NOT NULL,
        finished REAL, status TEXT NOT NULL DEFAULT 'running')""")
    db.execute("""CREATE TABLE calls (
        id INTEGER PRIMARY KEY AUTOINCREMENT, run_id TEXT NOT NULL, role TEXT NOT NULL, model TEXT NOT NULL,
        prompt_tokens INTEGER NOT NULL, cached_tokens INTEGER NOT NULL, completion_tokens INTEGER NOT NULL,
        usd REAL NOT NULL, cache_hit INTEGER NOT NULL, created REAL NOT NULL)""")
    db.execute("CREATE INDEX calls_run ON calls(run_id)")


def _m003_batches(db: sqlite3.Connection) -> None:
    """Batch API jobs and the requests in each, so a killed run finds its batch again instead of paying twice."""
    db.execute("""CREATE TABLE batches (
        batch_id TEXT PRIMARY KEY, endpoint TEXT NOT NULL, role TEXT NOT NULL, model TEXT NOT NULL,
        input_file_id TEXT NOT NULL, requests INTEGER NOT NULL, run_id TEXT, status TEXT NOT NULL DEFAULT 'submitted',
        created REAL NOT NULL, finished REAL)""")
    db.execute("""CREATE TABLE batch_requests (
        batch_id TEXT NOT NULL, custom_id TEXT NOT NULL, key TEXT NOT NULL, model TEXT NOT NULL,
        PRIMARY KEY (batch_id, custom_id))""")
    db.execute("CREATE INDEX batch_requests_custom_id ON batch_requests(custom_id)")


def _m004_call_timing(db: sqlite3.Connection) -> None:
    """Each real call's endpoint, seconds and the calls of its role in flight when it started, so a plan can say how
    long its calls will take at the pace earlier runs measured (issue 24: a plan said calls and $, never minutes)."""
    db.execute("ALTER TABLE calls ADD COLUMN endpoint TEXT")
    db.execute("ALTER TABLE calls ADD COLUMN latency REAL")
    db.execute("ALTER TABLE calls ADD COLUMN in_flight INTEGER")
    db.execute("CREATE INDEX calls_pace ON calls(endpoint, model)")


MIGRATIONS: list[Callable[[sqlite3.Connection], None]] = [_m001_responses, _m002_ledger, _m003_batches,
                                                          _m004_call_timing]
PACE_WINDOW = 200  # the latest timed calls a pace is the mean of: recent enough to follow a changed server


def migrate(db: sqlite3.Connection) -> list[int]:
    """Apply the numbered migrations not yet recorded in `migrations`; returns those applied."""
    db.execute("CREATE TABLE IF NOT EXISTS migrations (id INTEGER PRIMARY KEY, name TEXT NOT NULL, applied REAL)")
    applied = []
    for number, step in enumerate(MIGRATIONS, start=1):
        # each step under the write lock, re-checked inside it: two processes opening a fresh file
        # cannot both apply it, and a step that fails half-way leaves nothing behind
        db.execute("BEGIN IMMEDIATE")
        try:
            if db.execute("SELECT 1 FROM migrations WHERE id = ?", (number,)).fetchone():
                db.execute("COMMIT")
                continue
            step(db)
            db.execute("INSERT INTO migrations VALUES (?, ?, ?)", (number, step.__name__, time.time()))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        applied.append(number)
    return applied


@dataclass(frozen=True)
class Pace:
    """What one call to an endpoint and model took in earlier runs (the ledger): wall seconds per call at the
    concurrency those runs had (latency over the calls in flight beside it), and USD per call."""

    seconds: float | None  # None: no timed call yet (all answers cached, or calls from before the ledger timed them)
    usd: float
    calls: int


@dataclass(frozen=True)
class CacheStats:
    """What `promptslim cache stats` shows."""

    path: str
    entries: int
    size_bytes: int
    last_run: str | None
    last_run_calls: int
    last_run_hits: int

    @property
    def hit_rate(self) -> float | None:
        return self.last_run_hits / self.last_run_calls if self.last_run_calls else None


class Store:
    """One connection per process; WAL and a busy timeout make concurrent writers (parallel CI jobs) safe."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if str(path) != ":memory:":
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.db = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA busy_timeout = 30000")
        if str(path) != ":memory:":
            for attempt in range(50):  # switching to WAL ignores busy_timeout, so retry it ourselves
                try:
                    self.db.execute("PRAGMA journal_mode = WAL")
                    break
                except sqlite3.OperationalError:
                    if attempt == 49:
                        raise
                    time.sleep(0.1)
        self.db.execute("PRAGMA synchronous = NORMAL")
        migrate(self.db)

    def close(self) -> None:
        self.db.close()

    def get(self, key: str) -> Completion | None:
        row = self.db.execute("SELECT completion FROM responses WHERE key = ?", (key,)).fetchone()
        return Completion.from_json(row[0]) if row else None

    def put(self, key: str, endpoint: str, model: str, completion: Completion) -> None:
        self.db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
                        (key, endpoint, model, completion.to_json(), time.time()))

    def start_run(self, run_id: str, command: str) -> None:
        self.db.execute("INSERT OR REPLACE INTO runs (run_id, command, started) VALUES (?, ?, ?)",
                        (run_id, command, time.time()))

    def finish_run(self, run_id: str, status: str) -> None:
        self.db.execute("UPDATE runs SET finished = ?, status = ? WHERE run_id = ?", (time.time(), status, run_id))

    def record_call(self, run_id: str, role: str, model: str, completion: Completion, usd: float,
                    endpoint: str | None = None, latency: float | None = None, in_flight: int | None = None) -> None:
        self.db.execute(
            "INSERT INTO calls (run_id, role, model, prompt_tokens, cached_tokens, completion_tokens, usd, "
            "cache_hit, created, endpoint, latency, in_flight) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (run_id, role, model, completion.prompt_tokens, completion.cached_tokens, completion.completion_tokens,
             usd, int(completion.from_cache), time.time(), endpoint, latency, in_flight))

    def pace(self, endpoint: str, model: str) -> Pace | None:
        """The mean pace of the latest real calls to this endpoint and model, or None when there were none."""
        rows = self.db.execute(
            "SELECT latency, in_flight, usd FROM calls WHERE endpoint = ? AND model = ? AND cache_hit = 0 "
            "ORDER BY id DESC LIMIT ?", (endpoint, model, PACE_WINDOW)).fetchall()
        if not rows:
            return None
        timed = [latency / max(in_flight or 1, 1) for latency, in_flight, _ in rows if latency is not None]
        return Pace(sum(timed) / len(timed) if timed else None, sum(usd for _, _, usd in rows) / len(rows), len(rows))

    def record_batch(self, batch_id: str, endpoint: str, role: str, input_file_id: str, run_id: str | None,
                     requests: list[tuple[str, str, str]]) -> None:
        """A submitted batch and its (custom_id, cache key, model) rows, in one transaction."""
        models = sorted({model for _, _, model in requests})
        self.db.execute("BEGIN IMMEDIATE")
        try:
            self.db.execute("INSERT OR REPLACE INTO batches (batch_id, endpoint, role, model, input_file_id, requests, "
                            "run_id, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            (batch_id, endpoint, role, ",".join(models), input_file_id, len(requests), run_id,
                             time.time()))
            self.db.executemany("INSERT OR REPLACE INTO batch_requests VALUES (?, ?, ?, ?)",
                                [(batch_id, cid, key, model) for cid, key, model in requests])
            self.db.execute("COMMIT")
        except BaseException:
            self.db.execute("ROLLBACK")
            raise

    def open_batches(self, endpoint: str, custom_ids: list[str]) -> dict[str, set[str]]:
        """Batches not yet collected that hold any of these requests: batch id -> the custom_ids found in it.
        A request in two open batches (a resubmission after a lost record) goes to the newest."""
        found: dict[str, set[str]] = {}
        rows = self.db.execute(
            "SELECT r.custom_id, b.batch_id FROM batch_requests r JOIN batches b ON b.batch_id = r.batch_id "
            "WHERE b.status = 'submitted' AND b.endpoint = ? ORDER BY b.created", (endpoint,)).fetchall()
        wanted = set(custom_ids)
        newest = {cid: batch_id for cid, batch_id in rows if cid in wanted}
        for cid, batch_id in newest.items():
            found.setdefault(batch_id, set()).add(cid)
        return found

    def batch_keys(self, batch_id: str) -> dict[str, tuple[str, str]]:
        """custom_id -> (cache key, model) for every request of a batch."""
        rows = self.db.execute("SELECT custom_id, key, model FROM batch_requests WHERE batch_id = ?", (batch_id,))
        return {cid: (key, model) for cid, key, model in rows.fetchall()}

    def finish_batch(self, batch_id: str, status: str) -> None:
        """The batch's results are in the cache (or it ended without them): never attach to it again."""
        self.db.execute("UPDATE batches SET status = ?, finished = ? WHERE batch_id = ?", (status, time.time(), batch_id))

    def batches(self) -> list[dict]:
        """Every recorded batch, oldest first (tests and `cache stats` read it)."""
        cols = ("batch_id", "endpoint", "role", "model", "input_file_id", "requests", "run_id", "status")
        rows = self.db.execute(f"SELECT {', '.join(cols)} FROM batches ORDER BY created").fetchall()
        return [dict(zip(cols, row)) for row in rows]

    def clear(self) -> int:
        """Delete every cached response; the clear is a ledger row of its own, so `stats` no longer
        shows the hit rate of a run whose cache is gone."""
        count = self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        self.db.execute("DELETE FROM responses")
        run_id = uuid.uuid4().hex[:12]
        self.start_run(run_id, "cache clear")
        self.finish_run(run_id, "done")
        self.db.execute("VACUUM")
        return count

    def stats(self) -> CacheStats:
        entries = self.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0]
        size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file()) \
            if str(self.path) != ":memory:" else 0
        row = self.db.execute("SELECT run_id, command FROM runs ORDER BY started DESC LIMIT 1").fetchone()
        calls = hits = 0
        last = None
        if row:
            last = f"{row[1]} ({row[0]})"
            calls, hits = self.db.execute("SELECT COUNT(*), COALESCE(SUM(cache_hit), 0) FROM calls WHERE run_id = ?",
                                          (row[0],)).fetchone()
        return CacheStats(str(self.path), entries, size, last, calls, hits)
