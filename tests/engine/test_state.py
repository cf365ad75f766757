"""The state store: 0600 file, versioned schema, cache, journal and in-doubt writes, lock, caps."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from reconciler.errors import LockError, StateError
from reconciler.model import Address
from reconciler.state import SCHEMA_VERSION, StateStore

A = Address("clarky", "membership", "inbound-es", "maria-garcia")
B = Address("clarky", "membership", "inbound-es", "john-smith")


@pytest.fixture
def store(tmp_path):
    s = StateStore(tmp_path / "state" / "state.db")
    yield s
    s.close()


def test_file_is_private_and_versioned(store):
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


def test_intent_survives_a_killed_process(tmp_path):
    """The intent is durable before the write goes out: a process killed right after still leaves it."""
    path = tmp_path / "state.db"
    code = (f"import os; from pathlib import Path; from reconciler.state import StateStore; from reconciler.model import Address;"
            f"s = StateStore(Path({str(path)!r})); s.intent('a1', Address.parse({str(A)!r}), 'enroll'); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    store = StateStore(path)
    assert [e.address for e in store.in_doubt()] == [str(A)]
    store.close()


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
    assert "apply by ci" in str(info.value) and lock_id in str(info.value) and "state unlock" in str(info.value)
    store.release_lock(lock_id)
    store.release_lock(store.acquire_lock("again"))


def test_lock_of_a_dead_process_is_called_stale(store):
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


def test_lock_is_shared_across_connections(tmp_path):
    one, two = StateStore(tmp_path / "s.db"), StateStore(tmp_path / "s.db")
    one.acquire_lock("first")
    with pytest.raises(LockError, match="first"):
        two.acquire_lock("second")
    one.close()
    two.close()


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
    code = (f"import sqlite3, os; db = sqlite3.connect({str(path)!r}, isolation_level=None);"
            "db.execute('PRAGMA journal_mode=WAL'); db.execute('CREATE TABLE t (x)');"
            "db.execute('INSERT INTO t VALUES (1)'); os._exit(9)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 9
    assert (tmp_path / "state.db-wal").stat().st_size > 0
    StateStore(path).close()
    assert not (tmp_path / "state.db-wal").exists()
    assert sqlite3.connect(path).execute("SELECT x FROM t").fetchall() == [(1,)]
