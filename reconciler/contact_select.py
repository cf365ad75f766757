"""The contacts a tags selector (tags_all, tags_any, tags_none) picks."""

from __future__ import annotations

from typing import Any

from reconciler.model import Contact


def select_contacts(contacts: dict[str, Contact], selector: dict[str, Any]) -> list[Contact]:
    """Manifest contacts matching a tags selector."""
    all_ = set(selector.get("tags_all") or ())
    any_ = set(selector.get("tags_any") or ())
    none = set(selector.get("tags_none") or ())
    picked: dict[tuple[str, ...], bool] = {}  # by tags: 150,000 contacts carry a few distinct tag sets
    out = []
    for contact in contacts.values():
        chosen = picked.get(contact.tags)
        if chosen is None:
            tags = set(contact.tags)
            chosen = picked[contact.tags] = bool(all_ <= tags and (not any_ or tags & any_) and not (tags & none))
        if chosen:
            out.append(contact)
    return out
