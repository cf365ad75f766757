"""drift: the read-only health report for cron (README "Drift detection from cron", docs/drift-json.md).

Choices campaignctl makes:
- The fingerprint is stored only after the notification (if any) went out, so a failed POST
  leaves it where it was and the next run notifies again.
- Without --notify the fingerprint is still stored: "changed since the last run" means the last
  drift run, whether or not it notified.
- Ages (stuck generating, pending approval) are measured on the in-process sandbox's clock when a
  provider uses it, so `sandbox advance` ages enrollments; otherwise on the wall clock.
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

import click

from reconciler.cli.app import DIR_ARG, DIR_OPTION, EXIT_CHANGES, Exit, handle_errors, main, pick_dir
from reconciler.cli.plan_cmds import MAX_CHARS

FINGERPRINT_KEY = "drift.fingerprint"


def _now(session) -> datetime:
    if session.hub is not None and getattr(session.hub, "simulators", None):
        clock = next(iter(session.hub.simulators.values())).clock
        return datetime.fromtimestamp(clock.now(), tz=timezone.utc)
    return datetime.now(timezone.utc)


@main.command()
@DIR_ARG
@DIR_OPTION
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@MAX_CHARS
@click.option("--notify", "notify_url", metavar="URL",
              help="POST a JSON summary (with a Slack-compatible `text`) when the drift changed since the last run, "
                   "and once when it clears.")
@handle_errors
def drift(directory: Path | None, dir_option: Path | None, fmt: str, max_chars: int, notify_url: str | None) -> None:
    """Report what changed outside the manifests; never writes to any vendor. Exit 2 when drift is found."""
    directory = pick_dir(directory, dir_option)
    from reconciler.drift import build_report, notify_payload, render_drift_markdown, render_drift_text
    from reconciler.engine import make_plan, open_session, read_live
    from reconciler.notify import check_url, post_json

    if notify_url:
        check_url(notify_url)  # before any read: a bad URL is an error of this run, not of the next
    with open_session(directory) as session:
        live = read_live(session, refresh=True, read_only=True)
        plan = make_plan(session, live)
        ours = {row.address for row in session.store.journal() if row.operation == "archive"}
        report = build_report(plan, live, now=_now(session), archived_by_us=ours)
        previous = session.store.get_meta(FINGERPRINT_KEY)
        fingerprint = report.fingerprint() if report.drifted else None
        if fmt == "json":
            click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
        elif fmt == "markdown":
            click.echo(render_drift_markdown(report, budget=max_chars), nl=False)
        else:
            click.echo(render_drift_text(report), nl=False)
        for warning in live.warnings:
            click.echo(f"warning: {warning}", err=True)
        # Transitions only: new or different drift, and once when it clears.
        if notify_url and fingerprint != previous:
            post_json(notify_url, notify_payload(report, directory.resolve().name))
            click.echo("Notified: " + ("drift changed." if report.drifted else "drift cleared."), err=True)
        if fingerprint != previous:
            session.store.set_meta(FINGERPRINT_KEY, fingerprint)
    if report.drifted:
        raise Exit(EXIT_CHANGES)
