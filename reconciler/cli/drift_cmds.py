"""drift: the read-only health report for cron (README "Drift detection from cron", docs/drift-json.md).

Choices campaignctl makes:
- The fingerprint is stored only after the notification (if any) went out, so a failed POST
  leaves it where it was and the next run notifies again.
- Without --notify the fingerprint is still stored: "changed since the last run" means the last
  drift run, whether or not it notified.
- Ages (stuck generating, pending approval) are measured on the in-process sandbox's clock when a
  provider uses it, so `sandbox advance` ages enrollments; otherwise on the session's clock
  (reconciler/orchestrate.py, drift_now).
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from reconciler.cli.app import (
    DIR_ARG,
    DIR_OPTION,
    EXIT_CHANGES,
    Exit,
    command_session,
    handle_errors,
    main,
    pick_dir,
)
from reconciler.cli.plan_cmds import MAX_CHARS


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
    from reconciler.drift import notify_payload, render_drift_markdown, render_drift_text
    from reconciler.notify import check_url, post_json
    from reconciler.orchestrate import record_drift, run_drift

    if notify_url:
        check_url(notify_url)  # before any read: a bad URL is an error of this run, not of the next
    with command_session(directory) as session:
        result = run_drift(session)
        report = result.report
        if fmt == "json":
            click.echo(json.dumps(report.to_dict(), indent=2, sort_keys=True, ensure_ascii=False))
        elif fmt == "markdown":
            click.echo(render_drift_markdown(report, budget=max_chars), nl=False)
        else:
            click.echo(render_drift_text(report), nl=False)
        for warning in result.live.warnings:
            click.echo(f"warning: {warning}", err=True)
        # Transitions only: new or different drift, and once when it clears.
        if notify_url and result.changed:
            post_json(notify_url, notify_payload(report, directory.resolve().name))
            click.echo("Notified: " + ("drift changed." if report.drifted else "drift cleared."), err=True)
        record_drift(session, result)
    if report.drifted:
        raise Exit(EXIT_CHANGES)
