"""The URL a VendorClient sends is the one httpx joins from the base URL, path and query parameters,
byte for byte, whether the client builds it in one parse or leaves an unusual path to httpx."""

from __future__ import annotations

import random
import string

import httpx
import pytest

from reconciler.providers._http import VendorClient
from reconciler.providers._limits import RollingWindow
from tests.fakes import FakeTime

ALPHABET = string.ascii_letters + string.digits + "-._~%!$&'()*+,;=:@/ é中\u200b[]{}|\\^`\"<>?#"


def _client(base_url: str, seen: list[httpx.URL]) -> VendorClient:
    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request.url)
        return httpx.Response(200, json={"data": []})

    t = FakeTime()
    budget = RollingWindow(10**9, sleep=t.sleep, clock=t.clock)
    return VendorClient("v", "clarky", base_url, {}, secret=None, budgets={"read": budget, "write": budget},
                        transport=httpx.MockTransport(record), sleep=t.sleep)


@pytest.mark.parametrize("base_url", ["https://app.kalent.ai/api/v1", "https://clarky.ai/api/v1/", "https://x.test",
                                      "http://127.0.0.1:8080/v1"])
def test_urls_are_the_ones_httpx_joins(base_url: str) -> None:
    rng = random.Random(base_url)
    seen: list[httpx.URL] = []
    client = _client(base_url, seen)
    reference = httpx.Client(base_url=base_url.rstrip("/"))
    for _ in range(400):
        path = "/" + "/".join("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 8)))
                              for _ in range(rng.randint(1, 4)))
        params = {"".join(rng.choice(ALPHABET) for _ in range(rng.randint(1, 5))):
                  rng.choice([1, True, 2.5, "".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 6)))])
                  for _ in range(rng.randint(0, 3))}
        try:
            expected = reference.build_request("GET", path, params=params).url
        except Exception as exc:  # noqa: BLE001 - a path httpx cannot join (`//host:port`) must fail alike
            with pytest.raises(type(exc)):
                client.get(path, params)
            continue
        client.get(path, params)
        assert str(seen[-1]) == str(expected) and seen[-1].raw_path == expected.raw_path, (path, params)
