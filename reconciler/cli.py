"""The campaignctl command line: the only module that prints, prompts and chooses exit codes.

Exit codes: 0 success / in sync; 1 any error (usage errors included); 2 success with changes
present (`plan --detailed-exitcode`) or drift found (`drift`).
"""

from __future__ import annotations

import functools
import logging
import sys
import traceback
from pathlib import Path
from typing import Any, Callable

import click

from reconciler import __version__
from reconciler.errors import ManifestError, ReconcilerError

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class Exit(Exception):
    """Raised by a command to leave with a specific exit code after printing."""

    def __init__(self, code: int) -> None:
        self.code = code


def handle_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Turn ReconcilerError into readable lines on stderr and exit 1; tracebacks only with -v."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        verbose = (ctx.obj or {}).get("verbose", False)
        try:
            return func(*args, **kwargs)
        except Exit as done:
            ctx.exit(done.code)
        except ManifestError as exc:
            for p in exc.problems:
                click.echo(str(p), err=True)
            click.echo(f"{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''} found.", err=True)
        except ReconcilerError as exc:
            if verbose:
                traceback.print_exc()
            click.echo(f"error: {exc}", err=True)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
        except Exception as exc:  # noqa: BLE001 - last line of defence: one line, never a traceback
            if verbose:
                traceback.print_exc()
            click.echo(f"internal error: {type(exc).__name__}: {exc} (run with -v for details)", err=True)
        ctx.exit(EXIT_ERROR)

    return wrapper


class Group(click.Group):
    """Usage errors exit 1, as SPEC §3 fixes, instead of click's 2 (2 means 'changes present')."""

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            rv = super().main(*args, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(EXIT_ERROR)
        except click.exceptions.Abort:
            click.echo("Aborted.", err=True)
            sys.exit(EXIT_ERROR)
        sys.exit(rv if isinstance(rv, int) else EXIT_OK)


@click.group(cls=Group)
@click.version_option(__version__, prog_name="campaignctl")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs and tracebacks.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """campaignctl: outbound sequences and CRM pipelines as code (plan, apply, drift)."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)


DIR_ARG = click.argument("directory", default="campaigns", type=click.Path(path_type=Path))


@main.command()
@DIR_ARG
@handle_errors
def validate(directory: Path) -> None:
    """Check manifests offline (schema and semantics); no network."""
    from reconciler.desired import load_desired

    desired = load_desired(directory)
    parts = []
    for name, counts in desired.summary().items():
        ptype = desired.project.providers[name].type
        bits = [f"{n} {k if n != 1 else k[:-1]}" for k, n in counts.items() if n]
        parts.append(f"{name} ({ptype}): {', '.join(bits) or 'nothing'}")
    click.echo(f"Valid: {len(desired.contacts)} contacts; " + "; ".join(parts) + ".")
