"""What is particular to the PostgreSQL state: the lock dies with its session, the DSN never shows,
a lost connection stops every later write, migrations are versioned per schema."""

from __future__ import annotations

import signal
import subprocess
import sys

import psycopg
import pytest

from reconciler.errors import ConfigError, LockError, StateError
from reconciler.model import Address, StateSettings
from reconciler.state import open_store
from reconciler.state_postgres import PostgresStore, describe_dsn
from tests.postgres_support import pg_schema  # noqa: F401 - fixture

A = Address("clarky", "membership", "inbound-es", "maria-garcia")


@pytest.fixture
def pg(pg_schema):
    dsn, schema = pg_schema
    opened: list[PostgresStore] = []

    def make(project: str = "camp") -> PostgresStore:
        opened.append(PostgresStore(dsn, schema=schema, project=project))
        return opened[-1]

    yield make
    for store in opened:
        store.close()


def test_kill_9_of_the_holder_frees_the_lock_without_state_unlock(pg, pg_schema):
    dsn, schema = pg_schema
    code = ("import sys, time; from reconciler.state_postgres import PostgresStore; "
            f"s = PostgresStore({dsn!r}, schema={schema!r}, project='camp'); "
            "print(s.acquire_lock('campaignctl apply (ci)'), flush=True); time.sleep(600)")
    holder = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        lock_id = holder.stdout.readline().strip()
        other = pg()
        with pytest.raises(LockError) as info:
            other.acquire_lock("laptop")
        assert f"pid {holder.pid}" in str(info.value) and lock_id in str(info.value)
        assert "campaignctl apply (ci)" in str(info.value)
        with pytest.raises(LockError, match="session is gone"):
            other.unlock(lock_id)  # a live holder's lock is not cleared by hand
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        holder.stdout.close()
    other.acquire_lock("laptop", timeout=10)  # the server notices the dead session within moments
    assert other.current_lock()["holder"] == "laptop"


def test_a_stale_holder_row_is_not_a_lock_and_unlock_clears_it(pg):
    one = pg()
    lock_id = one.acquire_lock("apply")
    one._exec("SELECT pg_advisory_unlock_all()")  # as if its session had ended without deleting the row
    one._held = None
    other = pg()
    assert other.current_lock() is None
    other.unlock(lock_id)
    with pytest.raises(LockError, match="not locked"):
        other.unlock(lock_id)


def test_the_dsn_never_shows_in_errors(pg_schema):
    dsn, schema = pg_schema
    parts = psycopg.conninfo.conninfo_to_dict(dsn)
    wrong = psycopg.conninfo.make_conninfo(dsn, password="s3cret-never-shown")
    with pytest.raises(StateError) as info:
        PostgresStore(wrong, schema=schema, project="camp")
    text = str(info.value)
    assert "s3cret-never-shown" not in text and parts["password"] not in text and wrong not in text
    assert describe_dsn(dsn) in text  # host/database only
    with pytest.raises(ConfigError, match="CAMPAIGNCTL_STATE_DSN is not set"):
        open_store(StateSettings(backend="postgres", project="camp"), env={})


def test_a_lost_connection_fails_every_later_write_and_the_intent_stays_in_doubt(pg):
    store = pg()
    lock_id = store.acquire_lock("apply")
    seq = store.intent("a1", A, "enroll")
    pid = store._exec("SELECT pg_backend_pid()")[0][0]
    killer = pg("other")
    killer._exec("SELECT pg_terminate_backend(%s)", (pid,))
    with pytest.raises(StateError, match="connection was lost; nothing more is sent"):
        store.outcome(seq, "ok")
    with pytest.raises(StateError, match="connection was lost"):
        store.intent("a1", A, "enroll")  # no new intent, so no new send
    store.release_lock(lock_id)  # quietly: the lock went with the session
    fresh = pg()
    assert [e.seq for e in fresh.in_doubt()] == [seq]
    assert fresh.current_lock() is None
    fresh.release_lock(fresh.acquire_lock("next apply"))


def test_migrations_are_recorded_and_run_once(pg, pg_schema):
    from reconciler.state import SCHEMA_VERSION

    pg()
    pg()
    dsn, schema = pg_schema
    with psycopg.connect(dsn) as db:
        versions = [v for (v,) in db.execute(f'SELECT version FROM "{schema}".schema_version ORDER BY version')]
    assert versions == list(range(1, SCHEMA_VERSION + 1))
