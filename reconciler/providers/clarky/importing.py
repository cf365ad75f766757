"""Import from Clarky: a pipeline's cards and their contacts (reconciler/importer/cards.py, on
ClarkyDiscovery). Sequence members cannot be imported: Clarky documents no way to list a
template's enrollments, so the output says so in a comment.
"""

from __future__ import annotations

from reconciler.importer import Context, cards, unsupported
from reconciler.providers.clarky.discover import ClarkyDiscovery


def import_pipeline(ctx: Context, name: str) -> None:
    cards.import_pipeline(ctx, ClarkyDiscovery(ctx.provider), name)


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
