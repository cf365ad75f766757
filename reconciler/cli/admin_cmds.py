"""state and sandbox commands."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler.cli.app import EXIT_ERROR, Exit, handle_errors, main
from reconciler.errors import ConfigError
from reconciler.providers import vendors as vendor_specs

if TYPE_CHECKING:  # imported lazily below: the commands stay quick to start
    from reconciler.sandbox.core import FaultPlan, Hub
    from reconciler.state import Store

DIR_OPT = click.option("--dir", "directory", default="campaigns", show_default=True, type=click.Path(path_type=Path),
                       help="The campaigns directory.")


def _store(directory: Path) -> Store:
    from reconciler.desired import load_desired
    from reconciler.state import open_store

    return open_store(load_desired(directory).project.state)


@main.group()
def state() -> None:
    """Inspect the state store: cached remote ids, the write journal, the apply lock."""


@state.command("list")
@DIR_OPT
@handle_errors
def state_list(directory: Path) -> None:
    """Every address the state remembers, with its remote id and last seen status."""
    store = _store(directory)
    try:
        for addr, entry in sorted(store.cache().items(), key=lambda kv: str(kv[0])):
            status = entry.vendor_status or entry.status or ""
            click.echo(f"{addr}  {entry.remote_id or '-'}  {status}")
        lock = store.current_lock()
        if lock:
            click.echo(f"locked by {lock['holder']} (pid {lock['pid']} on {lock['host']}, "
                       f"since {lock['since']}, id {lock['id']})")
    finally:
        store.close()


@state.command("show")
@click.argument("address")
@DIR_OPT
@handle_errors
def state_show(address: str, directory: Path) -> None:
    """One address: what the state remembers and every journal entry (what was sent, when, by which apply)."""
    from reconciler.model import Address
    from reconciler.sent_enrollment import SentEnrollment

    try:
        addr = Address.parse(address)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    store = _store(directory)
    try:
        entry = store.cache().get(addr)
        if entry:
            click.echo(f"{addr}\n  remote id: {entry.remote_id}\n  status: {entry.status} ({entry.vendor_status})\n"
                       f"  attempt: {entry.attempt}\n  observed: {entry.observed_at}")
        else:
            click.echo(f"{addr}: not in the state cache")
        for row in store.journal(str(addr)):
            what = row.result if row.phase == "outcome" else "intent"
            extra = " ".join(f"{k}={v}" for k, v in (("remote_id", row.remote_id), ("request_id", row.request_id)) if v)
            sent = SentEnrollment.of(row.detail) if row.phase == "intent" else None
            if sent is not None:  # what the request carried: an in-doubt one is checked against this
                extra = (f"into {sent.target!r} for {', '.join(sent.person) or '?'}"
                         + (f" (vendor contact {sent.contact})" if sent.contact else ""))
            line = f"  {row.at}  apply {row.apply_id}  {row.operation} (attempt {row.attempt})  {what}  {extra}"
            click.echo(line.rstrip())
    finally:
        store.close()


@state.command("unlock")
@click.argument("lock_id")
@DIR_OPT
@handle_errors
def state_unlock(lock_id: str, directory: Path) -> None:
    """Clear a stale apply lock (only when no apply is running)."""
    store = _store(directory)
    try:
        store.unlock(lock_id)
    finally:
        store.close()
    click.echo(f"Lock {lock_id} cleared.")


@state.command("migrate")
@click.option("--to", "to", required=True, type=click.Choice(["postgres", "sqlite"]),
              help="Copy the SQLite file into PostgreSQL, or the PostgreSQL state into a SQLite file.")
@click.option("--path", "path", type=click.Path(path_type=Path),
              help="The SQLite file (default: state.path of the project file, .campaignctl/state.db).")
@click.option("--dsn-env", help="PostgreSQL: environment variable with the DSN (default: state.dsn_env, "
                                "CAMPAIGNCTL_STATE_DSN).")
@click.option("--schema", help="PostgreSQL: schema (default: state.schema, campaignctl).")
@click.option("--project", "project_key", help="PostgreSQL: project key (default: state.project).")
@DIR_OPT
@handle_errors
def state_migrate(to: str, path: Path | None, dsn_env: str | None, schema: str | None, project_key: str | None,
                  directory: Path) -> None:
    """Copy the whole state (cache, journal, adoptions) between SQLite and PostgreSQL and verify the copy."""
    from dataclasses import replace

    from reconciler.desired import load_desired
    from reconciler.state import open_store
    from reconciler.state_copy import copy_state
    from reconciler.state_sqlite import StateStore

    settings = load_desired(directory).project.state
    sqlite_path = path or settings.path
    pg = replace(settings, backend="postgres", dsn_env=dsn_env or settings.dsn_env, schema=schema or settings.schema,
                 project=project_key or settings.project)
    if not pg.project:
        raise ConfigError("state migrate: pass --project KEY (the project file has no state.project)")
    if to == "postgres" and not sqlite_path.is_file():
        raise ConfigError(f"state migrate: {sqlite_path}: no SQLite state file to copy (pass --path)")
    if to == "sqlite" and sqlite_path.exists() and sqlite_path.stat().st_size:
        raise ConfigError(f"state migrate: {sqlite_path} already exists; copy into a new file (pass --path)")
    source = StateStore(sqlite_path) if to == "postgres" else open_store(pg)
    try:
        target = open_store(pg) if to == "postgres" else StateStore(sqlite_path)
        try:
            # a move to PostgreSQL retires the SQLite file: an apply on it would send what the copy never sees
            counts = copy_state(source, target, retire_source=to == "postgres")
            where = (source.where, target.where)
        finally:
            target.close()
    finally:
        source.close()
    click.echo(f"Copied {counts['objects']} cached objects, {counts['journal']} journal rows, {counts['adoptions']} "
               f"adoptions and {counts['meta']} settings from {where[0]} to {where[1]}; the copy matches row by row.")
    if to == "postgres":
        click.echo(f"{where[0]} takes no apply from now on (an apply on it would send what the copy never sees).")
    if settings.backend != to:
        click.echo(f"Set `state: {{backend: {to}, ...}}` in {directory / 'campaignctl.yaml'} to use it.")


@main.group()
def sandbox() -> None:
    """The built-in vendor simulators: serve them, and trigger what people do (reply, move a card)."""


def _hub(directory: Path) -> Hub:
    from reconciler.sandbox.hub import open_project_hub

    if not (directory / "campaignctl.yaml").is_file():
        raise ConfigError(f"{directory}: no campaignctl.yaml here (pass --dir)")
    return open_project_hub(directory)


@sandbox.command("serve")
@click.option("--port", default=8799, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--faults", help="Fault plan as JSON, e.g. '{\"error_rate\": 0.1, \"drop_rate\": 0.02}'.")
@click.option("--rate-limits/--no-rate-limits", default=True, help="Simulate the vendors' rate limits.")
@DIR_OPT
@handle_errors
def sandbox_serve(port: int, faults: str | None, rate_limits: bool, directory: Path) -> None:
    """Serve every vendor's simulator on 127.0.0.1, each under /<vendor> (its base_url is printed)."""
    from reconciler.sandbox.core import FaultPlan
    from reconciler.sandbox.hub import open_project_hub
    from reconciler.sandbox.server import serve

    plan = _fault_plan(faults, FaultPlan) if faults else None
    hub = open_project_hub(directory, rate_limits=rate_limits, faults=plan)

    def ready(url: str) -> None:
        click.echo(f"Sandbox serving on {url} (Ctrl-C stops it)")
        for spec in vendor_specs.specs():
            click.echo(f"  {spec.name}: base_url: {url}/{spec.name}{spec.sandbox_root}")

    try:
        serve(hub, port=port, ready=ready)
    finally:
        hub.store.close()


def _fault_plan(text: str, plan_type: type[FaultPlan]) -> FaultPlan:
    """--faults JSON as a FaultPlan; bad JSON or a bad shape is one located line, not an internal error."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--faults: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    try:
        return plan_type.from_dict(data)
    except ValueError as exc:
        raise ConfigError(f"--faults: {exc}") from None


def _identities(directory: Path, who: str) -> dict[str, Any]:
    """A manifest contact id -> the ids each vendor knows it by; anything else is passed as is."""
    try:
        from reconciler.desired import load_desired

        contact = load_desired(directory).contacts.get(who)
    except Exception:  # noqa: BLE001 - events work on sandboxes whose manifests are mid-edit too
        contact = None
    if contact is None:
        return {spec.name: who for spec in vendor_specs.specs()}
    return {spec.name: spec.sandbox_events.person(contact) for spec in vendor_specs.specs()}


def _event(directory: Path, url: str | None, vendors: list[str], name: str,
           make_kwargs: Callable[[str], dict[str, Any] | None]) -> tuple[list[str], list[str]]:
    """Run an event on each vendor that knows it; returns (what happened, what failed), one line per vendor."""
    done: list[str] = []
    failed: list[str] = []
    if url:
        from reconciler.sandbox.server import SandboxControl

        control = SandboxControl(url)
        try:
            for vendor in vendors:
                kwargs = make_kwargs(vendor)
                if kwargs is None:
                    continue
                try:
                    done.append(f"{vendor}: {control.event(vendor, name, **kwargs)}")
                except Exception as exc:  # noqa: BLE001 - report per vendor, keep going
                    failed.append(f"{vendor}: {exc}")
        finally:
            control.close()
        return done, failed
    hub = _hub(directory)
    try:
        for vendor in vendors:
            kwargs = make_kwargs(vendor)
            if kwargs is None or name not in hub.simulators[vendor].events:
                continue
            try:
                done.append(f"{vendor}: {hub.event(vendor, name, **kwargs)}")
            except (KeyError, ValueError, LookupError) as exc:
                failed.append(f"{vendor}: {exc.args[0] if isinstance(exc, KeyError) and exc.args else exc}")
    finally:
        hub.store.close()
    return done, failed


def _report_event(done: list[str], failed: list[str], *, every_vendor_asked: bool, what: str) -> None:
    """Print the outcome; exit 1 when nothing happened, or a vendor the user named could not do it.
    (A contact one vendor does not know is normal when the user did not name the vendors.)"""
    for line in done:
        click.echo(line)
    for line in failed:
        click.echo(f"error: {line}", err=True)
    if not done and not failed:
        raise ConfigError(f"no sandbox vendor knows {what!r}")
    if failed and (not done or every_vendor_asked):
        raise Exit(EXIT_ERROR)


URL_OPT = click.option("--url", help="A running `sandbox serve` (e.g. http://127.0.0.1:8799) "
                                     "instead of the directory's sandbox.")
VENDOR_OPT = click.option("--vendor", type=click.Choice(vendor_specs.names()), multiple=True,
                          help="Only this vendor (default: every vendor that knows the contact).")


def _contact_event(name: str, directory: Path, url: str | None, vendor: tuple[str, ...], who: str) -> None:
    ids = _identities(directory, who)
    keys = {spec.name: spec.sandbox_events.person_key for spec in vendor_specs.specs()}
    vendors = list(vendor) or list(vendor_specs.names())
    done, failed = _event(directory, url, vendors, name, lambda v: {keys[v]: ids[v]} if ids.get(v) else None)
    _report_event(done, failed, every_vendor_asked=bool(vendor), what=who)


@sandbox.command("reply")
@click.argument("contact")
@VENDOR_OPT
@URL_OPT
@DIR_OPT
@handle_errors
def sandbox_reply(contact: str, vendor: tuple[str, ...], url: str | None, directory: Path) -> None:
    """CONTACT (manifest id, email, phone or vendor person id) replies; each simulator reacts as its vendor does."""
    _contact_event("reply", directory, url, vendor, contact)


@sandbox.command("unsubscribe")
@click.argument("contact")
@VENDOR_OPT
@URL_OPT
@DIR_OPT
@handle_errors
def sandbox_unsubscribe(contact: str, vendor: tuple[str, ...], url: str | None, directory: Path) -> None:
    """CONTACT unsubscribes (by default where the vendor suppresses their email/phone)."""
    suppressing = tuple(s.name for s in vendor_specs.specs() if s.sandbox_events.unsubscribe)
    _contact_event("unsubscribe", directory, url, vendor or suppressing, contact)


@sandbox.command("move-card")
@click.argument("card_id")
@click.argument("stage")
@URL_OPT
@DIR_OPT
@handle_errors
def sandbox_move_card(card_id: str, stage: str, url: str | None, directory: Path) -> None:
    """A person moves card (or deal) CARD_ID to STAGE (name or id)."""
    vendor, (name, key) = _card_vendor(card_id, "move")
    done, failed = _event(directory, url, [vendor], name, lambda v: {key: card_id, "stage": stage})
    _report_event(done, failed, every_vendor_asked=True, what=card_id)


def _card_vendor(card_id: str, what: str) -> tuple[str, tuple[str, str]]:
    """The vendor whose simulator holds CARD_ID (by its id prefix, else the one without a prefix) and
    its (event, keyword) to `what` a card (VendorSpec.sandbox_events)."""
    able = [(s.name, s.sandbox_events) for s in vendor_specs.specs()
            if (s.sandbox_events.move_card if what == "move" else s.sandbox_events.archive_card)]
    chosen = (next((v for v in able if v[1].card_prefix and card_id.startswith(v[1].card_prefix)), None)
              or next((v for v in able if not v[1].card_prefix), None) or (able[0] if able else None))
    if chosen is None:
        raise ConfigError(f"no sandbox vendor can {what} a card")
    event = chosen[1].move_card if what == "move" else chosen[1].archive_card
    assert event is not None
    return chosen[0], event


@sandbox.command("archive-card")
@click.argument("card_id")
@URL_OPT
@DIR_OPT
@handle_errors
def sandbox_archive_card(card_id: str, url: str | None, directory: Path) -> None:
    """A person archives card CARD_ID (where the vendor's cards can be archived)."""
    vendor, (name, key) = _card_vendor(card_id, "archive")
    done, failed = _event(directory, url, [vendor], name, lambda v: {key: card_id})
    _report_event(done, failed, every_vendor_asked=True, what=card_id)


@sandbox.command("advance")
@click.argument("duration")
@URL_OPT
@DIR_OPT
@handle_errors
def sandbox_advance(duration: str, url: str | None, directory: Path) -> None:
    """Move the simulated clock forward (90s, 15m, 2h, 1d): generation finishes, steps fire."""
    from reconciler.sandbox.core import parse_duration

    try:
        seconds = parse_duration(duration)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    if url:
        from reconciler.sandbox.server import SandboxControl

        control = SandboxControl(url)
        try:
            control.advance(duration)
        finally:
            control.close()
    else:
        hub = _hub(directory)
        try:
            next(iter(hub.simulators.values())).clock.advance(seconds)
        finally:
            hub.store.close()
    click.echo(f"Sandbox clock advanced by {duration}.")
