"""One HTTP request as a simulator sees it (its own module, so faults.py and store.py can name it
without importing core.py, which imports them)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


class BadJson(Exception):
    """The request body is not valid JSON."""


@dataclass
class SimRequest:
    """One HTTP request as a simulator sees it; `path` is the vendor's documented full path."""

    method: str
    path: str
    query: dict[str, list[str]] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    dispatch_delay: float | None = None  # set by a 'dispatch_delay' fault: an asynchronous start's delay

    @classmethod
    def build(cls, method: str, path: str, query_string: str, headers: dict[str, str], body: bytes) -> SimRequest:
        """Build from raw parts; header names are lower-cased."""
        return cls(
            method=method.upper(),
            path=path,
            query=parse_qs(query_string, keep_blank_values=True),
            headers={k.lower(): v for k, v in headers.items()},
            body=body,
        )

    def json(self) -> Any:
        """The body parsed as JSON (None when empty); raises BadJson."""
        if not self.body:
            return None
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as exc:
            raise BadJson(str(exc)) from exc

    def q(self, name: str, default: str | None = None) -> str | None:
        """First value of query parameter `name`."""
        values = self.query.get(name)
        return values[0] if values else default

    def qall(self, name: str) -> list[str]:
        """Every value of a repeatable query parameter."""
        return list(self.query.get(name, []))
