"""import: write manifest YAML for what a live account already has (read-only).

Choices campaignctl makes:
- Output goes to stdout unless --out; --out refuses to overwrite an existing file without
  --force, and writes FILE.partial first, renamed into place only when the import completed.
- Exactly one of --pipeline, --sequence, --sourcing. Progress and the summary go to stderr.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.app import Progress, handle_errors, main
from reconciler.errors import ConfigError

if TYPE_CHECKING:  # imported lazily below: the commands stay quick to start
    from reconciler.model import DesiredState


def _existing(directory: Path, out: Path | None) -> DesiredState:
    """The directory's desired state, ignoring the output file itself (re-import with --force)."""
    from dataclasses import replace

    from reconciler.desired import load_desired

    desired = load_desired(directory)
    if out is None or not out.exists():
        return desired
    target = out.resolve()

    def elsewhere(obj: Any) -> bool:
        return Path(obj.loc.file).resolve() != target

    return replace(desired, contacts={k: c for k, c in desired.contacts.items() if elsewhere(c)},
                   sequences=tuple(filter(elsewhere, desired.sequences)),
                   pipelines=tuple(filter(elsewhere, desired.pipelines)),
                   blueprints=tuple(filter(elsewhere, desired.blueprints)))


@main.command("import")
@click.argument("provider_name", metavar="PROVIDER")
@click.option("--pipeline", help="A pipeline (name or id): its cards/deals and their contacts.")
@click.option("--sequence", help="A sequence (the vendor sequence, template or blueprint, by name or id): its members.")
@click.option("--sourcing", help="A sourcing (name or id), where the vendor has them: its blueprints and candidates.")
@click.option("--out", type=click.Path(path_type=Path), help="Write to FILE instead of stdout.")
@click.option("--force", is_flag=True, help="Overwrite --out FILE if it exists.")
@click.option("--dir", "directory", default="campaigns", show_default=True, type=click.Path(path_type=Path),
              help="The campaigns directory (its campaignctl.yaml names PROVIDER; its state records adoptions).")
@handle_errors
def import_(provider_name: str, pipeline: str | None, sequence: str | None, sourcing: str | None, out: Path | None,
            force: bool, directory: Path) -> None:
    """Write manifest YAML for a live pipeline, sequence or sourcing; sends and changes nothing."""
    from reconciler.importer import Context, header, record_adoptions, run_import
    from reconciler.importer.contacts import ContactBook
    from reconciler.importer.writer import ManifestWriter
    from reconciler.providers import build_providers

    if sum(x is not None for x in (pipeline, sequence, sourcing)) != 1:
        raise ConfigError("import needs exactly one of --pipeline, --sequence, --sourcing")
    if out is not None and out.exists() and not force:
        raise ConfigError(f"{out} exists; pass --force to overwrite it")
    existing = _existing(directory, out)
    if provider_name not in existing.project.providers:
        names = ", ".join(sorted(existing.project.providers)) or "none"
        raise ConfigError(f"no provider {provider_name!r} in {directory / 'campaignctl.yaml'} (providers: {names})")
    providers, hub = build_providers(existing.project, env=os.environ)
    partial = out.with_name(out.name + ".partial") if out is not None else None
    progress = Progress("Importing")
    try:
        stream = open(partial, "w", encoding="utf-8") if partial else sys.stdout  # noqa: SIM115 - closed below
        try:
            writer = ManifestWriter(stream)
            flag, value = next((f, v) for f, v in (("--pipeline", pipeline), ("--sequence", sequence),
                                                   ("--sourcing", sourcing)) if v is not None)
            writer.comment(header(["import", provider_name, flag, value]))
            ctx = Context(provider_name, providers[provider_name], existing, writer, ContactBook(existing),
                          lambda note: progress.show(note))
            result = run_import(ctx, pipeline=pipeline, sequence=sequence, sourcing=sourcing)
            writer.flush()
        finally:
            if partial:
                stream.close()
        if partial and out:
            os.replace(partial, out)
        record_adoptions(existing.project.state, result.adopt)
    finally:
        progress.finish()
        if partial and partial.exists():
            partial.unlink()
        for provider in providers.values():
            provider.close()
        if hub is not None:
            hub.store.close()
    for warning in result.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(result.summary() + (f" Wrote {out}." if out else ""), err=True)
    if result.adopt:
        click.echo(f"Recorded {len(result.adopt)} card(s) for adoption: the next plan shows them as `adopt`.", err=True)
