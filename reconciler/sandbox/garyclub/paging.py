"""Cursor pagination and query validation shared by every Gary Club list endpoint.

Lists walk an append-only, insertion-ordered id list (the in-memory index of a collection), so a
page costs O(limit) when unfiltered and O(rows scanned) when filtered — never a sort of the whole
collection. `page_token` is an opaque token wrapping the offset where the next page resumes; the
lists only ever grow at the end (the API has no deletes), so an offset stays valid between pages.

Strict choice: a token only continues the list it came from — same path, same filters, same key and
client header (`limit` may change). Any other use is a 400 invalid_request naming page_token, so a
client that mixes cursors between lists fails here instead of silently skipping rows.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

from reconciler.sandbox.core import SimRequest
from reconciler.sandbox.store import Collection

DEFAULT_LIMIT = 50
MAX_LIMIT = 200
# Accepted on every endpoint; the docs mention optional `?agent_id=` narrowing. Nothing in the
# sandbox belongs to an agent, so it narrows nothing.
ALWAYS_ALLOWED = frozenset({"limit", "page_token", "agent_id"})


class QueryError(Exception):
    """A bad query parameter: becomes 400 invalid_request with details.field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def list_scope(req: SimRequest) -> str:
    """What a cursor belongs to: the list (path), its filters and the caller's tenancy (key and client
    header); `limit` may change between pages."""
    filters = sorted((k, tuple(v)) for k, v in req.query.items() if k not in ("page_token", "limit"))
    who = (req.headers.get("authorization", ""), req.headers.get("x-gary-client-id", ""))
    return hashlib.sha256(repr((req.path, filters, who)).encode()).hexdigest()[:16]


def encode_token(offset: int, scope: str) -> str:
    return "pt_" + base64.urlsafe_b64encode(f"{scope}:{offset}".encode()).decode().rstrip("=")


def decode_token(token: str, scope: str) -> int:
    """The offset inside a page token of this list; QueryError when it is not one of this list's."""
    try:
        if not token.startswith("pt_"):
            raise ValueError(token)
        raw = token[3:]
        text = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)).decode()
        owner, _, offset_text = text.partition(":")
        offset = int(offset_text)
        if owner != scope or offset < 0:
            raise ValueError(text)
        return offset
    except (ValueError, UnicodeDecodeError) as exc:
        raise QueryError("page_token", "page_token is not a cursor returned by this list with these filters") from exc


def check_params(req: SimRequest, allowed: Sequence[str]) -> None:
    """Refuse undocumented query parameters instead of silently ignoring them.

    Sandbox choice: the real API's behaviour on unknown parameters is not documented. Ignoring an
    unsupported filter would hand an adapter the whole collection as if it were filtered, so the
    sandbox answers 400 naming the parameter.
    """
    for name in req.query:
        if name not in ALWAYS_ALLOWED and name not in allowed:
            raise QueryError(name, f"Unsupported query parameter: {name}")


def parse_limit(req: SimRequest) -> int:
    raw = req.q("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError:
        raise QueryError("limit", "limit must be an integer between 1 and 200") from None
    if limit < 1 or limit > MAX_LIMIT:
        raise QueryError("limit", f"limit must be between 1 and {MAX_LIMIT}")
    return limit


def page(
    req: SimRequest,
    ids: Sequence[str],
    rows: Collection,
    keep: Callable[[Any], bool] | None = None,
    render: Callable[[Any], dict[str, Any]] = dict,
) -> dict[str, Any]:
    """One page `{data, next_page_token, total}` over `ids` (oldest first), their rows in `rows`.

    `total` counts every match (the shape of the documented sequences list, used for every list);
    it is O(1) unfiltered and one pass over the ids when a filter is given.
    """
    limit = parse_limit(req)
    token = req.q("page_token")
    scope = list_scope(req)
    offset = decode_token(token, scope) if token else 0
    data: list[dict[str, Any]] = []
    pos = offset
    # The page's rows (and the look-ahead one) are read in one query, not one per row (issue 17);
    # `held` keeps them in the collection's weak cache while `load` below takes them one by one.
    load = rows.get
    held = rows.get_many(list(ids[offset:offset + limit + 1]))
    while pos < len(ids) and len(data) < limit:
        row = load(ids[pos])
        pos += 1
        if row is not None and (keep is None or keep(row)):
            data.append(render(row))
    more = False
    if len(data) == limit:
        # Look ahead so the last page says null instead of handing out a token to an empty page.
        probe = pos
        while probe < len(ids):
            row = load(ids[probe])
            if row is not None and (keep is None or keep(row)):
                more = True
                break
            probe += 1
    if keep is None:
        total = len(ids)
    else:
        total = sum(1 for i in ids if (r := load(i)) is not None and keep(r))
    del held
    return {"data": data, "next_page_token": encode_token(pos, scope) if more else None, "total": total}
