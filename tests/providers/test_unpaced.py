"""The in-process sandbox with its rate limits off paces nothing, although its answers still carry
the vendor's documented rate-limit headers (with the whole budget left)."""

from __future__ import annotations

from reconciler.model import ProviderConfig
from reconciler.providers import unpaced
from reconciler.providers._limits import budgets_for
from tests.fakes import FakeTime
from tests.sandbox._clarky import Clarky


def test_an_unpaced_client_does_not_adopt_the_headers_of_a_sandbox_with_limits_off() -> None:
    sandbox = Clarky(rate_limits=False)
    try:
        answer = sandbox.api.get("/pipelines")
    finally:
        sandbox.close()
    assert answer.headers["x-ratelimit-remaining"] == answer.headers["x-ratelimit-limit"] == "120"
    t = FakeTime()
    budgets = budgets_for(unpaced(ProviderConfig(name="clarky", type="clarky")), sleep=t.sleep, clock=t.clock)
    for _ in range(1000):  # far past the documented 120 reads a minute, all within one second
        budgets["read"].take()
        budgets["read"].observe(answer.headers)
        budgets["read"].release()
    assert t.slept == []


def test_a_paced_client_still_adopts_the_same_headers() -> None:
    t = FakeTime()
    budgets = budgets_for(ProviderConfig(name="clarky", type="clarky", rate_limit=(("reads_per_minute", 10**9),)),
                          sleep=t.sleep, clock=t.clock)
    budgets["read"].observe({"x-ratelimit-limit": "120", "x-ratelimit-remaining": "120"})
    for _ in range(121):
        budgets["read"].take()
        budgets["read"].release()
    assert sum(t.slept) >= 60
