"""The campaignctl command line: the only module that prints, prompts and chooses exit codes.

Exit codes: 0 success / in sync; 1 any error (usage errors included); 2 success with changes
present (`plan --detailed-exitcode`) or drift found (`drift`); 130 / 143 an apply stopped by SIGINT /
SIGTERM (cli/signals.py).
"""

from __future__ import annotations

import functools
import gc
import logging
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from reconciler import __version__
from reconciler.errors import ConfigError, ManifestError, ReconcilerError
from reconciler.secrets import redact

if TYPE_CHECKING:
    from reconciler.session import Session

EXIT_OK, EXIT_ERROR, EXIT_CHANGES = 0, 1, 2


class Exit(Exception):
    """Raised by a command to leave with a specific exit code after printing."""

    def __init__(self, code: int) -> None:
        self.code = code


def say(message: str) -> None:
    """One message on stderr, with every rendering of every API key in use redacted."""
    click.echo(redact(message), err=True)


class RedactingFilter(logging.Filter):
    """Log records leave with every registered secret redacted (debug logs included)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


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
                say(str(p))
            say(f"{len(exc.problems)} problem{'s' if len(exc.problems) != 1 else ''} found.")
        except ReconcilerError as exc:
            if verbose:
                say(traceback.format_exc().rstrip())
            say(f"error: {exc}")
        except KeyboardInterrupt:
            say("interrupted")
        except Exception as exc:  # noqa: BLE001 - last line of defence: one line, never a traceback
            if verbose:
                say(traceback.format_exc().rstrip())
            say(f"internal error: {type(exc).__name__}: {exc} (run with -v for details)")
        ctx.exit(EXIT_ERROR)

    return wrapper


@contextmanager
def command_session(directory: Path) -> Iterator[Session]:
    """The session of one command (plan, apply, drift), opened with the cyclic GC paused. What it
    loads (manifests, contacts, the state's records: a million objects at 100k memberships) lives as
    long as the command, so it is frozen (gc.freeze) instead of being walked again by every later
    collection: 2.3 s of a warm 100k plan's 12.7 s CPU. Unfrozen when the session closes, so a process
    that runs many commands (the tests) still collects what each one left."""
    from reconciler.collector import collector_paused
    from reconciler.session import open_session

    with collector_paused():
        session = open_session(directory)
        gc.freeze()  # only once opened: a session that failed to open leaves nothing frozen
    try:
        with session:
            yield session
    finally:
        gc.unfreeze()


class Group(click.Group):
    """Usage errors exit 1 (README "Exit codes"), instead of click's 2 (2 means 'changes present')."""

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
@click.version_option(__version__, prog_name="campaignctl", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Show debug logs and tracebacks.")
@click.pass_context
def main(ctx: click.Context, verbose: bool) -> None:
    """campaignctl: outbound sequences and CRM pipelines as code (plan, apply, drift)."""
    ctx.ensure_object(dict)
    ctx.obj["verbose"] = verbose
    # A command builds a million long-lived objects at 100k memberships (contacts, state records, what
    # the vendors answered) and frees them at exit; collecting the young generation every 700 of them
    # made the cyclic GC walk them again and again (~10% of a 100k plan's CPU time). Cycles are rare here.
    gc.set_threshold(50_000, 10, 10)
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
    if not verbose:
        logging.getLogger("httpx").setLevel(logging.WARNING)


DEFAULT_DIR = Path("campaigns")
# Every command takes the campaigns directory as --dir DIR; validate, plan, apply and drift also
# take it as their first argument (the original spelling, kept working).
DIR_ARG = click.argument("directory", required=False, type=click.Path(path_type=Path))
DIR_OPTION = click.option("--dir", "dir_option", type=click.Path(path_type=Path),
                          help="The campaigns directory (default ./campaigns).")


def pick_dir(positional: Path | None, option: Path | None) -> Path:
    """The directory from DIR or --dir (either spelling; both only when they agree)."""
    if positional is not None and option is not None and positional.resolve() != option.resolve():
        raise ConfigError(f"two campaigns directories given ({positional} and --dir {option}); give one")
    return option or positional or DEFAULT_DIR




def is_tty(stream: Any = None) -> bool:
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def use_color() -> bool:
    """Colour only on a TTY, and never with NO_COLOR."""
    import os

    return is_tty() and "NO_COLOR" not in os.environ


class Progress:
    """Progress on stderr for work that takes more than about 2 s: a bar with counts and ETA on a
    TTY, a plain line every few seconds otherwise."""

    DELAY, EVERY = 2.0, 5.0

    def __init__(self, label: str, total: int | None = None, *, floor_seconds: float = 0.0) -> None:
        """`floor_seconds`: the least time the work can take (rate limits), so the ETA does not
        promise a burst's speed for the whole run."""
        import time

        self._time = time.monotonic
        self.label, self.total, self.done = label, total, 0
        self.floor_seconds = floor_seconds
        self.start = self._time()
        self._last = 0.0
        self._tty = is_tty(sys.stderr)
        self._shown = False

    def step(self, note: str = "", n: int = 1) -> None:
        self.done += n
        self.show(note)

    def show(self, note: str = "") -> None:
        now = self._time()
        elapsed = now - self.start
        if elapsed < self.DELAY or (not self._tty and now - self._last < self.EVERY):
            return
        self._last = now
        self._shown = True
        if self.total:
            rate = self.done / elapsed if elapsed else 0
            seen = (self.total - self.done) / rate if rate else 0.0
            left = max(seen, self.floor_seconds - elapsed)
            eta = f", ETA {int(left)}s" if left and self.done < self.total else ""
            text = f"{self.label}: {self.done:,}/{self.total:,}{eta}"
            if self._tty:
                width = 24
                filled = int(width * self.done / self.total)
                text = f"{self.label} [{'#' * filled}{'.' * (width - filled)}] {self.done:,}/{self.total:,}{eta}"
        else:
            text = f"{self.label}: {note or '…'} ({int(elapsed)}s)"
        if self._tty:
            click.echo("\r\x1b[2K" + text, err=True, nl=False)
        else:
            click.echo(text, err=True)

    def finish(self) -> None:
        if self._shown and self._tty:
            click.echo("", err=True)
