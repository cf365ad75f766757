"""The Clarky adapter: keyed sequence starts, enrollment status, pipeline cards (see provider.py)."""

from reconciler.providers.clarky._mapping import idempotency_key
from reconciler.providers.clarky.provider import ClarkyProvider

__all__ = ["ClarkyProvider", "idempotency_key"]
