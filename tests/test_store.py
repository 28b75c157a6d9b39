"""The SQLite cache and ledger: schema by numbered migration, WAL, concurrent writers, stats and clear."""
from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from promptslim.llm import store as store_module
from promptslim.llm.base import Completion
from promptslim.llm.store import MIGRATIONS, Store, migrate

EXPECTED_COLUMNS = {
    "responses": ["key", "endpoint", "model", "completion", "created"],
    "runs": ["run_id", "command", "started", "finished", "status"],
    "calls": ["id", "run_id", "role", "model", "prompt_tokens", "cached_tokens", "completion_tokens", "usd",
              "cache_hit", "created", "endpoint", "latency", "in_flight"],
    "migrations": ["id", "name", "applied"],
    "batches": ["batch_id", "endpoint", "role", "model", "input_file_id", "requests", "run_id", "status", "created",
                "finished"],
    "batch_requests": ["batch_id", "custom_id", "key", "model"],
}


def tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")
    return {name for (name,) in rows}


def columns(db: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in db.execute(f"PRAGMA table_info({table})")]


def answer(text: str = "hello", prompt: int = 10, completion: int = 2, cached: int = 0) -> Completion:
    return Completion(text, prompt, completion, cached, "stop")


# -- migrations ---------------------------------------------------------------------------------------------------


def test_migrate_creates_the_schema_on_an_empty_database():
    db = sqlite3.connect(":memory:", isolation_level=None)

    applied = migrate(db)

    assert applied == [1, 2, 3, 4]
    assert tables(db) == set(EXPECTED_COLUMNS)
    for table, expected in EXPECTED_COLUMNS.items():
        assert columns(db, table) == expected, table
    primary = {row[1] for row in db.execute("PRAGMA table_info(responses)") if row[5]}
    assert primary == {"key"}
    recorded = db.execute("SELECT id, name FROM migrations ORDER BY id").fetchall()
    assert recorded == [(1, "_m001_responses"), (2, "_m002_ledger"), (3, "_m003_batches"), (4, "_m004_call_timing")]
    assert [name for _, name in recorded] == [step.__name__ for step in MIGRATIONS]
    assert {"calls_run", "calls_pace"} <= {row[1] for row in db.execute("PRAGMA index_list(calls)")}
    assert "batch_requests_custom_id" in {row[1] for row in db.execute("PRAGMA index_list(batch_requests)")}


def test_migrate_is_idempotent():
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db)

    assert migrate(db) == []
    assert db.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)


def test_a_new_migration_is_applied_once_on_top_of_an_existing_database(monkeypatch):
    db = sqlite3.connect(":memory:", isolation_level=None)
    migrate(db)

    def _m005_notes(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE runs ADD COLUMN notes TEXT")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, _m005_notes])
    assert migrate(db) == [len(MIGRATIONS) + 1]
    assert migrate(db) == []
    assert "notes" in columns(db, "runs")


def test_a_failed_migration_leaves_nothing_half_done(monkeypatch):
    db = sqlite3.connect(":memory:", isolation_level=None)  # as Store opens it
    migrate(db)
    crash = True

    def _m005_two_tables(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE notes (run_id TEXT, text TEXT)")
        if crash:  # e.g. disk full, or Ctrl-C between the statements
            raise sqlite3.OperationalError("disk I/O error")
        conn.execute("CREATE TABLE tags (run_id TEXT, tag TEXT)")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*MIGRATIONS, _m005_two_tables])
    with pytest.raises(sqlite3.OperationalError):
        migrate(db)
    assert "notes" not in tables(db)

    crash = False
    assert migrate(db) == [len(MIGRATIONS) + 1]


def test_two_stores_opening_a_fresh_file_at_once_both_succeed(tmp_path, monkeypatch):
    path = tmp_path / "cache.sqlite"
    first_step = MIGRATIONS[0]
    other: dict[str, object] = {}

    def open_other() -> None:
        try:
            other["store"] = Store(path)
        except Exception as exc:  # pragma: no cover - reported below
            other["error"] = exc

    def step_with_a_rival(conn: sqlite3.Connection) -> None:
        # a parallel CI job opens the same fresh file while this one is between "what is applied?" and applying
        if "thread" not in other:
            other["thread"] = threading.Thread(target=open_other)
            other["thread"].start()
            other["thread"].join(timeout=1.0)  # a correct migrate holds a lock here, so the rival waits for us
        first_step(conn)

    step_with_a_rival.__name__ = first_step.__name__
    monkeypatch.setattr(store_module, "MIGRATIONS", [step_with_a_rival, *MIGRATIONS[1:]])
    try:
        mine = Store(path)
    finally:
        if "thread" in other:
            other["thread"].join(timeout=40)
    assert "error" not in other
    assert tables(mine.db) == tables(other["store"].db) == set(EXPECTED_COLUMNS)


# -- the file database --------------------------------------------------------------------------------------------


def test_a_file_database_uses_wal(tmp_path):
    path = tmp_path / "state" / "cache.sqlite"
    store = Store(path)

    assert path.exists()
    assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    other = sqlite3.connect(str(path))
    assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"  # persistent in the file


def test_reopening_a_file_applies_no_migrations_twice(tmp_path):
    path = tmp_path / "cache.sqlite"
    Store(path).put("k", "http://x/v1", "m", answer())
    reopened = Store(path)

    assert reopened.db.execute("SELECT COUNT(*) FROM migrations").fetchone()[0] == len(MIGRATIONS)
    assert reopened.get("k") is not None


def test_put_and_get_round_trip_a_completion(tmp_path):
    store = Store(tmp_path / "cache.sqlite")
    original = answer("the text", prompt=12, completion=3, cached=5)

    store.put("v1:abc", "http://x/v1", "m", original)
    back = store.get("v1:abc")

    assert back == Completion("the text", 12, 3, 5, "stop", from_cache=True)
    assert store.get("v1:missing") is None


def test_two_stores_on_one_file_write_concurrently(tmp_path):
    path = tmp_path / "cache.sqlite"
    stores = [Store(path), Store(path)]  # two processes' worth of connections (parallel CI jobs)
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def write(index: int, store: Store) -> None:
        try:
            start.wait()
            for i in range(150):
                store.put(f"v1:{index}-{i}", "http://x/v1", "m", answer(f"answer {index} {i}"))
                store.record_call(f"run-{index}", "target", "m", answer(), 0.001)
        except BaseException as exc:  # pragma: no cover - asserted below
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n, s)) for n, s in enumerate(stores)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    check = Store(path)
    assert check.stats().entries == 300
    assert check.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 300
    assert check.get("v1:1-149").text == "answer 1 149"


# -- stats and clear ----------------------------------------------------------------------------------------------


def test_stats_of_an_empty_store(tmp_path):
    stats = Store(tmp_path / "cache.sqlite").stats()

    assert stats.entries == 0
    assert stats.last_run is None
    assert stats.last_run_calls == 0 and stats.last_run_hits == 0
    assert stats.hit_rate is None  # never a division by zero


def test_stats_report_entries_size_and_the_last_runs_hit_rate(tmp_path):
    path = tmp_path / "cache.sqlite"
    store = Store(path)
    for i in range(5):
        store.put(f"v1:{i}", "http://x/v1", "m", answer(f"answer {i}"))
    store.start_run("old", "eval")
    store.record_call("old", "target", "m", answer(), 0.001)
    time.sleep(0.01)
    store.start_run("new", "ablate")
    fresh = answer()
    hit = Completion(**{**fresh.__dict__, "from_cache": True})
    for completion in (fresh, hit, hit, hit):
        store.record_call("new", "target", "m", completion, 0.0)

    stats = store.stats()

    assert stats.path == str(path)
    assert stats.entries == 5
    on_disk = sum(p.stat().st_size for p in tmp_path.glob("cache.sqlite*"))
    assert 0 < stats.size_bytes == on_disk
    assert stats.last_run == "ablate (new)"
    assert (stats.last_run_calls, stats.last_run_hits) == (4, 3)
    assert stats.hit_rate == pytest.approx(0.75)


def test_clear_empties_the_cache_and_keeps_the_ledger(tmp_path):
    store = Store(tmp_path / "cache.sqlite")
    for i in range(3):
        store.put(f"v1:{i}", "http://x/v1", "m", answer())
    store.start_run("r", "eval")
    store.record_call("r", "target", "m", answer(), 0.002)

    assert store.clear() == 3

    assert store.stats().entries == 0
    assert store.get("v1:0") is None
    assert store.db.execute("SELECT COUNT(*) FROM calls").fetchone()[0] == 1
    assert store.clear() == 0
    store.put("v1:again", "http://x/v1", "m", answer())  # still usable afterwards
    assert store.get("v1:again") is not None


def test_finish_run_records_the_status(tmp_path):
    store = Store(tmp_path / "cache.sqlite")
    store.start_run("r", "ablate")
    assert store.db.execute("SELECT status, finished FROM runs").fetchone() == ("running", None)

    store.finish_run("r", "budget")

    status, finished = store.db.execute("SELECT status, finished FROM runs").fetchone()
    assert status == "budget" and finished is not None


def test_an_in_memory_store_works_without_a_file():
    store = Store(Path(":memory:"))
    store.put("v1:k", "e", "m", answer())

    assert store.get("v1:k") is not None
    assert store.stats().size_bytes == 0
