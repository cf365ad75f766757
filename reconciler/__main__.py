"""`python -m reconciler` runs the campaignctl CLI."""

from reconciler.cli import main

main()
