"""`sandbox serve`: the three simulators over HTTP on 127.0.0.1, plus the control API.

Routing: `/<vendor>/...` goes to that vendor's simulator with the prefix stripped (so
`/<vendor>/api/v1/contacts` arrives as `/api/v1/contacts`, exactly as the in-process transport
delivers it); `/_sandbox/...` is the control API (control.py); anything else is a JSON 404.

Choices where nothing else decides:
- Standard library only (ThreadingHTTPServer, HTTP/1.1 keep-alive), one thread per connection;
  the hub lock serialises the simulators, so threads only overlap on I/O and latency faults.
- A dropped connection (SimDrop) closes the socket without writing a byte, whether or not the
  request was committed: that is exactly what a client sees when a response is lost.
- A simulator bug answers 500 with a JSON message instead of killing the connection.
- Per-request logging goes to the `reconciler.sandbox.server` logger at DEBUG, never to stderr.
- `stop()` also closes idle keep-alive connections, so shutdown never waits on a client.
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import unquote, urlsplit

from reconciler.errors import ConfigError
from reconciler.sandbox.control import PREFIX, SandboxControl, SandboxControlError, handle_control
from reconciler.sandbox.core import Hub, SimDrop, SimRequest, SimResponse

__all__ = ["SandboxControl", "SandboxControlError", "SandboxServer", "serve"]

log = logging.getLogger(__name__)

HOST = "127.0.0.1"
MAX_BODY = 16 * 1024 * 1024   # a vendor API never needs more; refuse instead of buffering forever


class _Handler(BaseHTTPRequestHandler):
    """One connection; every method goes through `_serve`."""

    protocol_version = "HTTP/1.1"
    server_version = "campaignctl-sandbox"
    timeout = 300    # idle keep-alive connections are closed after this many seconds
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK adds ~40 ms.
    disable_nagle_algorithm = True
    server: _HTTPServer

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_GET

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s " + format, self.address_string(), *args)

    def _serve(self) -> None:
        try:
            body = self._read_body()
        except ValueError as exc:
            self.close_connection = True
            self._reply(400, {"error": str(exc)})
            return
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        hub = self.server.hub
        if path.startswith(PREFIX):
            try:
                reply = handle_control(hub, self.command, path, parts.query, body)
            except Exception:
                log.exception("sandbox control request %s %s failed", self.command, path)
                self._reply(500, {"error": f"sandbox control {path} failed; see the server log"})
                return
            self._reply(reply.status, reply.body)
            return
        vendor, _, rest = path.lstrip("/").partition("/")
        if vendor not in hub.simulators:
            known = ", ".join(f"/{v}/" for v in sorted(hub.simulators))
            self._reply(404, {"error": f"no vendor at {path!r}; the sandbox serves {known} and {PREFIX}"})
            return
        req = SimRequest.build(self.command, "/" + rest, parts.query, dict(self.headers.items()), body)
        try:
            resp = hub.handle(vendor, req)
        except SimDrop as drop:
            # Close without a response: the client sees the connection end, nothing else.
            log.debug("dropping %s %s (committed=%s)", self.command, self.path, drop.committed)
            self.close_connection = True
            return
        except Exception:
            log.exception("sandbox %s simulator failed on %s %s", vendor, self.command, req.path)
            self._reply(500, {"error": f"sandbox {vendor} simulator failed; see the server log"})
            return
        self._send(resp)

    def _read_body(self) -> bytes:
        """The request body, by Content-Length or chunked transfer encoding."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks: list[bytes] = []
            total = 0
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass    # trailers
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise ValueError("request body too large")
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        if length < 0 or length > MAX_BODY:
            raise ValueError("bad Content-Length")
        return self.rfile.read(length) if length else b""

    def _send(self, resp: SimResponse) -> None:
        payload = b"" if resp.status in (204, 304) else resp.encoded()
        self.send_response(resp.status)
        for name, value in resp.headers.items():
            if name.lower() not in ("content-length", "transfer-encoding", "connection"):
                self.send_header(name, str(value))
        if payload and not any(n.lower() == "content-type" for n in resp.headers):
            self.send_header("Content-Type", "application/json")
        if resp.status not in (204, 304):
            self.send_header("Content-Length", str(len(payload)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD" and payload:
            self.wfile.write(payload)

    def _reply(self, status: int, body: Any) -> None:
        self._send(SimResponse(status, body))


class _HTTPServer(ThreadingHTTPServer):
    """Tracks its connection threads so `stop()` can close idle keep-alive connections."""

    daemon_threads = True
    request_queue_size = 128    # 20+ clients connecting at once must not hit a full backlog

    def __init__(self, hub: Hub, port: int) -> None:
        self.hub = hub
        self._conns: dict[threading.Thread, socket.socket] = {}
        self._conns_lock = threading.Lock()
        super().__init__((HOST, port), _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        thread = threading.Thread(target=self._run_connection, args=(request, client_address),
                                  name="sandbox-conn", daemon=True)
        with self._conns_lock:
            self._conns[thread] = request
        thread.start()

    def _run_connection(self, request: Any, client_address: Any) -> None:
        try:
            self.process_request_thread(request, client_address)
        finally:
            with self._conns_lock:
                self._conns.pop(threading.current_thread(), None)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Client resets and broken pipes are routine (drops, killed clients); keep stderr quiet.
        log.debug("connection from %s ended with an error", client_address, exc_info=True)

    def close_connections(self, timeout: float = 2.0) -> None:
        """End every open connection and wait for its thread."""
        with self._conns_lock:
            conns = list(self._conns.items())
        for _, sock in conns:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass    # already closed by its own thread
        for thread, _ in conns:
            thread.join(timeout)


class SandboxServer:
    """The hub's simulators served on http://127.0.0.1:PORT (port 0 picks a free one)."""

    def __init__(self, hub: Hub, port: int = 0) -> None:
        self.hub = hub
        try:
            self._httpd = _HTTPServer(hub, port)
        except OSError as exc:
            raise ConfigError(f"sandbox cannot listen on {HOST}:{port}: {exc.strerror or exc}") from exc
        self.port: int = self._httpd.server_address[1]
        self.url = f"http://{HOST}:{self.port}"
        self._thread: threading.Thread | None = None

    def start(self) -> SandboxServer:
        """Serve in a background thread; returns self."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="sandbox-server", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, close every connection, release the port."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
        self._httpd.close_connections()

    def __enter__(self) -> SandboxServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve(hub: Hub, port: int, ready: Callable[[str], None], *, stop: threading.Event | None = None) -> None:
    """Serve on 127.0.0.1:`port`, call `ready(url)` once listening, block until SIGINT/SIGTERM
    (or until `stop` is set, for callers off the main thread), then shut down cleanly."""
    stop = stop or threading.Event()
    server = SandboxServer(hub, port)
    previous: dict[signal.Signals, Any] = {}
    try:
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGINT, signal.SIGTERM):
                previous[signum] = signal.signal(signum, lambda *_: stop.set())
        server.start()
        ready(server.url)
        while not stop.wait(0.2):
            pass
    finally:
        server.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
