"""Is a path safe to use as campaignctl's SQLite state? Never a directory, never another program's file.

`state.path` comes from the project file, which a pull request can change: pointed at an existing
file it must not be chmodded or have tables written into it unless it already is a campaignctl
state. A path that does not exist yet, an empty file (a state whose creation was interrupted) and
an SQLite database without any table are fine; anything else is refused, and the file is only read.
"""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

SQLITE_MAGIC = b"SQLite format 3\x00"
OUR_TABLES = frozenset({"objects", "journal", "locks", "meta"})


def state_file_problem(path: Path) -> str | None:
    """Why `path` must not be used as the state (None when it may), without changing it."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return None if not path.is_symlink() else "is a symbolic link to nothing; point state.path at a file"
    except OSError as exc:
        return f"cannot be inspected ({exc.strerror or exc})"
    if stat.S_ISDIR(info.st_mode):
        return "is a directory; state.path names the state file itself (e.g. .campaignctl/state.db)"
    if not stat.S_ISREG(info.st_mode):
        return "is not a regular file"
    if info.st_size == 0:
        return None
    try:
        with open(path, "rb") as handle:
            head = handle.read(len(SQLITE_MAGIC))
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if head != SQLITE_MAGIC:
        return ("is not a usable state file: an existing file that is not a campaignctl state, "
                "which campaignctl will not write into")
    tables = _tables(path)
    if tables is None:
        return "is an SQLite file campaignctl cannot read; it will not write into it"
    if tables and not tables >= OUR_TABLES:
        shown = ", ".join(sorted(tables)[:5])
        return f"is another application's SQLite database (tables: {shown}); campaignctl will not write into it"
    return None


def _tables(path: Path) -> set[str] | None:
    """Table names of an SQLite file, read-only; None when it cannot be opened.

    A state left by a killed apply has a hot rollback journal (or an old WAL) beside it, which a
    read-only connection may not replay; the schema is then read from the file as it stands
    (`immutable`), and our own open recovers the journal afterwards.
    """
    for mode in ("mode=ro", "immutable=1"):
        tables = _read_tables(f"{path.resolve().as_uri()}?{mode}")
        if tables is not None:
            return tables
    return None


def _read_tables(uri: str) -> set[str] | None:
    try:
        db = sqlite3.connect(uri, uri=True)
    except sqlite3.Error:
        return None
    try:
        return {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                if not name.startswith("sqlite_")}
    except sqlite3.Error:
        return None
    finally:
        db.close()
