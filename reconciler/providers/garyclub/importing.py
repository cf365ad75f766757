"""Import from Gary Club: a pipeline's deals (as cards) or a sequence's enrollments (as members),
with their contacts. The contact list is read once, first, so every reference is known when the
item is written. Every enrollment, in any status, is a membership (once-only): imported members
are never enrolled again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.importer import Context, unsupported
from reconciler.importer.cards import CardRow, check_not_declared, write_pipeline
from reconciler.importer.contacts import Person, clean_person
from reconciler.providers.garyclub.discover import GaryClubDiscovery


def _list(value: Any, key: str) -> list[str]:
    if isinstance(value, str):
        return [value]
    out = []
    for item in value or []:
        if isinstance(item, str):
            out.append(item)
        elif isinstance(item, Mapping) and isinstance(item.get(key), str):
            out.append(item[key])
    return out


def person(row: Mapping[str, Any]) -> Person:
    emails = _list(row.get("email"), "email") + _list(row.get("emails"), "email")
    phones = _list(row.get("phone"), "phone") + _list(row.get("phones"), "phone")
    return clean_person(row.get("first_name"), row.get("last_name"), emails, phones,
                        row.get("company_name") or row.get("company"), row.get("title"))


def _people(ctx: Context, disc: GaryClubDiscovery) -> dict[str, Person]:
    people: dict[str, Person] = {}
    for n, row in enumerate(disc.contacts(), 1):
        people[str(row.get("id"))] = person(row)
        if n % 200 == 0:
            ctx.progress(f"{n:,} contacts")
    return people


def import_pipeline(ctx: Context, name: str) -> None:
    disc = GaryClubDiscovery(ctx.provider)
    remote = disc.pipeline(name)
    check_not_declared(ctx, str(remote["id"]), str(remote.get("name")))
    stages = disc.stage_names(str(remote["id"]))
    people = _people(ctx, disc)
    rows = (CardRow(str(d["id"]), disc.deal_contact(d), stages.get(str(d.get("stage_id") or ""), ""),
                    str(d.get("name") or ""), d.get("description") or None, disc.deal_tags(d), False)
            for d in disc.cards(str(remote["id"])))
    taken = {p.id for p in ctx.existing.pipelines}
    head = {"id": ctx.unique_id(str(remote.get("name") or remote["id"]), taken), "provider": ctx.provider_name,
            "pipeline": str(remote.get("name") or remote["id"]), "stage_policy": "initial"}
    write_pipeline(ctx, head, rows, people.get)
    ctx.write_contacts()


def import_sequence(ctx: Context, name: str) -> None:
    disc = GaryClubDiscovery(ctx.provider)
    remote = disc.sequence(name)
    for seq in ctx.existing.sequences:
        if seq.provider == ctx.provider_name and seq.target in (str(remote["id"]), str(remote.get("name"))):
            raise unsupported(ctx, f"sequence {remote.get('name')!r}", f"already declared as {seq.id!r} at {seq.loc}")
    people = _people(ctx, disc)
    head = {"id": ctx.unique_id(str(remote.get("name") or remote["id"]), {s.id for s in ctx.existing.sequences}),
            "provider": ctx.provider_name, "sequence": str(remote.get("name") or remote["id"])}
    if str(remote.get("status") or "active") != "active":
        ctx.writer.comment(f"sequence {remote.get('name')!r} is {remote.get('status')}: "
                           "new members wait until it is active")
    ctx.writer.section("sequences")
    ctx.writer.open_item(head, "members")
    seen: set[str] = set()
    for n, row in enumerate(disc.enrollments(str(remote["id"])), 1):
        if n % 200 == 0:
            ctx.progress(f"{n:,} enrollments")
        contact = str(row.get("contact_id") or "")
        found = people.get(contact)
        cid = ctx.book.add(found) if found is not None else None
        if cid is None:
            ctx.skip(f"enrollment {row.get('id')}: its contact {contact or '?'} has no valid email or E.164 phone")
            continue
        if cid not in seen:
            seen.add(cid)
            ctx.writer.value(cid, 6)
            ctx.result.members += 1
    if not seen:
        ctx.writer.out.write("      []\n")
    ctx.write_contacts()


def import_sourcing(ctx: Context, sourcing: str) -> None:
    raise unsupported(ctx, "--sourcing", "sourcings are a Kalent feature; use --sequence or --pipeline for Gary Club")
