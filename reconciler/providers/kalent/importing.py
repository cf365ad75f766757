"""Import from Kalent: a sourcing's blueprints (name and steps, as the vendor returns them) and,
per blueprint, a sequence whose `candidates:` are the candidates whose latest dynamic sequence
was started from it.

Kalent has no list of dynamic sequences, so this reads one status per candidate of the sourcing
(the vendor's default list: every status but NOT_RETAINED). Candidates are listed as ids: Kalent
talents carry no email, so they are not turned into contacts. Members are kept in memory (ids
only) until every candidate was read, since each blueprint's list is written in one piece.
"""

from __future__ import annotations

from typing import Any

from reconciler.errors import PlanError
from reconciler.importer import Context, unsupported
from reconciler.providers.kalent.discover import KalentDiscovery


def import_sourcing(ctx: Context, sourcing: str) -> None:
    disc = KalentDiscovery(ctx.provider)
    src = disc.sourcing(sourcing)
    _write(ctx, disc, src, disc.blueprints(str(src["sourcingId"])))


def import_sequence(ctx: Context, blueprint: str) -> None:
    """One blueprint (name or id), found in whichever sourcing has it."""
    disc = KalentDiscovery(ctx.provider)
    for src in disc.sourcings():
        hits = [b for b in disc.blueprints(str(src["sourcingId"]))
                if blueprint in (b.get("blueprintId"), b.get("name"))]
        if hits:
            _write(ctx, disc, src, hits[:1])
            return
    raise PlanError(f"{ctx.provider_name}: no Kalent blueprint {blueprint!r} in any sourcing")


def import_pipeline(ctx: Context, pipeline: str) -> None:
    raise unsupported(ctx, "--pipeline", "Kalent has no pipelines or cards; use --sourcing or --sequence")


def _write(ctx: Context, disc: KalentDiscovery, src: dict[str, Any], blueprints: list[dict[str, Any]]) -> None:
    source_name = str(src.get("name") or src["sourcingId"])
    declared = {(b.sourcing, b.name) for b in ctx.existing.blueprints if b.provider == ctx.provider_name}
    for bp in blueprints:
        for key in (source_name, str(src["sourcingId"])):
            if (key, bp.get("name")) in declared:
                raise unsupported(ctx, f"blueprint {bp.get('name')!r}", "already declared in this directory")
    members: dict[str, list[str]] = {str(bp.get("blueprintId")): [] for bp in blueprints}
    for n, item in enumerate(disc.candidates(str(src["sourcingId"])), 1):
        if n % 50 == 0:
            ctx.progress(f"{n:,} candidates")
        cand = str((item.get("candidate") or item).get("id"))
        sequence = disc.sequence_of(cand)
        owner = disc.blueprint_of(sequence) if sequence else None
        if owner in members:
            members[owner].append(cand)
    bp_ids, seq_ids = {b.id for b in ctx.existing.blueprints}, {s.id for s in ctx.existing.sequences}
    names: dict[str, str] = {}
    if blueprints:
        ctx.writer.section("blueprints")
    for bp in blueprints:
        key = names[str(bp.get("blueprintId"))] = ctx.unique_id(str(bp.get("name") or bp.get("blueprintId")), bp_ids)
        ctx.writer.item({"id": key, "provider": ctx.provider_name, "sourcing": source_name, "name": bp.get("name"),
                         "steps": [dict(s) for s in bp.get("steps") or []]})
        ctx.result.blueprints += 1
    with_members = [bp for bp in blueprints if members[str(bp.get("blueprintId"))]]
    if with_members:
        ctx.writer.section("sequences")
    for bp in with_members:
        bp_key = names[str(bp.get("blueprintId"))]
        ctx.writer.open_item({"id": ctx.unique_id(bp_key, seq_ids), "provider": ctx.provider_name,
                              "blueprint": bp_key}, "candidates")
        for cand in members[str(bp.get("blueprintId"))]:
            ctx.writer.value(cand, 6)
            ctx.result.members += 1
