"""Import from Kalent: a sourcing's blueprints (name and steps, as the vendor returns them) and,
per blueprint, a sequence whose `candidates:` are the candidates whose latest dynamic sequence
was started from it, on KalentDiscovery.

Kalent has no list of dynamic sequences, so this reads one status per candidate of the sourcing
(the vendor's default list: every status but NOT_RETAINED). Candidates are listed as ids: Kalent
talents carry no email, so they are not turned into contacts. Members are kept in memory (ids
only) until every candidate was read, since each blueprint's list is written in one piece.
"""

from __future__ import annotations

from reconciler.errors import PlanError
from reconciler.importer import Context, unsupported
from reconciler.providers.discovered import FoundBlueprint, FoundSourcing
from reconciler.providers.kalent.discover import KalentDiscovery


def import_sourcing(ctx: Context, sourcing: str) -> None:
    disc = KalentDiscovery(ctx.provider)
    src = disc.sourcing(sourcing)
    _write(ctx, disc, src, disc.blueprints(src))


def import_sequence(ctx: Context, blueprint: str) -> None:
    """One blueprint (name or id), found in whichever sourcing has it."""
    disc = KalentDiscovery(ctx.provider)
    for src in disc.sourcings():
        hits = [b for b in disc.blueprints(src) if blueprint in (b.remote_id, b.name)]
        if hits:
            _write(ctx, disc, src, hits[:1])
            return
    raise PlanError(f"{ctx.provider_name}: no Kalent blueprint {blueprint!r} in any sourcing")


def import_pipeline(ctx: Context, pipeline: str) -> None:
    raise unsupported(ctx, "--pipeline", "Kalent has no pipelines or cards; use --sourcing or --sequence")


def _write(ctx: Context, disc: KalentDiscovery, src: FoundSourcing, blueprints: list[FoundBlueprint]) -> None:
    declared = {(b.sourcing, b.name) for b in ctx.existing.blueprints if b.provider == ctx.provider_name}
    for bp in blueprints:
        for key in (src.label, src.remote_id):
            if (key, bp.name) in declared:
                raise unsupported(ctx, f"blueprint {bp.name!r}", "already declared in this directory")
    members: dict[str, list[str]] = {bp.remote_id: [] for bp in blueprints}
    for n, cand in enumerate(disc.candidates(src), 1):
        if n % disc.page == 0:
            ctx.progress(f"{n:,} candidates")
        owner = disc.started_from(cand)
        if owner in members:
            members[owner].append(cand)
    bp_ids, seq_ids = {b.id for b in ctx.existing.blueprints}, {s.id for s in ctx.existing.sequences}
    names: dict[str, str] = {}
    if blueprints:
        ctx.writer.section("blueprints")
    for bp in blueprints:
        key = names[bp.remote_id] = ctx.unique_id(bp.name or bp.remote_id, bp_ids)
        ctx.writer.item({"id": key, "provider": ctx.provider_name, "sourcing": src.label, "name": bp.name,
                         "steps": [dict(s) for s in bp.steps]})
        ctx.result.blueprints += 1
    with_members = [bp for bp in blueprints if members[bp.remote_id]]
    if with_members:
        ctx.writer.section("sequences")
    for bp in with_members:
        ctx.writer.open_item({"id": ctx.unique_id(names[bp.remote_id], seq_ids), "provider": ctx.provider_name,
                              "blueprint": names[bp.remote_id]}, "candidates")
        for cand in members[bp.remote_id]:
            ctx.writer.value(cand, 6)
            ctx.result.members += 1
