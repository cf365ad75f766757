"""Build the sandbox hub for a campaigns directory: store, clock, seed data, simulators."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from reconciler.sandbox.core import Clock, FaultPlan, Hub, RateLimiter, Store

SANDBOX_DB = Path(".campaignctl") / "sandbox.db"
SEED_DIR = Path(".sandbox")


def _simulator_classes() -> dict[str, type]:
    """vendor type -> simulator class, for every registered vendor (VendorSpec.simulator)."""
    from reconciler.providers import vendors  # imported here so core stays importable on its own

    return {spec.name: spec.simulator() for spec in vendors.specs()}


def rate_limits_enabled() -> bool:
    """CAMPAIGNCTL_SANDBOX_RATE_LIMITS=off switches the simulated limits off (benchmarks)."""
    return os.environ.get("CAMPAIGNCTL_SANDBOX_RATE_LIMITS", "on").lower() not in ("off", "0", "false", "no")


def build_hub(
    store_path: Path | None = None,
    seed: dict[str, Any] | None = None,
    *,
    rate_limits: bool | None = None,
    faults: FaultPlan | None = None,
) -> Hub:
    """A hub over a store at `store_path` (None: in memory), seeded once from `seed`."""
    store = Store(store_path)
    clock = Clock(store)
    limiter = RateLimiter(clock)
    enabled = rate_limits_enabled() if rate_limits is None else rate_limits
    sims = {name: cls(store, clock, limiter, rate_limits=enabled) for name, cls in _simulator_classes().items()}
    seed = seed or {}
    for name, sim in sims.items():
        section = seed.get(name) or {}
        sim.config = dict(section.get("config") or {})
        if not store.meta_get(f"{name}.seeded"):
            sim.seed(section)
            store.meta_set(f"{name}.seeded", True)
    store.commit()
    return Hub(store, sims, faults)


def load_seed(campaigns_dir: Path) -> dict[str, Any]:
    """The seed data the project ships: campaigns/.sandbox/<vendor>.yaml, one file per vendor."""
    seed: dict[str, Any] = {}
    for vendor in _simulator_classes():
        path = campaigns_dir / SEED_DIR / f"{vendor}.yaml"
        if path.is_file():
            seed[vendor] = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return seed


def open_project_hub(campaigns_dir: Path, **kwargs: Any) -> Hub:
    """The persisted sandbox of a campaigns directory."""
    return build_hub(campaigns_dir / SANDBOX_DB, load_seed(campaigns_dir), **kwargs)
