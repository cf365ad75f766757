"""Walking a vendor's paginated lists safely, and reading the documented fields of a JSON body.

Page-numbered and cursor lists are walked under a PageGuard, so a list that never ends (a repeated
page or cursor, more pages than its listed total allows) is a PaginationError, not endless requests.
A 2xx is only proof when its body is the documented shape: a body without the documented list or
object raises MalformedResponse (see VendorClient.malformed), never an empty list.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

from reconciler import errors

if TYPE_CHECKING:
    from reconciler.providers._http import Reply, VendorClient

# Without a listed total, a list longer than this many pages is taken as one that never ends.
MAX_PAGES = 10_000


class PageGuard:
    """Bounds one walk over a list: a cursor or a non-empty page seen before, or more pages than the
    largest total the vendor listed allows, is a PaginationError instead of another request (one
    vendor's list answered the same cursor for ever: 22,000 requests in 30 s)."""

    SLACK_PAGES = 2  # records created while we page may add a page; the empty last page is one more

    def __init__(self, client: VendorClient, path: str, total: Callable[[Any], int | None] | None) -> None:
        self._client = client
        self._path = path
        self._total = total
        self._most = -1  # the largest total listed so far
        self._pages = 0
        self._largest_page = 0
        self._seen_pages: set[str] = set()
        self._seen_tokens: set[str] = set()

    def page(self, body: Any, items: list[Any]) -> None:
        """Check one page just received."""
        self._pages += 1
        if items:
            fingerprint = _fingerprint(items)
            if fingerprint in self._seen_pages:
                self._fail(f"page {self._pages} repeats an earlier page")
            self._seen_pages.add(fingerprint)
        self._largest_page = max(self._largest_page, len(items))
        listed = self._total(body) if self._total else None
        if listed is not None:
            self._most = max(self._most, listed)
        if self._most >= 0:
            allowed = -(-self._most // max(1, self._largest_page)) + self.SLACK_PAGES
            if self._pages > allowed:
                self._fail(f"{self._pages} pages, more than its listed total of {self._most} allows")
        elif self._pages > MAX_PAGES:
            self._fail(f"more than {MAX_PAGES:,} pages and no total listed")

    def token(self, token: str) -> None:
        """Check the cursor the page handed out before asking for it."""
        if token in self._seen_tokens:
            self._fail(f"page {self._pages} hands out a cursor it handed out before")
        self._seen_tokens.add(token)

    def _fail(self, why: str) -> None:
        raise errors.PaginationError(self._client.vendor, "GET", self._path, 200,
                                     f"the list does not end: {why}; stopped after {self._pages} requests "
                                     "(the vendor's pagination is broken; nothing was written)",
                                     code="endless_pagination")


def _fingerprint(items: list[Any]) -> str:
    """What tells a repeated page from a fresh one: its length and its first, middle and last items
    (a page of distinct records that repeats an earlier page repeats all three). Encoding the whole
    page cost ~5% of a warm 100k plan's CPU time (issue 17)."""
    sample = [len(items), items[0], items[len(items) // 2], items[-1]]
    return hashlib.sha256(jsonlib.dumps(sample, sort_keys=True, default=str).encode()).hexdigest()


def field_at(body: Any, key: str) -> tuple[bool, Any]:
    """(present, value) of a dotted key ('data.sourcings') in a JSON body."""
    node = body
    for part in key.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return False, None
        node = node[part]
    return True, node


def list_at(client: VendorClient, path: str, reply: Reply, key: str) -> list[Any]:
    """The documented list under `key`; MalformedResponse when it is missing or not a list."""
    present, value = field_at(reply.json, key)
    if not present or not isinstance(value, list):
        raise client.malformed(path, reply, f"the documented {key!r} list")
    return value


def object_at(client: VendorClient, path: str, reply: Reply, key: str) -> Mapping[str, Any]:
    """The documented object under `key`; MalformedResponse when it is missing or not an object."""
    present, value = field_at(reply.json, key)
    if not present or not isinstance(value, Mapping):
        raise client.malformed(path, reply, f"the documented {key!r} object")
    return value


def pages_numbered(client: VendorClient, path: str, params: Mapping[str, Any] | None = None, *,
                   page_param: str = "page", size_param: str = "page_size", size: int = 100, first_page: int = 1,
                   items_key: str = "data", more: Callable[[Any, list[Any], int], bool] | None = None,
                   total: Callable[[Any], int | None] | None = None) -> Iterator[Any]:
    """Every item of a page-numbered list. `more(body, items, page)` says whether another page exists;
    by default a full page means there may be more. `total(body)` is the vendor's listed total, which
    bounds the walk (see PageGuard). A page without the documented list is MalformedResponse."""
    page = first_page
    guard = PageGuard(client, path, total)
    while True:
        reply = client.get(path, {**(params or {}), page_param: page, size_param: size})
        body = reply.json
        items = list_at(client, path, reply, items_key)
        guard.page(body, items)
        yield from items
        has_more = more(body, items, page) if more else len(items) >= size
        if not has_more or not items:
            return
        page += 1


def pages_cursor(client: VendorClient, path: str, params: Mapping[str, Any] | None = None, *, limit: int = 200,
                 limit_param: str = "limit", token_param: str = "page_token", next_key: str = "next_page_token",
                 items_key: str = "data", total: Callable[[Any], int | None] | None = None) -> Iterator[Any]:
    """Every item of a cursor-paginated list; `total(body)` as for pages_numbered."""
    token: str | None = None
    guard = PageGuard(client, path, total)
    while True:
        query = {**(params or {}), limit_param: limit}
        if token:
            query[token_param] = token
        reply = client.get(path, query)
        body = reply.json
        items = list_at(client, path, reply, items_key)
        guard.page(body, items)
        yield from items
        token = body.get(next_key)  # list_at proved the body is an object
        if not token:
            return
        guard.token(str(token))


def listed_total(body: Any, key: str) -> int | None:
    """The integer at the dotted `key` of a list body (e.g. 'pagination.total'), None if absent or not one."""
    present, node = field_at(body, key)
    return node if present and isinstance(node, int) and not isinstance(node, bool) and node >= 0 else None
