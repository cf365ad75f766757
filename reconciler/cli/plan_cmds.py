"""validate, plan and apply."""

from __future__ import annotations

import json
import re
import os
import sys
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator

import click

from reconciler.cli.app import (DIR_ARG, DIR_OPTION, EXIT_CHANGES, EXIT_ERROR, Exit, Progress, handle_errors, is_tty, main,
                                pick_dir, use_color)
from reconciler.cli.signals import ApplyInterrupted, ApplySignals, signal_name
from reconciler.errors import ConfigError, UnsafePlanError
from reconciler.plan_types import Plan
from reconciler.comment import DEFAULT_BUDGET, Masker
from reconciler.render import render_json, render_markdown, render_text

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


def target_matches(address: str, glob: str) -> bool:
    """`*` any run, `?` one character; everything else literal, so `clarky.card[sales]*` works
    (fnmatch would read `[sales]` as a character class)."""
    pattern = ".*".join(".".join(re.escape(part) for part in chunk.split("?")) for chunk in glob.split("*"))
    return re.fullmatch(pattern, address) is not None


def filter_targets(plan: Plan, targets: tuple[str, ...]) -> Plan:
    """Keep only changes whose address matches one of the --target globs. A glob that matches none of
    the planned changes is an error (a typo must not read as "No changes" while changes exist)."""
    if not targets:
        return plan

    def hit(address: object) -> bool:
        return any(target_matches(str(address), t) for t in targets)

    if plan.changes:
        missed = [t for t in targets if not any(target_matches(str(c.address), t) for c in plan.changes)]
        if missed:
            raise ConfigError("; ".join(f"--target {t!r} matches none of the {len(plan.changes):,} planned changes"
                                        for t in missed) + " (plan without --target lists their addresses)")
    return replace(plan, changes=[c for c in plan.changes if hit(c.address)],
                   diverged=[d for d in plan.diverged if hit(d.address)])


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


def pii_names(desired) -> set[str]:
    names: set[str] = set()
    for contact in desired.contacts.values():
        names.update(n for n in (contact.first_name, contact.last_name, contact.id) if n)
    return names


def read_with_progress(session, refresh: bool = False, *, read_only: bool = False):
    """read_live with progress; `read_only` for commands that must never write to a vendor (plan)."""
    from reconciler.engine import read_live

    progress = Progress("Reading live state")
    try:
        return read_live(session, refresh=refresh, read_only=read_only, progress=lambda note: progress.show(note))
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
TARGET = click.option("--target", "targets", multiple=True, metavar="GLOB", help="Only changes whose address matches (repeatable).")


def apply_has_work(plan: Plan, live) -> bool:
    """Whether `apply` would act: an executable change, or a deferred write still in doubt (apply
    settles it). Manual, skip and plain defer items alone leave nothing to apply."""
    return any(c.executable or (c.action == "defer" and c.address in live.pending) for c in plan.changes)


def refusals(plan: Plan, allow_large: bool, force: bool) -> list[tuple[str, str]]:
    """The safety limits the plan exceeds that no flag given overrides: (flag, reason)."""
    given = {"--allow-large": allow_large, "--force": force}
    return [(flag, reason) for flag, reason in plan.safety if not given.get(flag)]


ALLOW_LARGE = click.option("--allow-large", is_flag=True,
                           help="Allow more new enrollments than max_new_memberships_per_apply.")
FORCE = click.option("--force", is_flag=True, help="Allow removals above max_removal_fraction and emptying a managed set.")


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
    from reconciler.engine import make_plan, open_session

    directory = pick_dir(directory, dir_option)
    check_writable(out, "--out")
    check_writable(text_out, "--text-out")
    with open_session(directory) as session:
        live = read_with_progress(session, refresh, read_only=True)  # plan never writes, not even a replay
        the_plan = filter_targets(make_plan(session, live), targets)
        names = pii_names(session.desired)
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


def enforce_safety(the_plan: Plan, allow_large: bool, force: bool) -> None:
    refused = refusals(the_plan, allow_large, force)
    if refused:
        raise UnsafePlanError([f"{reason} (pass {flag})" for flag, reason in refused])


@main.command()
@click.argument("target_path", metavar="[DIR|PLAN]", required=False, type=click.Path(path_type=Path))
@click.option("--dir", "dir_option", type=click.Path(path_type=Path),
              help="The campaigns directory (default ./campaigns; with PLAN, where the plan was made).")
@click.option("--auto-approve", is_flag=True, help="Do not ask for confirmation (required without a TTY).")
@TARGET
@ALLOW_LARGE
@FORCE
@click.option("--partial", is_flag=True, help="With a saved plan: apply the changes that are still valid when some are stale.")
@click.option("--report", "report_path", type=click.Path(path_type=Path), help="Write per-change results as JSON.")
@click.option("--lock-timeout", type=click.FloatRange(min=0), default=0, show_default=True, metavar="SECONDS",
              help="Wait this long for another apply's lock instead of failing at once.")
@handle_errors
def apply(target_path: Path | None, dir_option: Path | None, auto_approve: bool, targets: tuple[str, ...],
          allow_large: bool, force: bool, partial: bool, report_path: Path | None, lock_timeout: float) -> None:
    """Make live match the manifests (or apply a saved plan)."""
    check_writable(report_path, "--report")  # found now, not after the irreversible sends
    saved = target_path is not None and target_path.is_file()
    saved_plan, directory = (load_saved_plan(target_path, dir_option) if saved
                             else (None, pick_dir(target_path, dir_option)))
    signals = ApplySignals()
    try:
        with signals:
            _apply(signals, target_path, directory, saved_plan, auto_approve, targets, allow_large, force, partial,
                   report_path, lock_timeout)
    except ApplyInterrupted as exc:
        click.echo(f"{signal_name(exc.signum)}: interrupted before any write; nothing was sent.", err=True)
        raise Exit(128 + exc.signum) from None


def _apply(signals: ApplySignals, target_path: Path, directory: Path, saved_plan: Plan | None, auto_approve: bool,
           targets: tuple[str, ...], allow_large: bool, force: bool, partial: bool, report_path: Path | None,
           lock_timeout: float) -> None:
    """apply, with `signals` installed: see reconciler/cli/signals.py for what SIGINT and SIGTERM do."""
    from reconciler.engine import open_session

    with open_session(directory) as session:
        signals.stop = session.stop
        holder = f"campaignctl apply ({os.environ.get('USER', 'unknown')})"
        lock_id = session.lock_id = session.store.acquire_lock(holder, timeout=lock_timeout)
        signals.abort = lambda: session.store.release_lock(lock_id)
        try:
            # --target with --auto-approve reads every vendor first: a glob is checked against the whole plan
            if saved_plan is not None or (auto_approve and not targets):
                report = _apply_fixed(signals, session, target_path, saved_plan, targets, allow_large, force,
                                      partial, report_path)
            else:
                report = _apply_confirmed(signals, session, targets, allow_large, force, partial, ask=not auto_approve)
        finally:
            signals.abort = None
            session.store.release_lock(lock_id)
    if report is not None:
        _print_report(signals, report, report_path)


def _print_report(signals: ApplySignals, report, report_path: Path | None, *, exit_on_failure: bool = True) -> None:
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


def _apply_confirmed(signals: ApplySignals, session, targets: tuple[str, ...], allow_large: bool, force: bool,
                     partial: bool, *, ask: bool = True):
    """Read every vendor, show the whole plan, ask (unless `ask` is False), then write. The report, or
    None when there is nothing to do."""
    from reconciler.apply import apply_plan, least_seconds
    from reconciler.engine import make_plan, settle_in_doubt
    from reconciler.errors import StaleChangeError
    from reconciler.plan import check_precondition

    # Read-only like plan: nothing is sent before the user said yes.
    live = read_with_progress(session, read_only=True)
    the_plan = filter_targets(make_plan(session, live), targets)
    click.echo(render_text(the_plan, color=use_color()), nl=False)
    enforce_safety(the_plan, allow_large, force)
    todo = [c for c in the_plan.changes if c.executable]
    if not apply_has_work(the_plan, live):
        click.echo("Nothing to apply.")
        return None
    stale = [(c, why) for c in todo if (why := check_precondition(c, live))]
    if stale and not partial:
        for change, why in stale:
            click.echo(f"stale: {change.address}: {why}", err=True)
        raise StaleChangeError(f"{len(stale)} change(s) no longer match live state; re-plan (or pass --partial)")
    if ask and not is_tty(sys.stdin):
        raise ConfigError("refusing to apply without a TTY to confirm; review the plan and pass --auto-approve")
    if ask and click.prompt("Apply these changes? Only 'yes' is accepted", default="",
                            show_default=False).strip() != "yes":
        click.echo("Apply cancelled.")
        raise Exit(EXIT_ERROR)
    signals.writing = True  # from here on a signal stops sending and still prints the report
    for addr in settle_in_doubt(session, live):
        click.echo(f"settled {addr}: the earlier enrollment exists (outcome was unknown)", err=True)
    floor = least_seconds(todo, session.providers)
    with ticking(Progress("Applying", total=len(todo), floor_seconds=floor)) as step:
        return apply_plan(session, the_plan, live, progress=lambda r: step(r.address))


def _apply_fixed(signals: ApplySignals, session, target_path: Path, saved_plan: Plan | None,
                 targets: tuple[str, ...], allow_large: bool, force: bool, partial: bool, report_path: Path | None):
    """A saved plan, or --auto-approve: nobody looks at the whole plan between the read and the writes,
    so each vendor writes as soon as its own read is done (reconciler/pipeline.py). The report, or
    None when there is nothing to do."""
    from reconciler.apply import least_seconds
    from reconciler.errors import StaleChangeError
    from reconciler.pipeline import FixedPlanApply

    the_plan = None
    floor = 0.0
    if saved_plan is not None:
        if saved_plan.manifest_digest != session.desired.digest:
            raise StaleChangeError(f"{target_path}: the manifests changed since this plan was made "
                                   f"(digest {saved_plan.manifest_digest[:19]}… vs {session.desired.digest[:19]}…); re-plan")
        the_plan = filter_targets(saved_plan, targets)
        enforce_safety(the_plan, allow_large, force)  # global, before anything is read or sent
        floor = least_seconds([c for c in the_plan.changes if c.executable], session.providers)
    progress = Progress("Applying", total=0, floor_seconds=floor)
    printing = threading.Lock()

    def notice(kind: str, text: str) -> None:
        with printing:
            if kind == "plan":
                click.echo(render_text(run.part(text), color=use_color()), nl=False)
            else:
                click.echo(text, err=True)

    def planned(n: int) -> None:
        with printing:
            progress.total = (progress.total or 0) + n

    def writing() -> None:
        # Set before the vendor's first request, which looks at the stop event after it: a signal seen
        # with `writing` still False has set that event first, so that request does not leave either.
        signals.writing = True

    with ticking(progress) as step:
        run = FixedPlanApply(session, plan=the_plan, allow=lambda p: [f"{reason} (pass {flag})" for flag, reason in
                                              refusals(p, allow_large, force)],
                             partial=partial, notice=notice, planned=planned, writing=writing,
                             progress=lambda r: step(r.address))
        result = run.run()
    if result.refused:
        click.echo(render_text(run.whole(), color=use_color()), nl=False)
        raise UnsafePlanError(result.refused)
    for change, why in result.stale:
        click.echo(f"stale: {change.address}: {why}", err=True)
    if result.errors or result.stale:
        if result.report.results:
            _print_report(signals, result.report, report_path, exit_on_failure=False)
        if result.errors:
            raise next(result.errors[name] for name in sorted(result.errors))
        raise StaleChangeError(f"{len(result.stale)} change(s) no longer match live state; re-plan (or pass "
                               "--partial). The other vendors' changes, which still held, were applied.")
    if not result.planned and not result.in_doubt:
        click.echo("Nothing to apply.")
        return None
    return result.report
