"""`campaignctl import`: read a live account (GET only) and write manifest YAML that validates as
is, and record which untagged cards the next apply adopts.

Choices campaignctl makes:
- The directory's existing manifests are read first: contacts it already declares (same identity)
  are referenced, not repeated; a pipeline, sequence or blueprint it already manages is an error
  (two declarations of one live object would fight); new ids never clash with existing ones.
- Imported cards use `stage_policy: initial`, so the people who move cards today keep doing so.
- Archived cards, cards without a contact and titles with `{...}` (read as placeholders) are not
  imported; a comment in the output says which and why.
- Adoption is recorded in the state store only after the whole document was written.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from reconciler.errors import ConfigError
from reconciler.importer.contacts import ContactBook, slug
from reconciler.importer.writer import ManifestWriter
from reconciler.model import Address, DesiredState, StateSettings
from reconciler.providers import vendors
from reconciler.state import open_store


@dataclass
class ImportResult:
    """What one import wrote and recorded."""

    contacts: int = 0
    cards: int = 0
    members: int = 0
    blueprints: int = 0
    adopt: list[tuple[Address, str]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        bits = [f"{self.contacts} new contacts"]
        if self.cards:
            bits.append(f"{self.cards} cards ({len(self.adopt)} to adopt)")
        if self.members:
            bits.append(f"{self.members} members")
        if self.blueprints:
            bits.append(f"{self.blueprints} blueprints")
        if self.skipped:
            bits.append(f"{len(self.skipped)} skipped (see the comments)")
        return "Imported " + ", ".join(bits) + "."


@dataclass
class Context:
    """Inputs every vendor importer shares."""

    provider_name: str
    provider: Any
    existing: DesiredState
    writer: ManifestWriter
    book: ContactBook
    progress: Callable[[str], None]
    result: ImportResult = field(default_factory=ImportResult)

    @property
    def tag(self) -> str:
        return self.existing.project.ownership_tag

    def unique_id(self, name: str, taken: set[str]) -> str:
        """A manifest key from a live name that no existing declaration of the same kind uses."""
        base = slug(name)[:100]
        cid, n = base, 2
        while cid in taken:
            cid, n = f"{base}-{n}", n + 1
        taken.add(cid)
        return cid

    def write_contacts(self) -> None:
        """The new contacts, after the objects that reference them."""
        if not self.book.new:
            return
        self.writer.section("contacts")
        for cid, person in self.book.new.items():
            self.writer.item(person.manifest(cid))
        self.result.contacts = len(self.book.new)

    def skip(self, what: str) -> None:
        self.result.skipped.append(what)
        self.writer.comment(f"not imported: {what}", indent=6)


def header(argv: list[str]) -> str:
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return (f"Imported by `campaignctl {shlex.join(argv)}` on {stamp} (read-only: nothing was sent or changed).\n"
            "Review, commit, then `campaignctl plan`: imported objects show as unchanged, except `adopt` for cards\n"
            "without the ownership tag, which the next `apply` tags (it sends nothing).")


def run_import(ctx: Context, *, pipeline: str | None, sequence: str | None, sourcing: str | None) -> ImportResult:
    """Dispatch to the vendor importer; the caller owns the output stream and the provider."""
    ptype = ctx.existing.project.providers[ctx.provider_name].type
    spec = vendors.spec(ptype)
    if spec.importer is None:
        raise unsupported(ctx, ptype, "this vendor has no importer")
    vendor = spec.importer()  # the vendor's own module (VendorSpec.importer)
    if pipeline is not None:
        vendor.import_pipeline(ctx, pipeline)
    elif sequence is not None:
        vendor.import_sequence(ctx, sequence)
    else:
        vendor.import_sourcing(ctx, sourcing or "")
    return ctx.result


def record_adoptions(settings: StateSettings, adopt: list[tuple[Address, str]]) -> None:
    """Remember the untagged cards the next apply tags (plan shows them as `adopt`)."""
    if not adopt:
        return
    store = open_store(settings)
    try:
        for address, remote_id in adopt:
            store.adopt(address, remote_id)
    finally:
        store.close()


def unsupported(ctx: Context, what: str, why: str) -> ConfigError:
    return ConfigError(f"import {ctx.provider_name}: {what}: {why}")


__all__ = ["Context", "ImportResult", "header", "record_adoptions", "run_import", "unsupported"]
