"""The campaignctl command line. Only this package prints, prompts and chooses exit codes."""

from reconciler.cli import admin_cmds, drift_cmds, import_cmds, plan_cmds  # noqa: F401  (registers the commands)
from reconciler.cli.app import main

__all__ = ["main"]
