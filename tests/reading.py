"""A provider's read as the core runs it, for adapter tests that hold the state's records as a
`ReadContext`: the core's `read_input` decides on the provider's clock which remembered statuses stand
in, the provider reads the `ReadInput` it is given, and the core's settle window judges what it read
against the state's records (reconciler/engine.py does the same for a session)."""

from __future__ import annotations

from reconciler.engine import max_age
from reconciler.model import DesiredState
from reconciler.providers.base import Provider
from reconciler.read_input import ReadContext, ReadInput, read_input
from reconciler.settle_window import judge_reads, settle_windows
from reconciler.snapshot import LiveSnapshot


def given(provider: Provider, ctx: ReadContext | None = None) -> ReadInput:
    """What the core gives `provider`'s read of `ctx` (an empty state when None)."""
    return read_input(ctx or ReadContext(), provider.config.name, max_age_seconds=max_age(provider),
                      now=provider.clock.now())


def read_with(provider: Provider, desired: DesiredState, ctx: ReadContext | None = None) -> LiveSnapshot:
    """`provider`'s read of `desired` given the state `ctx`, with the settle window judged after."""
    ctx = ctx or ReadContext()
    snap = provider.read(desired, given(provider, ctx))
    judge_reads(ctx.cache, snap, settle_windows({provider.config.name: provider.config}))
    return snap
