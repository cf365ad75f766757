"""The Kalent adapter: sourcings, sequence blueprints, and per-candidate dynamic sequences; see provider.py."""

from reconciler.providers.kalent.provider import KalentProvider

__all__ = ["KalentProvider"]
