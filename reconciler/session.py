"""The session: what one command works with (manifests, providers, the state store, the clock).

`plan`, `apply` and `drift` open one, work inside it and close it. Its `clock` is where wall time
comes from (reconciler/timeutil.py): the store stamps the journal, cache and lock with it and
counts the sends of the last 24 h by it; the plan is dated by it; the providers measure the
settle window of asynchronous starts and the staleness of cached statuses on it.
A hub passed to open_session belongs to the caller and is not closed with the session.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.desired import load_desired
from reconciler.model import DesiredState
from reconciler.providers import build_providers
from reconciler.providers.base import Provider
from reconciler.state import Store, open_store
from reconciler.timeutil import SYSTEM_CLOCK, Clock


@dataclass
class Session:
    """Everything one command works with; closed by the caller."""

    desired: DesiredState
    providers: dict[str, Provider]
    store: Store
    hub: Any = None  # the in-process sandbox hub, when any provider uses it
    notes: list[str] = field(default_factory=list)
    owns_hub: bool = True  # False when the caller passed the hub in: the caller closes it
    lock_id: str | None = None  # the apply lock this session holds, if any
    # Set when apply is interrupted: no provider sends anything more, and apply dispatches nothing new.
    stop: threading.Event = field(default_factory=threading.Event)
    clock: Clock = SYSTEM_CLOCK  # wall time for every decision of this session (not pacing: that is monotonic)

    def close(self) -> None:
        for provider in self.providers.values():
            provider.close()
        self.store.close()
        if self.hub is not None and self.owns_hub:
            self.hub.store.close()

    def __enter__(self) -> Session:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_session(directory: Path, *, env: Mapping[str, str] | None = None, hub: Any = None,
                 transports: Mapping[str, Any] | None = None, clock: Clock | None = None) -> Session:
    """Load and validate manifests, open the state store, build the providers.

    A `hub` passed in stays open when the session closes (its owner closes it); one the session
    opened itself is closed with it. `clock` (the system clock by default) is given to the store and
    to every provider."""
    desired = load_desired(directory)
    env = os.environ if env is None else env
    clock = clock or SYSTEM_CLOCK
    given = hub is not None
    stop = threading.Event()
    store = open_store(desired.project.state, env, clock=clock)
    try:
        providers, hub = build_providers(desired.project, env=env, hub=hub, transports=transports, stop=stop,
                                         only=providers_in_use(desired, store))
    except BaseException:
        store.close()
        raise
    for provider in providers.values():
        provider.clock = clock  # the settle window, staleness and the times a provider records
    return Session(desired, providers, store, hub, owns_hub=not given, stop=stop, clock=clock)


def providers_in_use(desired: DesiredState, store: Store) -> set[str]:
    """Providers a manifest declares something on, or the state remembers something of (removed members
    are still read, to report them): only these are built, so only their keys are needed."""
    used = {item.provider for group in (desired.sequences, desired.pipelines, desired.blueprints) for item in group}
    used.update(addr.provider for addr in store.cache_view())
    # the provider is what precedes the first dot; a row whose address cannot be read is warned about by the read
    used.update(entry.address.split(".", 1)[0] for entry in store.in_doubt())
    used.update(addr.provider for addr in store.adopted())
    return used
