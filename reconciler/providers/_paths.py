"""Request paths: every id that goes into a URL (from a manifest or a vendor) is one escaped segment."""

from __future__ import annotations

from urllib.parse import quote


def seg(value: str) -> str:
    """A path segment, escaped: '/', '?', '#' and '%' in an id never reach another route or a query."""
    return quote(str(value), safe="")
