"""Import from Clarky: a pipeline's cards and their contacts. Sequence members cannot be imported:
Clarky documents no way to list a template's enrollments, so the output says so in a comment.

Contacts are listed once (filtered by the pipeline's bot) before the cards, so each card's contact
is known when the card is written; a contact of another bot is fetched by id.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.importer import Context, unsupported
from reconciler.importer.cards import CardRow, check_not_declared, write_pipeline
from reconciler.importer.contacts import Person, clean_person
from reconciler.providers.clarky.discover import ClarkyDiscovery


def _strings(items: Any, key: str) -> list[str]:
    """An emails / phone_numbers array in either documented shape, primary first."""
    out: list[tuple[bool, str]] = []
    for item in items or []:
        if isinstance(item, str):
            out.append((False, item))
        elif isinstance(item, Mapping) and item.get(key):
            out.append((bool(item.get("is_primary")), str(item[key])))
    return [v for _, v in sorted(out, key=lambda pair: not pair[0])]


def person(data: Mapping[str, Any]) -> Person:
    return clean_person(data.get("first_name"), data.get("last_name"), _strings(data.get("emails"), "email"),
                        _strings(data.get("phone_numbers"), "phone_number"), data.get("company"), data.get("job_title"))


def import_pipeline(ctx: Context, name: str) -> None:
    disc = ClarkyDiscovery(ctx.provider)
    remote = disc.pipeline(name)
    check_not_declared(ctx, str(remote["id"]), str(remote.get("name")))
    stages = disc.stage_names(remote["id"])
    people: dict[str, Person] = {}
    for n, data in enumerate(disc.contacts(remote.get("bot_id")), 1):
        people[str(data.get("id"))] = person(data)
        if n % 100 == 0:
            ctx.progress(f"{n:,} contacts")

    def person_of(contact_id: str) -> Person | None:
        if contact_id not in people:
            data = disc.contact(contact_id)
            if data is None:
                return None
            people[contact_id] = person(data)
        return people[contact_id]

    rows = (CardRow(str(c["id"]), c.get("contact_id"), stages.get(c.get("pipeline_stage_id") or "", ""),
                    c.get("title") or "", c.get("description") or None, tuple(str(t) for t in c.get("tags") or ()),
                    c.get("archived_at") is not None)
            for c in disc.cards(remote["id"]))
    taken = {p.id for p in ctx.existing.pipelines}
    head = {"id": ctx.unique_id(str(remote.get("name") or remote["id"]), taken), "provider": ctx.provider_name,
            "pipeline": str(remote.get("name") or remote["id"]), "stage_policy": "initial"}
    write_pipeline(ctx, head, rows, person_of)
    ctx.write_contacts()


def import_sequence(ctx: Context, template: str) -> None:
    """No members can be discovered: a commented stub and a clear warning, never a guess."""
    ctx.writer.comment(
        f"Clarky cannot list who is enrolled in template {template}: its API has no list of enrollments,\n"
        "so `campaignctl import` cannot discover the members of a Clarky sequence.\n"
        "Declaring members here makes the next apply start them: contacts that campaignctl enrolled before\n"
        "are safe (the deterministic idempotency key returns the original enrollment), but people someone\n"
        "enrolled through the Clarky UI WOULD BE ENROLLED AGAIN. Only add members you know are not enrolled.\n"
        "Pipelines and cards import fine: `campaignctl import "
        f"{ctx.provider_name} --pipeline NAME`.\n"
        "\n"
        "sequences:\n"
        f"  - id: {ctx.unique_id(template, {s.id for s in ctx.existing.sequences})}\n"
        f"    provider: {ctx.provider_name}\n"
        f"    template: {template}\n"
        "    members: []")
    ctx.result.skipped.append(f"members of Clarky template {template} (not listable)")
    ctx.result.warnings.append(f"Clarky cannot list enrollments: no members of template {template} were imported "
                               "(see the comment in the output before declaring any)")


def import_sourcing(ctx: Context, sourcing: str) -> None:
    raise unsupported(ctx, "--sourcing", "sourcings are a Kalent feature; use --pipeline for Clarky")
