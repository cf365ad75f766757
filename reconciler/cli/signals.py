"""SIGINT and SIGTERM during `apply`: stop sending at once, finish cleanly, exit 130 / 143.

Before the first write (reading, planning, the confirmation prompt) a signal unwinds the command
at once: nothing was sent, the lock is released on the way out. From the first write on, the first
signal only sets the session's stop event: no new write leaves (apply.py, providers/_http.py), the
writes in flight finish or stay in doubt, the per-change report is printed and the lock released as
usual, then the command exits 128 + the signal number. A second SIGINT aborts at once: the lock is
released and the process ends without waiting; the writes it cut off are journal intents without an
outcome, which the next run settles by reading before it sends anything. A second SIGTERM only
repeats the notice (supervisors repeat SIGTERM before they SIGKILL; winding down is already under way).

Python runs signal handlers in the main thread only, between bytecodes; the apply workers are other
threads, so the handler never runs inside a write.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Callable
from types import FrameType
from typing import Any

import click

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class ApplyInterrupted(BaseException):
    """A signal arrived before anything was sent: unwind (BaseException, so no `except Exception` keeps it)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def signal_name(signum: int) -> str:
    return signal.Signals(signum).name


class ApplySignals:
    """Installs the handlers for one apply (main thread only) and restores the previous ones on exit.

    `stop` is the session's stop event (set it once the session exists); `abort`, set while the lock
    is held, releases the lock on a hard abort."""

    def __init__(self, stop: threading.Event | None = None) -> None:
        self.stop = stop or threading.Event()
        self.signum: int | None = None
        self.writing = False  # from the first write on, a signal stops gracefully instead of unwinding
        self.abort: Callable[[], None] | None = None
        self._previous: dict[int, Any] = {}

    @property
    def exit_code(self) -> int:
        """128 + the signal number, the shell's convention: 130 for SIGINT, 143 for SIGTERM."""
        return 128 + (self.signum or 0)

    def __enter__(self) -> ApplySignals:
        if threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.signum is None:
            self.signum = signum
            self.stop.set()
            if not self.writing:
                raise ApplyInterrupted(signum)
            click.echo(f"\n{signal_name(signum)}: sending nothing more; waiting for the writes in flight, then the "
                       "report (Ctrl-C again to abort at once)", err=True)
            return
        if signum != signal.SIGINT or not self.writing:
            click.echo(f"{signal_name(signum)}: already stopping; waiting for the writes in flight", err=True)
            return
        click.echo(f"\n{signal_name(signum)} again: aborting now. Writes in flight stay in doubt in the state journal; "
                   "the next apply settles them by reading before it sends anything.", err=True)
        try:
            if self.abort is not None:
                self.abort()
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(128 + signum)
