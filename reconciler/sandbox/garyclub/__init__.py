"""Gary Club simulator package (see sim.py for the documented behaviour and the sandbox's choices)."""

from reconciler.sandbox.garyclub.sim import GaryClubSimulator

__all__ = ["GaryClubSimulator"]
