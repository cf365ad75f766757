"""The state store, one suite over both backends (SQLite file, PostgreSQL server): versioned schema,
cache, journal and in-doubt writes, lock, caps; then what is particular to each backend."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from reconciler.errors import LockError, StateError
from reconciler.model import Address
from reconciler.state import SCHEMA_VERSION, StateStore
from tests.postgres_support import open_state, pg_schema  # noqa: F401 - fixtures

A = Address("clarky", "membership", "inbound-es", "maria-garcia")
B = Address("clarky", "membership", "inbound-es", "john-smith")


@pytest.fixture
def store(open_state):
    return open_state()


@pytest.fixture
def sqlite_store(tmp_path):
    s = StateStore(tmp_path / "state" / "state.db")
    yield s
    s.close()


def test_file_is_private_and_versioned(sqlite_store):
    store = sqlite_store
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o600
    version = sqlite3.connect(store.path).execute("PRAGMA user_version").fetchone()[0]
    assert version == SCHEMA_VERSION


def test_newer_schema_is_refused_with_a_clear_error(tmp_path):
    path = tmp_path / "state.db"
    StateStore(path).close()
    db = sqlite3.connect(path)
    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.commit()
    db.close()
    with pytest.raises(StateError, match="newer than this campaignctl"):
        StateStore(path)


def test_a_file_that_is_not_sqlite_is_a_state_error(tmp_path):
    path = tmp_path / "state.db"
    path.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StateError, match="not a usable state file"):
        StateStore(path)


def test_cache_round_trip(store):
    store.remember(A, "enr_1", status="active", vendor_status="generating", attempt=1, observed_at="2026-11-24T00:00:00Z",
                   extra={"contact": "c_1"})
    entry = store.cache()[A]
    assert (entry.remote_id, entry.status, entry.vendor_status, entry.attempt) == ("enr_1", "active", "generating", 1)
    assert dict(entry.extra) == {"contact": "c_1"}
    store.forget(A)
    assert A not in store.cache()


def test_journal_in_doubt_until_an_outcome_settles_it(store):
    first = store.intent("apply1", A, "enroll")
    second = store.intent("apply1", B, "enroll")
    store.outcome(second, "ok", remote_id="enr_2", request_id="req_9")
    assert [e.address for e in store.in_doubt()] == [str(A)]
    store.outcome(first, "unknown")
    assert [e.seq for e in store.in_doubt()] == [first]  # 'unknown' is still in doubt
    store.outcome(first, "resolved_present")
    assert store.in_doubt() == []
    rows = store.journal(str(A))
    assert [(r.phase, r.result) for r in rows] == [("intent", None), ("outcome", "unknown"), ("outcome", "resolved_present")]


def test_outcome_for_a_missing_intent_is_an_error(store):
    with pytest.raises(StateError):
        store.outcome(999, "ok")


def opener_code(store) -> str:
    """Python that opens the same state as `store` in another process, as `s`."""
    if isinstance(store, StateStore):
        return f"from reconciler.state import StateStore; from pathlib import Path; s = StateStore(Path({str(store.path)!r}))"
    return (f"from reconciler.state_postgres import PostgresStore; "
            f"s = PostgresStore({store._dsn!r}, schema={store.schema!r}, project={store.project!r})")


def test_intent_survives_a_killed_process(store):
    """The intent is durable before the write goes out: a process killed right after still leaves it."""
    code = (f"import os; from reconciler.model import Address; {opener_code(store)}; "
            f"s.intent('a1', Address.parse({str(A)!r}), 'enroll'); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert [e.address for e in store.in_doubt()] == [str(A)]


def test_sends_in_the_last_24h_count_possible_sends_only(store):
    ok = store.intent("a", A, "enroll")
    store.outcome(ok, "ok")
    store.intent("a", B, "enroll")  # in doubt: counts against the cap (it may have sent)
    failed = store.intent("a", Address("clarky", "membership", "inbound-es", "x"), "enroll")
    store.outcome(failed, "error")
    gone = store.intent("a", Address("clarky", "membership", "inbound-es", "y"), "enroll")
    store.outcome(gone, "resolved_absent")
    store.intent("a", Address("clarky", "card", "sales", "x"), "create")
    assert store.sends_last_24h() == {"clarky/inbound-es": 2}
    assert store.sends_since(datetime.now(timezone.utc) + timedelta(minutes=1)) == {}


def test_second_lock_fails_at_once_naming_the_holder(store):
    lock_id = store.acquire_lock("apply by ci")
    with pytest.raises(LockError) as info:
        store.acquire_lock("apply by alice")
    assert "apply by ci" in str(info.value) and lock_id in str(info.value)
    # a file's lock outlives a killed apply (state unlock clears it); a database session's dies with it
    assert ("state unlock" if isinstance(store, StateStore) else "--lock-timeout") in str(info.value)
    store.release_lock(lock_id)
    store.release_lock(store.acquire_lock("again"))


def test_lock_of_a_dead_process_is_called_stale(sqlite_store):
    store = sqlite_store
    lock_id = store.acquire_lock("apply")
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    store._exec("UPDATE locks SET pid = ?", (dead.pid,))
    with pytest.raises(LockError, match="no longer running"):
        store.acquire_lock("other")
    with pytest.raises(LockError, match="does not match"):
        store.unlock("nope")
    store.unlock(lock_id)
    assert store.current_lock() is None
    with pytest.raises(LockError, match="not locked"):
        store.unlock(lock_id)


def test_lock_is_shared_across_connections(open_state):
    one, two = open_state(), open_state()
    held = one.acquire_lock("first")
    assert two.current_lock()["id"] == held
    with pytest.raises(LockError, match="first"):
        two.acquire_lock("second")
    one.release_lock(held)
    assert two.current_lock() is None
    two.release_lock(two.acquire_lock("second"))


def test_lock_timeout_waits_for_the_holder_to_finish(open_state):
    one, two = open_state(), open_state()
    held = one.acquire_lock("first")
    started = time.monotonic()
    with pytest.raises(LockError, match="first"):
        two.acquire_lock("second", timeout=0.6)
    assert time.monotonic() - started >= 0.6
    threading.Timer(0.5, one.release_lock, (held,)).start()
    mine = two.acquire_lock("second", timeout=30)
    assert two.current_lock()["id"] == mine and two.current_lock()["holder"] == "second"


def test_projects_sharing_a_database_do_not_see_each_other(open_state):
    one, other = open_state("one"), open_state("other")
    one.remember(A, "enr_1", status="active")
    one.intent("a1", A, "enroll")
    one.set_meta("k", 1)
    one.adopt(A, "x")
    one.acquire_lock("one's apply")
    assert (other.cache(), other.in_doubt(), other.get_meta("k"), other.adopted(), other.current_lock()) == \
        ({}, [], None, frozenset(), None)
    other.release_lock(other.acquire_lock("other's apply"))  # its own lock is free
    assert other.sends_last_24h() == {} and one.sends_last_24h() == {"clarky/inbound-es": 1}


def test_a_read_older_than_a_row_leaves_the_row_alone(store):
    before = "2000-01-01T00:00:00.000000Z"
    store.remember(A, "enr_1", status="active")
    store.remember(A, "enr_0", status="failed", unless_updated_after=before)
    assert store.cache()[A].remote_id == "enr_1"
    with store.batch():
        store.remember(A, "enr_2", status="active", unless_updated_after="2999-01-01T00:00:00.000000Z")
    assert store.cache()[A].remote_id == "enr_2"


def test_a_newer_schema_is_refused_on_both_backends(open_state):
    store = open_state()
    if open_state.backend == "sqlite":
        db = sqlite3.connect(store.path)
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.commit()
        db.close()
    else:
        store._exec("INSERT INTO {s}.schema_version VALUES (%s, 'later')", (SCHEMA_VERSION + 1,))
    with pytest.raises(StateError, match="newer than this campaignctl"):
        open_state()


def test_both_backends_have_the_same_schema_versions():
    from reconciler.state import MIGRATIONS
    from reconciler.state_postgres import MIGRATIONS as PG_MIGRATIONS

    assert sorted(MIGRATIONS) == sorted(PG_MIGRATIONS) == list(range(1, SCHEMA_VERSION + 1))


def test_meta_and_adoptions(store):
    store.set_meta("drift.fingerprint", {"x": 1})
    assert store.get_meta("drift.fingerprint") == {"x": 1} and store.get_meta("missing", 5) == 5
    card = Address("clarky", "card", "sales", "maria-garcia")
    store.adopt(card, "pc_1")
    assert store.adopted() == frozenset({card})
    store.clear_adoption(card)
    assert store.adopted() == frozenset()


def test_batch_commits_together_and_rolls_back_on_error(store):
    with store.batch():
        store.remember(A, "enr_1", status="active")
        store.remember(B, "enr_2", status="active")
    assert set(store.cache()) == {A, B}
    with pytest.raises(RuntimeError):
        with store.batch():
            store.forget(A)
            raise RuntimeError("boom")
    assert set(store.cache()) == {A, B}  # nothing of the failed batch is kept
    seq = store.intent("a", A, "enroll")  # the store is usable after a rollback
    assert [e.seq for e in store.in_doubt()] == [seq]


def test_a_wal_left_by_an_older_version_is_folded_into_the_file(tmp_path):
    """A state written in WAL mode and killed keeps its rows in state.db-wal; opening it moves them into
    state.db, and from then on the file alone holds every committed row."""
    path = tmp_path / "state.db"
    StateStore(path).close()
    code = (f"import sqlite3, os; db = sqlite3.connect({str(path)!r}, isolation_level=None);"
            "db.execute('PRAGMA journal_mode=WAL');"
            "db.execute(\"INSERT INTO meta VALUES ('k', '1')\"); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert (tmp_path / "state.db-wal").stat().st_size > 0
    StateStore(path).close()
    assert not (tmp_path / "state.db-wal").exists()
    assert sqlite3.connect(path).execute("SELECT value FROM meta").fetchall() == [("1",)]


def test_a_state_killed_mid_transaction_opens_again(tmp_path):
    """kill -9 inside a transaction leaves a hot rollback journal beside state.db: the file is still
    recognised as a campaignctl state, and opening it rolls the unfinished transaction back."""
    from reconciler.state_file import state_file_problem

    path = tmp_path / "state.db"
    StateStore(path).close()
    code = (f"import os; from pathlib import Path; from reconciler.state import StateStore; s = StateStore(Path({str(path)!r}));"
            "s._db.execute('PRAGMA cache_size=1'); s._db.execute('BEGIN IMMEDIATE');"
            "[s._db.execute('INSERT INTO meta VALUES (?, ?)', (str(i), 'x' * 500)) for i in range(300)]; os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert (tmp_path / "state.db-journal").stat().st_size > 0
    assert state_file_problem(path) is None
    store = StateStore(path)
    assert store.get_meta("1") is None  # the unfinished transaction was rolled back
    store.close()


def test_an_outcome_in_a_batch_commits_with_its_rows_or_not_at_all(store):
    """A start's journal outcome and the row of what the vendor now holds are one transaction on both
    backends: a failure before the batch ends keeps neither (the intent stays in doubt, read next run)."""
    seq = store.intent("a", A, "enroll")
    with pytest.raises(RuntimeError), store.batch():
        store.outcome(seq, "ok", remote_id="enr_1")
        store.remember(A, "enr_1", status="active")
        raise RuntimeError("crash between the outcome and the end of the batch")
    assert A not in store.cache()
    assert [e.seq for e in store.in_doubt()] == [seq]
    assert [e.phase for e in store.journal(str(A))] == ["intent"]
    with store.batch():
        store.outcome(seq, "ok", remote_id="enr_1")
        store.remember(A, "enr_1", status="active")
    assert store.cache()[A].remote_id == "enr_1" and store.in_doubt() == []
    with pytest.raises(StateError, match="no intent"), store.batch():
        store.outcome(seq + 1000, "ok")
