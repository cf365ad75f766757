"""`import --pipeline`: a vendor's pipeline of cards (pipeline cards, or deals, as each vendor calls
them) as a manifest pipeline with `cards:` entries, written as listed, from what the vendor's
discovery found (providers/discovered.py).

The contacts are listed first, so each card's contact is known when the card is written; one a
card names that the list did not hold is asked for by id. One card per (pipeline, contact) is
declared: the first active card listed for a contact wins, later ones are commented out (the
plan's read warns about such duplicates too).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from reconciler.importer import Context, unsupported
from reconciler.importer.contacts import Person, person
from reconciler.model import Address
from reconciler.providers.discovered import CardDiscovery, FoundCard, FoundPipeline

PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
CARD_INDENT = 6


def import_pipeline(ctx: Context, disc: CardDiscovery, name: str) -> None:
    """The live pipeline `name` (name or id), its cards and the contacts they name."""
    remote = disc.pipeline(name)
    check_not_declared(ctx, remote)
    people: dict[str, Person] = {}
    for n, found in enumerate(disc.contacts(remote), 1):
        people[found.remote_id] = person(found)
        if n % disc.page == 0:
            ctx.progress(f"{n:,} contacts")

    def person_of(contact_id: str) -> Person | None:
        if contact_id not in people:
            found = disc.contact(contact_id)
            if found is None:
                return None
            people[contact_id] = person(found)
        return people[contact_id]

    write_pipeline(ctx, remote, disc.cards(remote), person_of)
    ctx.write_contacts()


def write_pipeline(ctx: Context, remote: FoundPipeline, rows: Iterable[FoundCard],
                   person_of: Callable[[str], Person | None]) -> None:
    """`pipelines: - {head} cards: [...]`, one card at a time, then the adoption list."""
    pipe_id = ctx.unique_id(remote.label, {p.id for p in ctx.existing.pipelines})
    ctx.writer.section("pipelines")
    ctx.writer.open_item({"id": pipe_id, "provider": ctx.provider_name, "pipeline": remote.label,
                          "stage_policy": "initial"}, "cards")
    seen: dict[str, str] = {}
    archived = 0
    for n, row in enumerate(rows, 1):
        if n % 100 == 0:
            ctx.progress(f"{n:,} cards")
        if row.archived:
            archived += 1
            continue
        if not row.contact_remote_id:
            ctx.skip(f"card {row.remote_id} ({row.title!r}) has no contact")
            continue
        found = person_of(row.contact_remote_id)
        cid = ctx.book.add(found) if found is not None else None
        if cid is None:
            ctx.skip(f"card {row.remote_id} ({row.title!r}): its contact has no valid email or E.164 phone")
            continue
        if cid in seen:
            ctx.skip(f"card {row.remote_id} ({row.title!r}): contact {cid} already has card {seen[cid]} here")
            continue
        if PLACEHOLDER.search(row.title) or PLACEHOLDER.search(row.description or ""):
            ctx.skip(f"card {row.remote_id}: its title or description contains {{...}}, read as a placeholder")
            continue
        seen[cid] = row.remote_id
        card: dict[str, Any] = {"contact": cid, "stage": row.stage, "title": row.title}
        if row.description:
            card["description"] = row.description
        tags = sorted({t for t in row.tags if t != ctx.tag})
        if tags:
            card["tags"] = tags
        ctx.writer.item(card, CARD_INDENT)
        ctx.result.cards += 1
        if ctx.tag not in row.tags:
            ctx.result.adopt.append((Address(ctx.provider_name, "card", pipe_id, cid), row.remote_id))
    if not seen:
        ctx.writer.out.write(" " * CARD_INDENT + "[]\n")
    if archived:
        ctx.writer.comment(f"{archived} archived card(s) not imported", indent=CARD_INDENT)


def check_not_declared(ctx: Context, remote: FoundPipeline) -> None:
    """A live pipeline the directory already declares cannot be imported a second time."""
    for pipe in ctx.existing.pipelines:
        if pipe.provider == ctx.provider_name and pipe.pipeline in (remote.remote_id, remote.name):
            raise unsupported(ctx, f"pipeline {remote.label!r}", f"already declared as {pipe.id!r} at {pipe.loc}")
