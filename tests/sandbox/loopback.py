"""Run simulator tests over a real `sandbox serve` socket as well as in process.

`LoopbackTransport(server_url, vendor)` rewrites each request to `{server_url}/{vendor}{path}?{query}`
and sends it through a real `httpx.HTTPTransport`, so a test client keeps its vendor base_url
(https://clarky.ai/api/v1, ...) and still talks HTTP/1.1 to 127.0.0.1.

Choices:
- `sandbox_transport(hub, vendor, mode)` is the one place the sim helpers get a transport from;
  mode "loopback" starts a `SandboxServer` on that hub which the transport owns and stops when it is
  closed (closing the httpx client closes its transport), so each helper's usual teardown suffices.
- Only the tests of the seed documents' examples run both ways (`over_both_transports`): the rest
  exercise simulator logic that the transport cannot change, and a server per test costs ~50 ms.
- The Host header is dropped and re-derived from the new URL; every other header and the body are
  forwarded byte for byte, and the response streams back bound to the caller's original request.
"""

from __future__ import annotations

import httpx
import pytest

from reconciler.sandbox.core import Hub
from reconciler.sandbox.server import SandboxServer
from reconciler.sandbox.transport import SandboxTransport

INPROCESS = "inprocess"
LOOPBACK = "loopback"
MODES = (INPROCESS, LOOPBACK)


class LoopbackTransport(httpx.BaseTransport):
    """Forwards every request to `{server_url}/{vendor}...` over a real socket."""

    def __init__(self, server_url: str, vendor: str, *, server: SandboxServer | None = None) -> None:
        self._prefix = f"{server_url.rstrip('/')}/{vendor}"
        self._http = httpx.HTTPTransport()
        self._server = server  # owned: stopped by close()
        self.forwarded: list[str] = []  # URLs actually requested, so tests can prove the socket was used

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        # raw_path is the path plus "?query", already percent-encoded as the client sent it.
        url = httpx.URL(self._prefix + request.url.raw_path.decode("ascii"))
        headers = [(k, v) for k, v in request.headers.raw if k.lower() != b"host"]
        forwarded = httpx.Request(request.method, url, headers=headers, content=request.read(),
                                  extensions=request.extensions)
        self.forwarded.append(str(url))
        resp = self._http.handle_request(forwarded)
        return httpx.Response(resp.status_code, headers=resp.headers, stream=resp.stream,
                              extensions=resp.extensions, request=request)

    def close(self) -> None:
        self._http.close()
        if self._server is not None:
            self._server.stop()
            self._server = None


def sandbox_transport(hub: Hub, vendor: str, mode: str = INPROCESS) -> httpx.BaseTransport:
    """The in-process transport, or a loopback one on a freshly started server for this hub."""
    if mode == INPROCESS:
        return SandboxTransport(hub, vendor)
    if mode == LOOPBACK:
        server = SandboxServer(hub).start()
        return LoopbackTransport(server.url, vendor, server=server)
    raise ValueError(f"unknown transport mode {mode!r}; expected one of {MODES}")


def over_both_transports(fixture: str = "mode") -> pytest.MarkDecorator:
    """Parametrize a test over MODES: directly as `mode`, or indirectly through a fixture that
    reads `request.param` (default in process when not parametrized)."""
    return pytest.mark.parametrize(fixture, MODES, indirect=fixture != "mode")
