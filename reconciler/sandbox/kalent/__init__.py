"""The Kalent simulator package; see simulator.py for the documented behaviour and the choices."""

from reconciler.sandbox.kalent.simulator import KalentSimulator

__all__ = ["KalentSimulator"]
