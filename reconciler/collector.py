"""The cyclic garbage collector paused while large, acyclic data is built (manifests, the state's records)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def collector_paused() -> Iterator[None]:
    """The cyclic GC off inside, back as it was after: what is built here makes no cycles, and at 100k
    memberships the collections walked the growing objects again and again (~10% of loading's CPU)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
