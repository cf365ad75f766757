"""The SQLite store reads its cache rows again only when they may have changed: every write through
the store, a rolled-back batch, and a commit by any other connection are seen by the next cache()."""

from __future__ import annotations

import pytest

from reconciler.model import Address
from reconciler.state import StateStore

A = Address("clarky", "membership", "inbound-es", "maria-garcia")
B = Address("clarky", "membership", "inbound-es", "john-smith")


@pytest.fixture
def path(tmp_path):
    return tmp_path / "state.db"


def test_own_writes_and_forgets_are_seen(path):
    store = StateStore(path)
    try:
        assert store.cache() == {}
        store.remember(A, "enr_1", status="active", extra={"contact": "c_1"})
        assert store.cache()[A].remote_id == "enr_1" and store.cache()[A].contact == "c_1"
        store.remember(A, "enr_2", status="finished")
        assert store.cache()[A].remote_id == "enr_2" and store.cache()[A].contact is None
        store.forget(A)
        assert A not in store.cache()
    finally:
        store.close()


def test_a_commit_by_another_connection_is_seen(path):
    first, second = StateStore(path), StateStore(path)
    try:
        assert first.cache() == {}
        second.remember(B, "enr_9", status="active")
        assert first.cache()[B].remote_id == "enr_9"
        with second.batch():
            second.remember(A, "enr_1", status="active")
        assert set(first.cache()) == {A, B}
    finally:
        first.close()
        second.close()


def test_a_rolled_back_batch_leaves_nothing_behind(path):
    store = StateStore(path)
    try:
        with pytest.raises(RuntimeError), store.batch():
            store.remember(A, "enr_1", status="active")
            assert A in store.cache()  # inside the transaction it is there
            raise RuntimeError("interrupted")
        assert A not in store.cache()
    finally:
        store.close()


def test_each_call_returns_its_own_dict(path):
    store = StateStore(path)
    try:
        store.remember(A, "enr_1", status="active")
        mine = store.cache()
        mine.pop(A)
        assert A in store.cache()
    finally:
        store.close()
