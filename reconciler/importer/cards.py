"""Cards (pipeline cards, or deals, as each vendor calls them) as manifest `cards:` entries, written as listed.

One card per (pipeline, contact) is declared: the first active card listed for a contact wins,
later ones are commented out (the plan's read warns about such duplicates too).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from reconciler.importer import Context
from reconciler.importer.contacts import Person
from reconciler.model import Address

PLACEHOLDER = re.compile(r"\{[A-Za-z_][A-Za-z0-9_]*\}")
CARD_INDENT = 6


@dataclass(frozen=True)
class CardRow:
    """A live card in neutral terms."""

    remote_id: str
    contact_remote_id: str | None
    stage: str
    title: str
    description: str | None
    tags: tuple[str, ...]
    archived: bool


def write_pipeline(ctx: Context, head: dict[str, Any], rows: Iterable[CardRow],
                   person_of: Callable[[str], Person | None]) -> None:
    """`pipelines: - {head} cards: [...]`, one card at a time, then the adoption list."""
    pipe_id = head["id"]
    ctx.writer.section("pipelines")
    ctx.writer.open_item(head, "cards")
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
        person = person_of(row.contact_remote_id)
        cid = ctx.book.add(person) if person is not None else None
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


def check_not_declared(ctx: Context, remote_id: str, remote_name: str) -> None:
    """A live pipeline the directory already declares cannot be imported a second time."""
    from reconciler.importer import unsupported

    for pipe in ctx.existing.pipelines:
        if pipe.provider == ctx.provider_name and pipe.pipeline in (remote_id, remote_name):
            raise unsupported(ctx, f"pipeline {remote_name!r}", f"already declared as {pipe.id!r} at {pipe.loc}")
