"""SQLite persistence of the sandbox: simulator collections, metadata, the request log and the send ledger.

Every collection is an insertion-ordered dict in memory, written through to SQLite at the end of
each request (one transaction), so a process killed mid-run loses nothing the vendor had
acknowledged, and `plan` -> `apply` -> `plan` in three processes sees one account.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reconciler.sandbox.request import SimRequest


class Collection:
    """An insertion-ordered id -> JSON object map, written through to the store on commit."""

    def __init__(self, store: Store, name: str, rows: dict[str, Any]) -> None:
        self._store = store
        self.name = name
        self._rows = rows
        self.version = 0  # bumped on every put/delete: simulators memoise filtered lists against it


    def get(self, key: str) -> Any | None:
        return self._rows.get(key)

    def __getitem__(self, key: str) -> Any:
        """A row the caller knows is there (KeyError if not)."""
        return self._rows[key]

    def put(self, key: str, obj: Any) -> None:
        """Insert or replace; call again after mutating an object in place."""
        self._rows[key] = obj
        self.version += 1
        self._store.mark_dirty(self.name, key)

    def delete(self, key: str) -> None:
        if self._rows.pop(key, None) is not None:
            self.version += 1
            self._store.mark_dirty(self.name, key)

    def values(self) -> list[Any]:
        return list(self._rows.values())

    def items(self) -> list[tuple[str, Any]]:
        return list(self._rows.items())

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._rows))


class Store:
    """SQLite persistence for simulator collections, metadata, the request log and the send ledger.

    `path=None` keeps everything in memory (unit tests). The store is used by one process at a
    time: the in-process sandbox, or `sandbox serve`.
    """

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path) if path else ":memory:", check_same_thread=False)
        self._db.executescript(
            """
            PRAGMA journal_mode=WAL;
            PRAGMA synchronous=NORMAL;
            CREATE TABLE IF NOT EXISTS objects (coll TEXT, key TEXT, body TEXT, PRIMARY KEY (coll, key));
            CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
            CREATE TABLE IF NOT EXISTS requests (seq INTEGER PRIMARY KEY AUTOINCREMENT, vendor TEXT,
                method TEXT, path TEXT, query TEXT, status INTEGER, at REAL, outcome TEXT);
            CREATE TABLE IF NOT EXISTS sends (seq INTEGER PRIMARY KEY AUTOINCREMENT, vendor TEXT,
                sequence_id TEXT, contact TEXT, enrollment_id TEXT, at REAL);
            """
        )
        self._collections: dict[str, Collection] = {}
        self._dirty: set[tuple[str, str]] = set()
        self._pending_log: list[tuple[Any, ...]] = []

    def collection(self, name: str) -> Collection:
        """The named collection (e.g. '<vendor>.cards'), loaded once in insertion order."""
        coll = self._collections.get(name)
        if coll is None:
            stored = self._db.execute("SELECT key, body FROM objects WHERE coll = ? ORDER BY rowid", (name,)).fetchall()
            # One JSON document for the whole collection: the decoder then keeps one copy of each
            # object key, not one per object (at 150k contacts, 290 MB less and a third faster).
            bodies = json.loads("[" + ",".join(body for _, body in stored) + "]")
            rows = dict(zip((key for key, _ in stored), bodies, strict=True))
            del stored
            coll = self._collections[name] = Collection(self, name, rows)
        return coll

    def meta_get(self, key: str, default: Any = None) -> Any:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return json.loads(row[0]) if row else default

    def meta_set(self, key: str, value: Any) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, json.dumps(value)),
        )

    def log_request(self, vendor: str, req: SimRequest, status: int | None, at: float, outcome: str) -> None:
        """Record one request (kept for tests and `sandbox requests`); written on commit."""
        query = "&".join(f"{k}={v}" for k, vs in sorted(req.query.items()) for v in vs)
        self._pending_log.append((vendor, req.method, req.path, query, status, at, outcome))

    def record_send(self, vendor: str, sequence_id: str, contact: str, enrollment_id: str, at: float) -> None:
        """Record that the vendor created an enrollment, i.e. real messages would go out."""
        self._db.execute(
            "INSERT INTO sends (vendor, sequence_id, contact, enrollment_id, at) VALUES (?, ?, ?, ?, ?)",
            (vendor, sequence_id, contact, enrollment_id, at),
        )

    def mark_dirty(self, collection: str, key: str) -> None:
        """A row of `collection` changed: written at the next flush."""
        self._dirty.add((collection, key))

    def commit(self) -> None:
        """Write dirty objects and the request log in one transaction."""
        for coll_name, key in self._dirty:
            obj = self._collections[coll_name].get(key)
            if obj is None:
                self._db.execute("DELETE FROM objects WHERE coll = ? AND key = ?", (coll_name, key))
            else:
                self._db.execute(
                    "INSERT INTO objects (coll, key, body) VALUES (?, ?, ?) "
                    "ON CONFLICT(coll, key) DO UPDATE SET body = excluded.body",
                    (coll_name, key, json.dumps(obj)),
                )
        self._dirty.clear()
        if self._pending_log:
            self._db.executemany(
                "INSERT INTO requests (vendor, method, path, query, status, at, outcome) VALUES (?, ?, ?, ?, ?, ?, ?)",
                self._pending_log,
            )
            self._pending_log.clear()
        self._db.commit()

    def requests(self, vendor: str | None = None) -> list[dict[str, Any]]:
        """Every request logged so far, oldest first."""
        self.commit()
        sql = "SELECT vendor, method, path, query, status, at, outcome FROM requests"
        args: tuple[Any, ...] = ()
        if vendor:
            sql += " WHERE vendor = ?"
            args = (vendor,)
        cols = ("vendor", "method", "path", "query", "status", "at", "outcome")
        return [dict(zip(cols, row, strict=True)) for row in self._db.execute(sql + " ORDER BY seq", args)]

    def request_counts(self) -> dict[str, int]:
        """vendor -> requests logged so far (a count, without loading the log: benchmarks log 100k+)."""
        self.commit()
        return dict(self._db.execute("SELECT vendor, COUNT(*) FROM requests GROUP BY vendor").fetchall())

    def sends(self, vendor: str | None = None) -> dict[tuple[str, str, str], int]:
        """(vendor, sequence, contact) -> how many enrollments were ever created. >1 is a duplicate send."""
        self.commit()
        sql = "SELECT vendor, sequence_id, contact, COUNT(*) FROM sends"
        args: tuple[Any, ...] = ()
        if vendor:
            sql += " WHERE vendor = ?"
            args = (vendor,)
        return {(v, s, c): n for v, s, c, n in self._db.execute(sql + " GROUP BY vendor, sequence_id, contact", args)}

    def close(self) -> None:
        self.commit()
        self._db.close()
