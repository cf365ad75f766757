"""What a vendor has no API for is one error in all three adapters: UnsupportedOperation (a
ProviderError with code `unsupported`), raised before any request, and exactly for what the
adapter's capabilities say it cannot do."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from reconciler.desired import load_desired
from reconciler.errors import ProviderError, UnsupportedOperation
from reconciler.model import Address, Blueprint, Card, Contact, Pipeline
from reconciler.providers import SANDBOX_KEYS, registry
from reconciler.providers.base import BaseProvider, CardUpdate
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.transport import SandboxTransport
from reconciler.snapshot import LiveBlueprint, LiveCard

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"


@pytest.fixture(scope="module")
def providers() -> Any:
    desired = load_desired(EXAMPLE)
    hub = build_hub(None, load_seed(EXAMPLE), rate_limits=False)
    built = {config.type: registry()[config.type](config, SANDBOX_KEYS[config.type],
                                                  transport=SandboxTransport(hub, config.type))
             for config in desired.project.providers.values()}
    yield built
    for provider in built.values():
        provider.close()
    hub.store.close()


def _calls(provider: BaseProvider) -> dict[str, list[Callable[[], Any]]]:
    """Every card and blueprint operation, by the capability that says whether the vendor has it."""
    name = provider.config.name
    card = Card(Address(name, "card", "p", "c"), "p", "c", "Lead", "T")
    pipe = Pipeline("p", name, provider.config.type, "P", cards=(card,))
    contact = Contact(id="c", first_name="C", emails=("c@example.com",))
    live = LiveCard(card.address, "card_1", "Lead", "T", None, ("campaignctl",), False, True)
    bp = Blueprint(Address(name, "blueprint", "s", "b"), "b", name, "s", "B")
    live_bp = LiveBlueprint(bp.address, "bp_1", "B", ())
    return {
        "cards": [lambda: provider.create_card(pipe, card, contact, "campaignctl"),
                  lambda: provider.find_card(pipe, card, contact),
                  lambda: provider.update_card(pipe, live, CardUpdate(title="U")),
                  lambda: provider.delete_card(pipe, live)],
        "archive": [lambda: provider.update_card(pipe, live, CardUpdate(archived=True))],
        "delete": [lambda: provider.delete_card(pipe, live)],
        "blueprints": [lambda: provider.create_blueprint(bp), lambda: provider.find_blueprint(bp),
                       lambda: provider.update_blueprint(bp, live_bp)],
    }


def _lacks(provider: BaseProvider) -> set[str]:
    caps = provider.capabilities
    lacks = set()
    if caps.card_kind is None:
        lacks.add("cards")
    elif not caps.can_archive_cards:
        lacks.add("archive")
    if caps.card_kind is not None and not caps.can_delete_cards:
        lacks.add("delete")
    if not caps.supports_blueprints:
        lacks.add("blueprints")
    return lacks


@pytest.mark.parametrize("vendor", ["clarky", "garyclub", "kalent"])
def test_every_operation_the_capabilities_deny_raises_unsupported_before_any_request(providers, vendor):
    provider = providers[vendor]
    lacks = _lacks(provider)
    assert lacks, f"{vendor} lacks something in the example project"
    for family, calls in _calls(provider).items():
        if family not in lacks:
            continue
        for call in calls:
            before = provider.request_counts()
            with pytest.raises(UnsupportedOperation) as caught:
                call()
            assert isinstance(caught.value, ProviderError)  # apply reports it per change, like any refusal
            assert caught.value.code == "unsupported" and caught.value.vendor == provider.config.name
            assert provider.request_counts() == before  # refused before anything was sent


def test_each_vendor_lacks_what_it_says():
    by_vendor = {name: _lacks(cls.__new__(cls)) for name, cls in registry().items()}
    assert by_vendor == {"clarky": {"blueprints"}, "garyclub": {"archive", "delete", "blueprints"},
                         "kalent": {"cards"}}
