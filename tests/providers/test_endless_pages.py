"""A list that never ends is a typed error after a bounded number of requests, never a loop.

The sandbox's `repeat_page` fault makes a list ignore its page or cursor parameter (the first page,
for ever), which is how one vendor's list once made `plan` page without end. Each adapter's read
must stop after a couple of requests with a PaginationError naming the vendor and the path. A list
with fresh pages beyond the total it lists (which the sandbox never serves) is checked against a
fake vendor in test_http-style.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import re
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from reconciler import errors
from reconciler.desired import load_desired
from reconciler.model import ProviderConfig
from reconciler.providers import SANDBOX_KEYS, registry, unpaced
from reconciler.providers._http import VendorClient
from reconciler.providers._paging import pages_cursor, pages_numbered
from reconciler.providers.clarky._mapping import listed_total as clarky_total
from reconciler.providers.garyclub._mapping import listed_total as gary_total
from reconciler.providers.kalent._mapping import listed_total as kalent_total
from reconciler.sandbox.core import Fault, FaultPlan
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.transport import SandboxTransport
from tests.reading import read_with

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"
NAMES = {"clarky": "clarky", "garyclub": "gary", "kalent": "kalent"}
# The list each adapter's read walks, made longer than one page by the seed below.
LIST_PATHS = {"clarky": r"/pipeline-cards$", "garyclub": r"/sequences/[^/]+/enrollments$", "kalent": r"/sourcings$"}


def long_lists_seed() -> dict[str, Any]:
    seed = copy.deepcopy(load_seed(EXAMPLE))
    seed["clarky"]["bulk"] = {"contacts": 150, "cards": 150}  # 2 pages of 100
    seed["garyclub"]["bulk"] = {"contacts": 250, "enrollments": [{"sequence": "seq_EXAMPLE_aaaa", "count": 250}]}
    seed["kalent"]["sourcings"] += [{"id": f"src_extra_{i:02d}", "name": f"Extra {i}"} for i in range(60)]  # pageSize 50
    return seed


@pytest.fixture(scope="module")
def desired():
    return load_desired(EXAMPLE)


def read_in_thread(provider: Any, desired: Any) -> BaseException | None:
    """The read's exception; fails (instead of hanging the suite) when the read does not end."""
    caught: list[BaseException | None] = [None]

    def run() -> None:
        try:
            read_with(provider, desired)
        except BaseException as exc:  # noqa: BLE001 - handed to the test
            caught[0] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the read is still paging after 60 s"
    return caught[0]


@pytest.mark.parametrize("vendor", ["clarky", "garyclub", "kalent"])
def test_a_list_that_answers_the_same_page_for_ever_is_a_pagination_error(vendor, desired):
    hub = build_hub(None, long_lists_seed(), rate_limits=False)
    config = unpaced(desired.project.providers[NAMES[vendor]])
    provider = registry()[vendor](config, SANDBOX_KEYS[vendor], transport=SandboxTransport(hub, vendor))
    assert read_in_thread(provider, desired) is None  # the lists are longer than a page and read fine
    listed_ok = [r for r in hub.store.requests(vendor) if re.search(LIST_PATHS[vendor], r["path"])]
    assert len(listed_ok) >= 2, "the seed must make the list longer than one page"

    hub.faults = FaultPlan(repeat_page_rate=1.0, only=Fault("repeat_page", method="GET", path=LIST_PATHS[vendor]))
    before = len(hub.store.requests(vendor))
    provider = registry()[vendor](config, SANDBOX_KEYS[vendor], transport=SandboxTransport(hub, vendor))
    error = read_in_thread(provider, desired)
    assert isinstance(error, errors.PaginationError), error
    assert error.vendor == NAMES[vendor] and error.code == "endless_pagination" and "does not end" in str(error)
    listed = [r for r in hub.store.requests(vendor)[before:] if re.search(LIST_PATHS[vendor], r["path"])]
    assert 2 <= len(listed) <= 3, len(listed)  # stopped at the first repeat
    hub.store.close()


# -- fresh pages beyond the listed total (a fake vendor: the sandbox never does this) ------------------
KEY = "ck_live_pages_test"


def fake_client(handler: Any, vendor_type: str) -> tuple[VendorClient, list[httpx.Request]]:
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=json.dumps(handler(request, len(seen))).encode())

    config = ProviderConfig(name="acct", type=vendor_type, base_url="https://vendor.test/api/v1")
    client = VendorClient.for_provider(unpaced(config), KEY, headers={}, transport=httpx.MockTransport(record))
    return client, seen


def fresh_rows(n: int, size: int) -> list[dict[str, Any]]:
    return [{"id": f"row_{n}_{i}"} for i in range(size)]


def test_clarky_pages_beyond_the_listed_total_stop_after_the_total_allows():
    client, seen = fake_client(lambda req, n: {"data": fresh_rows(n, 100), "pagination": {"total": 250}}, "clarky")
    with pytest.raises(errors.PaginationError, match="more than its listed total of 250"):
        list(pages_numbered(client, "/pipeline-cards", size=100, total=clarky_total))
    assert len(seen) == 6  # 3 pages hold 250, 2 of slack (rows created while paging); the 6th is refused


def test_kalent_pages_beyond_the_listed_total_stop_after_the_total_allows():
    def handler(req, n):
        return {"success": True, "data": {"sourcings": fresh_rows(n, 50),
                                          "pagination": {"total": 60, "hasNextPage": True}}}

    client, seen = fake_client(handler, "kalent")
    with pytest.raises(errors.PaginationError):
        list(pages_numbered(client, "/sourcings", page_param="page", size_param="pageSize", size=50, first_page=0,
                            items_key="data.sourcings", more=lambda body, items, page: True, total=kalent_total))
    assert len(seen) == 5  # 2 pages of 50 hold 60, 2 of slack


def test_gary_fresh_cursors_beyond_the_listed_total_stop_and_a_repeated_cursor_stops_at_once():
    client, seen = fake_client(lambda req, n: {"data": fresh_rows(n, 200), "next_page_token": f"pt_{n}", "total": 10},
                               "garyclub")
    with pytest.raises(errors.PaginationError):
        list(pages_cursor(client, "/crm/contacts", total=gary_total))
    assert len(seen) == 4  # 1 page holds 10, 2 of slack

    client, seen = fake_client(lambda req, n: {"data": fresh_rows(n, 200), "next_page_token": "pt_same"}, "garyclub")
    with pytest.raises(errors.PaginationError, match="cursor it handed out before"):
        list(pages_cursor(client, "/crm/contacts", total=gary_total))
    assert len(seen) == 2


def test_lists_within_their_totals_are_read_whole():
    rows = [{"id": i} for i in range(250)]

    def handler(req, n):
        page = int(req.url.params["page"])
        return {"data": rows[(page - 1) * 100: page * 100], "pagination": {"total": 250, "total_pages": 3}}

    client, seen = fake_client(handler, "clarky")
    assert len(list(pages_numbered(client, "/cards", size=100, total=clarky_total))) == 250 and len(seen) == 3
    empty = {"data": [], "next_page_token": None, "total": 0}
    client, seen = fake_client(lambda req, n: empty, "garyclub")
    assert list(pages_cursor(client, "/crm/contacts", total=gary_total)) == [] and len(seen) == 1


def test_the_fault_is_part_of_the_control_api_shape():
    plan = FaultPlan.from_dict({"repeat_page_rate": 1.0, "only": {"kind": "repeat_page", "path": "/sourcings$"}})
    assert plan.repeat_page_rate == 1.0 and dataclasses.asdict(plan.only)["path"] == "/sourcings$"
