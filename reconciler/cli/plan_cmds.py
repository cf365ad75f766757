"""validate, plan and apply."""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import click

from reconciler.cli.app import (
    DIR_ARG,
    DIR_OPTION,
    EXIT_CHANGES,
    EXIT_ERROR,
    Exit,
    Progress,
    command_session,
    handle_errors,
    is_tty,
    main,
    pick_dir,
    use_color,
)
from reconciler.cli.signals import ApplyInterrupted, ApplySignals, signal_name
from reconciler.comment import DEFAULT_BUDGET, Masker
from reconciler.errors import ConfigError, UnsafePlanError
from reconciler.plan_types import Plan
from reconciler.render import render_json, render_markdown, render_text

if TYPE_CHECKING:  # the apply sequence is imported when a command runs: `--help` and `validate` stay quick
    from reconciler.apply_report import ApplyReport
    from reconciler.model import DesiredState
    from reconciler.orchestrate import ApplyRequest, ApplyRun


@main.command()
@DIR_ARG
@DIR_OPTION
@handle_errors
def validate(directory: Path | None, dir_option: Path | None) -> None:
    """Check manifests offline (schema and semantics); no network."""
    from reconciler.desired import load_desired

    directory = pick_dir(directory, dir_option)
    desired = load_desired(directory)
    parts = []
    for name, counts in desired.summary().items():
        ptype = desired.project.providers[name].type
        bits = [f"{n} {k if n != 1 else k[:-1]}" for k, n in counts.items() if n]
        parts.append(f"{name} ({ptype}): {', '.join(bits) or 'nothing'}")
    click.echo(f"Valid: {len(desired.contacts)} contacts; " + "; ".join(parts) + ".")


def write_private(path: Path, text: str, option: str) -> None:
    """Write a file readable by its owner only (plan files carry contact data); a clear error naming
    the option when it cannot be written."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot be written ({exc.strerror or exc})") from None


def check_writable(path: Path | None, option: str) -> None:
    """Before any network request or vendor write: refuse an output file that cannot be written (a
    directory, a missing directory, no permission), so it is not found only after irreversible sends.
    A file this check creates is removed again; an existing one is left untouched."""
    if path is None:
        return
    if path.is_dir():
        raise ConfigError(f"{option} {path}: is a directory; give a file path")
    if not path.parent.is_dir():
        raise ConfigError(f"{option} {path}: directory {path.parent} does not exist")
    existed = path.exists()
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    except OSError as exc:
        raise ConfigError(f"{option} {path}: cannot be written ({exc.strerror or exc})") from None
    if not existed:
        path.unlink(missing_ok=True)


def pii_names(desired: DesiredState) -> set[str]:
    names: set[str] = set()
    for contact in desired.contacts.values():
        names.update(n for n in (contact.first_name, contact.last_name, contact.id) if n)
    return names


@contextmanager
def reading() -> Iterator[Callable[[str], None]]:
    """Progress while every vendor is read; yields the read's progress callback."""
    progress = Progress("Reading live state")
    try:
        yield lambda note: progress.show(note)
    finally:
        progress.finish()


@contextmanager
def ticking(progress: Progress, every: float = 0.5) -> Iterator[Callable[[str], None]]:
    """Redraw `progress` while work runs, so one slow change (a throttled vendor) still shows a line
    every few seconds; yields the step callback. Progress itself decides when a line is due."""
    lock = threading.Lock()
    stop = threading.Event()

    def tick() -> None:
        while not stop.wait(every):
            with lock:
                progress.show()

    def step(note: str) -> None:
        with lock:
            progress.step(note)

    thread = threading.Thread(target=tick, name="apply-progress", daemon=True)
    thread.start()
    try:
        yield step
    finally:
        stop.set()
        thread.join()
        progress.finish()


MAX_CHARS = click.option("--max-chars", type=click.IntRange(min=2_000), default=DEFAULT_BUDGET, show_default=True,
                         help="Markdown: stay under this many characters (a GitHub comment holds 65,536).")
TARGET = click.option("--target", "targets", multiple=True, metavar="GLOB",
                      help="Only changes whose address matches (repeatable).")


ALLOW_LARGE = click.option("--allow-large", is_flag=True,
                           help="Allow more new enrollments than max_new_memberships_per_apply.")
FORCE = click.option("--force", is_flag=True,
                     help="Allow removals above max_removal_fraction and emptying a managed set.")


@main.command()
@DIR_ARG
@DIR_OPTION
@click.option("--out", type=click.Path(path_type=Path), help="Save the plan (JSON, mode 0600) for `apply PLAN`.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "markdown"]), default="text", show_default=True)
@click.option("--detailed-exitcode", is_flag=True, help="Exit 2 when apply would have something to do.")
@TARGET
@click.option("--full", is_flag=True, help="List every change, not the first 20 per group.")
@click.option("--mask-pii", is_flag=True, help="Mask emails, phones and names (for PR comments).")
@MAX_CHARS
@click.option("--full-plan-link", metavar="TEXT",
              help="Markdown: where the full plan is (an artifact name or URL); the comment points there.")
@click.option("--text-out", type=click.Path(path_type=Path),
              help="Also write the full text plan, every change listed (masked with --mask-pii), mode 0600.")
@click.option("--refresh", is_flag=True, help="Re-read every non-final enrollment status, ignoring the cache.")
@ALLOW_LARGE
@FORCE
@handle_errors
def plan(directory: Path | None, dir_option: Path | None, out: Path | None, fmt: str, detailed_exitcode: bool,
         targets: tuple[str, ...], full: bool, mask_pii: bool, max_chars: int, full_plan_link: str | None,
         text_out: Path | None, refresh: bool, allow_large: bool, force: bool) -> None:
    """Diff the manifests against the live vendor APIs; writes nothing to any vendor."""
    from reconciler.orchestrate import apply_has_work, refusals, run_plan

    directory = pick_dir(directory, dir_option)
    check_writable(out, "--out")
    check_writable(text_out, "--text-out")
    with command_session(directory) as session:
        with reading() as progress:
            result = run_plan(session, targets=targets, refresh=refresh, progress=progress)
        names = pii_names(session.desired)
    the_plan, live = result.plan, result.live
    if fmt == "json":
        click.echo(render_json(the_plan), nl=False)
    elif fmt == "markdown":
        click.echo(render_markdown(the_plan, mask_pii=mask_pii, names=names, budget=max_chars,
                                   full_plan=full_plan_link), nl=False)
    else:
        click.echo(render_text(the_plan, full=full, color=use_color()), nl=False)
    if text_out:
        text = render_text(the_plan, full=True)
        write_private(text_out, Masker(names)(text) if mask_pii else text, "--text-out")
    refused = refusals(the_plan, allow_large, force)   # shown in full above; refused as apply would refuse it
    if refused:
        click.echo(f"error: {'; '.join(f'{reason} (apply needs {flag})' for flag, reason in refused)}", err=True)
    if out:
        # Relative to the plan file, so `apply PLAN` works from any directory and on another checkout.
        data = the_plan.to_dict() | {"campaigns_dir": os.path.relpath(directory.resolve(), out.resolve().parent)}
        write_private(out, json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n", "--out")
        flags = "".join(f" {flag}" for flag in sorted({flag for flag, _ in the_plan.safety}))
        if refused:
            click.echo(f"Saved plan to {out}; only if this rollout is intended, apply it with "
                       f"`campaignctl apply {out}{flags}`.", err=True)
        else:
            click.echo(f"Saved plan to {out}; apply it with `campaignctl apply {out}{flags}`.", err=True)
    if refused:
        raise Exit(EXIT_ERROR)
    if detailed_exitcode and apply_has_work(the_plan, live):
        raise Exit(EXIT_CHANGES)


def load_saved_plan(path: Path, directory: Path | None = None) -> tuple[Plan, Path]:
    """The saved plan and its campaigns directory: --dir when given, else the one recorded in the
    file (relative to the plan file), which must still be there."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        the_plan = Plan.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a campaignctl plan file ({exc})") from exc
    if directory is not None:
        return the_plan, directory
    recorded = path.resolve().parent / (data.get("campaigns_dir") or "campaigns")
    if not (recorded / "campaignctl.yaml").is_file():
        raise ConfigError(f"{path}: no campaigns directory at {recorded} (where the plan was made, relative to "
                          f"the plan file); pass --dir DIR")
    return the_plan, recorded


@main.command()
@click.argument("target_path", metavar="[DIR|PLAN]", required=False, type=click.Path(path_type=Path))
@click.option("--dir", "dir_option", type=click.Path(path_type=Path),
              help="The campaigns directory (default ./campaigns; with PLAN, where the plan was made).")
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (required without a TTY).")
@TARGET
@ALLOW_LARGE
@FORCE
@click.option("--partial", is_flag=True,
              help="With a saved plan: apply the changes that are still valid when some are stale.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), help="Write per-change results as JSON.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=0, show_default=True, metavar="SECONDS",
              help="Wait this long for another apply's lock instead of failing at once.")
@handle_errors
def apply(target_path: Path | None, dir_option: Path | None, auto_approve: bool, targets: tuple[str, ...],
          allow_large: bool, force: bool, partial: bool, report_path: Path | None, lock_timeout: float) -> None:
    """Make live match the manifests (or apply a saved plan)."""
    from reconciler.orchestrate import ApplyRequest

    check_writable(report_path, "--report")  # found now, not after the irreversible sends
    saved = target_path is not None and target_path.is_file()
    saved_plan, directory = (load_saved_plan(target_path, dir_option) if saved and target_path is not None
                             else (None, pick_dir(target_path, dir_option)))
    request = ApplyRequest(plan=saved_plan, plan_name=str(target_path), targets=targets, allow_large=allow_large,
                           force=force, partial=partial, review=not auto_approve, lock_timeout=lock_timeout,
                           holder=f"campaignctl apply ({os.environ.get('USER', 'unknown')})")
    signals = ApplySignals()
    try:
        with signals:
            report = _apply(signals, directory, request, report_path)
    except ApplyInterrupted as exc:
        click.echo(f"{signal_name(exc.signum)}: interrupted before any write; nothing was sent.", err=True)
        raise Exit(128 + exc.signum) from None
    if report is not None:
        _print_report(signals, report, report_path)


def _apply(signals: ApplySignals, directory: Path, request: ApplyRequest,
           report_path: Path | None) -> ApplyReport | None:
    """The apply sequence (reconciler/orchestrate.py) with `signals` installed (see reconciler/cli/signals.py):
    the report, or None when there is nothing to do. The lock is released before the report is printed."""
    from reconciler.orchestrate import ApplyHooks, ApplyRun

    with command_session(directory) as session:
        signals.stop = session.stop
        hooks = ApplyHooks(settled=lambda addr: click.echo(
            f"settled {addr}: the earlier enrollment exists (outcome was unknown)", err=True))
        with ApplyRun(session, request, hooks) as run:
            signals.abort = run.release  # a second SIGINT releases the lock before the process ends
            try:
                if request.fixed:
                    return _apply_fixed(signals, run, report_path)
                return _apply_reviewed(signals, run)
            finally:
                signals.abort = None


def _writing(signals: ApplySignals) -> Callable[[], None]:
    def writing() -> None:
        # Set before the first write request, which looks at the stop event after it: a signal seen
        # with `writing` still False has set that event first, so that request does not leave either.
        signals.writing = True
    return writing


def _print_report(signals: ApplySignals, report: ApplyReport, report_path: Path | None, *,
                  exit_on_failure: bool = True) -> None:
    """Every change's result, the summary line and the --report file; exits 1 unless all went well."""
    marks = {"ok": "✓", "failed": "✗", "stale": "!", "unknown": "?", "skipped": "-", "interrupted": "·"}
    for result in report.results:
        detail = f"  {result.message}" if result.message else ""
        click.echo(f"{marks[result.status]} {result.action:<9} {result.address}{detail}")
    click.echo(report.summary_line())
    if report_path:
        write_private(report_path, json.dumps(report.to_dict(), indent=2, ensure_ascii=False) + "\n", "--report")
    if signals.signum is not None:
        click.echo(f"{signal_name(signals.signum)}: stopped; the lock is released. Run apply again to finish (it "
                   "settles anything left in doubt by reading before it sends).", err=True)
        raise Exit(signals.exit_code)
    if exit_on_failure and not report.ok:
        raise Exit(EXIT_ERROR)


def _apply_reviewed(signals: ApplySignals, run: ApplyRun) -> ApplyReport | None:
    """Read every vendor, show the whole plan, ask (unless --auto-approve), then write."""
    from reconciler.errors import StaleChangeError
    from reconciler.providers import least_seconds

    with reading() as progress:
        run.hooks.reading = progress
        prepared = run.prepare()
    assert prepared.plan is not None
    click.echo(render_text(prepared.plan, color=use_color()), nl=False)
    if prepared.refused:
        raise UnsafePlanError(prepared.refused)
    if not prepared.has_work:
        click.echo("Nothing to apply.")
        return None
    try:
        run.check()
    except StaleChangeError:
        for change, why in prepared.stale:
            click.echo(f"stale: {change.address}: {why}", err=True)
        raise
    if run.request.review and not is_tty(sys.stdin):
        raise ConfigError("refusing to apply without a TTY to confirm; review the plan and pass --auto-approve")
    if run.request.review and click.prompt("Apply these changes? Only 'yes' is accepted", default="",
                                           show_default=False).strip() != "yes":
        click.echo("Apply cancelled.")
        raise Exit(EXIT_ERROR)
    run.hooks.writing = _writing(signals)  # from here on a signal stops sending and still prints the report
    run.settle()
    floor = least_seconds(prepared.todo, run.session.providers)
    with ticking(Progress("Applying", total=len(prepared.todo), floor_seconds=floor)) as step:
        run.hooks.progress = lambda r: step(r.address)
        return run.execute().report


def _apply_fixed(signals: ApplySignals, run: ApplyRun, report_path: Path | None) -> ApplyReport | None:
    """A saved plan, or --auto-approve: nobody looks at the whole plan between the read and the writes,
    so each vendor writes as soon as its own read is done (reconciler/pipeline.py)."""
    from reconciler.providers import least_seconds

    prepared = run.prepare()  # a saved plan: digest, --target and safety, before anything is read
    floor = least_seconds(prepared.todo, run.session.providers) if prepared.plan is not None else 0.0
    progress = Progress("Applying", total=0, floor_seconds=floor)
    printing = threading.Lock()

    def vendor_plan(name: str, part: Plan) -> None:
        with printing:
            click.echo(render_text(part, color=use_color()), nl=False)

    def planned(n: int) -> None:
        with printing:
            progress.total = (progress.total or 0) + n

    def settled(addr: object) -> None:
        with printing:
            click.echo(f"settled {addr}: the earlier enrollment exists (outcome was unknown)", err=True)

    with ticking(progress) as step:
        hooks = run.hooks
        hooks.vendor_plan, hooks.planned, hooks.settled = vendor_plan, planned, settled
        hooks.writing, hooks.progress = _writing(signals), lambda r: step(r.address)
        outcome = run.execute()
    if outcome.whole is not None:
        click.echo(render_text(outcome.whole, color=use_color()), nl=False)
    for change, why in outcome.stale:
        click.echo(f"stale: {change.address}: {why}", err=True)
    if (outcome.errors or outcome.stale) and outcome.report.results:
        _print_report(signals, outcome.report, report_path, exit_on_failure=False)
    outcome.raise_for_failure()
    if outcome.nothing_to_apply:
        click.echo("Nothing to apply.")
        return None
    return outcome.report
