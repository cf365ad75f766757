"""drift: the read-only health report for cron."""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.cli.app import DIR_ARG, EXIT_CHANGES, Exit, handle_errors, main


@main.command()
@DIR_ARG
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--notify", "notify_url", metavar="URL", help="POST a JSON summary (with a Slack `text`) when the drift changed since the last run.")
@handle_errors
def drift(directory: Path, fmt: str, notify_url: str | None) -> None:
    """Report what changed outside the manifests; never writes to any vendor. Exit 2 when drift is found."""
    from reconciler.drift import build_report, notify_payload, render_drift_markdown, render_drift_text
    from reconciler.engine import make_plan, open_session, read_live
    from reconciler.notify import post_json

    with open_session(directory) as session:
        live = read_live(session, refresh=True, read_only=True)
        plan = make_plan(session, live)
        ours = {row.address for row in session.store.journal() if row.operation == "archive"}
        report = build_report(plan, live, archived_by_us=ours)
        previous = session.store.get_meta("drift.fingerprint")
        fingerprint = report.fingerprint()
        if fmt == "json":
            click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
        elif fmt == "markdown":
            click.echo(render_drift_markdown(report), nl=False)
        else:
            click.echo(render_drift_text(report), nl=False)
        # Notify on transitions only: new or different drift, and once when it clears.
        changed = fingerprint != previous and (report.drifted or previous is not None)
        if notify_url and changed:
            post_json(notify_url, notify_payload(report, directory.resolve().name))
            click.echo("Notified.", err=True)
        if report.drifted:
            session.store.set_meta("drift.fingerprint", fingerprint)
        elif previous is not None:
            session.store.set_meta("drift.fingerprint", None)
    if report.drifted:
        raise Exit(EXIT_CHANGES)
