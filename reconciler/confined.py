"""Reading the files a campaigns directory names, confined to that directory.

Manifests come from pull requests, so a path in one is hostile until proven otherwise. Every file
campaignctl reads for a project (the project file, manifests, CSV sources) must, after every
symbolic link is followed, be a regular file inside the campaigns directory and no larger than
MAX_FILE_BYTES. A refused file is never opened, so nothing of its content can reach a message;
a device (`/dev/zero`) or a FIFO is refused before `open`, which is what would block.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_FILE_BYTES = 64 * 1024 * 1024  # a 100,000-contact CSV is ~10 MB; far above any real project file


class RefusedPath(Exception):
    """A path that cannot or must not be read; the message says why, without the file's content."""


def resolve_inside(root: Path, path: Path) -> Path:
    """`path` with every link followed; RefusedPath unless it lies inside `root` (itself resolved)."""
    real_root = root.resolve()
    try:
        real = path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise RefusedPath(f"cannot resolve the path ({exc})") from None
    if real != real_root and real_root not in real.parents:
        linked = " (through a symbolic link)" if _has_link(path) else ""
        raise RefusedPath(f"resolves outside the campaigns directory{linked}; only files inside it are read")
    return real


def read_confined(root: Path, path: Path, *, limit: int = MAX_FILE_BYTES) -> bytes:
    """The bytes of `path`, a regular file inside `root` of at most `limit` bytes; else RefusedPath."""
    real = resolve_inside(root, path)
    try:
        info = os.stat(real)
    except OSError as exc:
        raise RefusedPath(exc.strerror or str(exc)) from None
    _check_regular(info, limit)
    try:
        # O_NONBLOCK: should the file be swapped for a FIFO after the check, open() still returns.
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        raise RefusedPath(exc.strerror or str(exc)) from None
    with os.fdopen(fd, "rb") as handle:
        _check_regular(os.fstat(fd), limit)
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise RefusedPath(f"file is larger than {limit // (1024 * 1024)} MB")
    return data


def _check_regular(info: os.stat_result, limit: int) -> None:
    if stat.S_ISDIR(info.st_mode):
        raise RefusedPath("is a directory, not a file")
    if not stat.S_ISREG(info.st_mode):
        raise RefusedPath("is not a regular file (a device, FIFO or socket); only regular files are read")
    if info.st_size > limit:
        raise RefusedPath(f"file is larger than {limit // (1024 * 1024)} MB")


def _has_link(path: Path) -> bool:
    return any(p.is_symlink() for p in (path, *path.parents) if p != Path(p.anchor))
