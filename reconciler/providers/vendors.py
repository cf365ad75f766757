"""The one list of vendors: their VendorSpecs, by provider type.

The built-in vendors are registered on first use; `register` adds another (a test's vendor), and
`unregister` takes it away again. Everything in the core that depends on the vendor goes through
`spec(type)` or one of the views below.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache

from reconciler.providers.spec import Stall, VendorSpec

_SPECS: dict[str, VendorSpec] = {}
_LOCK = threading.RLock()
_BUILTINS = ("clarky", "garyclub", "kalent")


def _load_builtins() -> None:
    import importlib

    with _LOCK:
        if _SPECS:
            return
        loaded = [importlib.import_module(f"reconciler.providers.{name}.spec").SPEC for name in _BUILTINS]
        _SPECS.update({one.name: one for one in loaded})


def _specs() -> dict[str, VendorSpec]:
    if not _SPECS:
        _load_builtins()
    return _SPECS


def register(spec: VendorSpec) -> None:
    """Add a vendor (after the built-in ones); its `name` becomes a valid provider type."""
    specs = _specs()
    if spec.name in specs and specs[spec.name] is not spec:
        raise ValueError(f"vendor {spec.name!r} is already registered")
    known = stalls()
    for word, stall in spec.stalls.items():
        if known.get(word, stall) != stall:  # drift reads a live status without knowing its vendor
            raise ValueError(f"vendor {spec.name!r}: status {word!r} already means {known[word]}")
    specs[spec.name] = spec
    _views.cache_clear()


def unregister(name: str) -> None:
    """Remove a vendor `register` added."""
    _specs().pop(name, None)
    _views.cache_clear()


def spec(vendor_type: str) -> VendorSpec:
    """The spec of a provider type; KeyError names the registered ones."""
    try:
        return _specs()[vendor_type]
    except KeyError:
        raise KeyError(f"unknown vendor type {vendor_type!r} (known: {', '.join(names())})") from None


def find(vendor_type: str) -> VendorSpec | None:
    """The spec of a provider type, None when no vendor has that name."""
    return _specs().get(vendor_type)


def replays_starts(vendor_type: str) -> bool:
    """Whether a start in doubt is settled by replaying it with its key (which sends it if it never
    arrived) rather than by reading (VendorSpec.replays_starts); False for a type no vendor has."""
    found = find(vendor_type)
    return found is not None and found.replays_starts


def rate_limits(vendor_type: str) -> dict[str, int]:
    """The rate limits a vendor's spec sets by default ({} for a type no vendor has)."""
    found = find(vendor_type)
    return dict(found.rate_limits) if found else {}


def names() -> tuple[str, ...]:
    """Every registered provider type, built-in ones first."""
    return tuple(_specs())


def specs() -> Iterator[VendorSpec]:
    return iter(tuple(_specs().values()))


@dataclass(frozen=True)
class _Views:
    """Lookups over every registered vendor, rebuilt when a vendor is registered or removed."""

    person_id_keys: dict[str, str]
    person_id_nouns: dict[str, str]
    person_id_key_nouns: dict[str, str]
    stalls: dict[str, Stall]
    reply_reasons: frozenset[str]


@cache
def _views() -> _Views:
    people = [s.person_ids for s in _specs().values() if s.person_ids]
    return _Views(
        person_id_keys={p.contact_key: p.scheme for p in people},
        person_id_nouns={p.scheme: p.noun for p in people},
        person_id_key_nouns={p.contact_key: p.noun for p in people},
        stalls={word: stall for s in _specs().values() for word, stall in s.stalls.items()},
        reply_reasons=frozenset(r for s in _specs().values() for r in s.reply_reasons),
    )


def person_id_keys() -> dict[str, str]:
    """Contact key -> identifier scheme, for every vendor that knows people by its own id."""
    return _views().person_id_keys


def person_id_key_nouns() -> dict[str, str]:
    """Contact key -> how messages name the vendor person id it holds."""
    return _views().person_id_key_nouns


def person_id_nouns() -> dict[str, str]:
    """Identifier scheme -> how messages name it ('candidate id')."""
    return _views().person_id_nouns


def stalls() -> dict[str, Stall]:
    """Active vendor status -> when drift reports it as a health problem, over every vendor."""
    return _views().stalls


def reply_reasons() -> frozenset[str]:
    """Pause reasons that mean the person replied, over every vendor."""
    return _views().reply_reasons
