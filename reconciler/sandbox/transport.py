"""An httpx transport that serves requests from the in-process sandbox hub."""

from __future__ import annotations

import httpx

from reconciler.sandbox.core import Hub, SimDrop, SimRequest


class SandboxTransport(httpx.BaseTransport):
    """Routes every request to one vendor's simulator; faults surface as real httpx errors."""

    in_process = True  # VendorClient hands it each request directly (no connection, cookies or redirects)

    def __init__(self, hub: Hub, vendor: str) -> None:
        self._hub = hub
        self._vendor = vendor

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        req = SimRequest.build(
            request.method,
            request.url.path,
            request.url.query.decode(),
            dict(request.headers.items()),  # as dict(headers), in one pass instead of a lookup per name
            request.read(),
        )
        try:
            resp = self._hub.handle(self._vendor, req)
        except SimDrop as drop:
            if drop.committed:
                raise httpx.ReadTimeout("sandbox: response lost after commit", request=request) from None
            raise httpx.ConnectError("sandbox: connection dropped", request=request) from None
        headers = dict(resp.headers)
        if resp.body is not None:
            headers.setdefault("content-type", "application/json")
        return httpx.Response(resp.status, headers=headers, content=resp.encoded(), request=request)
