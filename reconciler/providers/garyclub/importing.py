"""Import from Gary Club: a pipeline's deals as cards (reconciler/importer/cards.py) or a sequence's
enrollments as members, with their contacts, on GaryClubDiscovery. The contact list is read once,
first, so every reference is known when the item is written. Every enrollment, in any status, is a
membership (once-only): imported members are never enrolled again.
"""

from __future__ import annotations

from reconciler.importer import Context, cards, unsupported
from reconciler.importer.contacts import Person, person
from reconciler.providers.garyclub.discover import GaryClubDiscovery


def _people(ctx: Context, disc: GaryClubDiscovery) -> dict[str, Person]:
    people: dict[str, Person] = {}
    for n, found in enumerate(disc.contacts(), 1):
        people[found.remote_id] = person(found)
        if n % disc.page == 0:
            ctx.progress(f"{n:,} contacts")
    return people


def import_pipeline(ctx: Context, name: str) -> None:
    cards.import_pipeline(ctx, GaryClubDiscovery(ctx.provider), name)


def import_sequence(ctx: Context, name: str) -> None:
    disc = GaryClubDiscovery(ctx.provider)
    remote = disc.sequence(name)
    for seq in ctx.existing.sequences:
        if seq.provider == ctx.provider_name and seq.target in (remote.remote_id, remote.name):
            raise unsupported(ctx, f"sequence {remote.name!r}", f"already declared as {seq.id!r} at {seq.loc}")
    people = _people(ctx, disc)
    head = {"id": ctx.unique_id(remote.label, {s.id for s in ctx.existing.sequences}),
            "provider": ctx.provider_name, "sequence": remote.label}
    if not remote.active:
        ctx.writer.comment(f"sequence {remote.name!r} is {remote.status}: new members wait until it is active")
    ctx.writer.section("sequences")
    ctx.writer.open_item(head, "members")
    seen: set[str] = set()
    for n, item in enumerate(disc.enrollments(remote), 1):
        if n % disc.page == 0:
            ctx.progress(f"{n:,} enrollments")
        contact = item.contact_remote_id or ""
        found = people.get(contact)
        cid = ctx.book.add(found) if found is not None else None
        if cid is None:
            ctx.skip(f"enrollment {item.remote_id}: its contact {contact or '?'} has no valid email or E.164 phone")
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
