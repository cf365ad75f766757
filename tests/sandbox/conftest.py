"""Fixtures shared by the sandbox tests."""

from __future__ import annotations

import pytest

from tests.sandbox._clarky import Clarky
from tests.sandbox.loopback import INPROCESS


@pytest.fixture
def clarky(request):
    """A Clarky simulator in its own hub; in process unless parametrized with over_both_transports."""
    sandbox = Clarky(mode=getattr(request, "param", INPROCESS))
    yield sandbox
    sandbox.close()
