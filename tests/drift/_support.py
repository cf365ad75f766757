"""Shared set-up for drift, import and CI tests: the three simulators served on 127.0.0.1 by a
`SandboxServer` this test owns, a campaigns directory whose providers point at it (keys from the
environment), and `campaignctl` run in-process with its exit code, stdout and stderr."""

from __future__ import annotations

import textwrap
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.sandbox.core import Hub
from reconciler.sandbox.hub import build_hub, load_seed
from reconciler.sandbox.server import SandboxServer

EXAMPLE = Path(__file__).resolve().parents[2] / "campaigns"
KEYS = {"CLARKY_API_KEY": "ck_live_test_key", "GARY_API_KEY": "gc_live_test_key", "KALENT_API_KEY": "kalent_test_key"}
ROOTS = {"clarky": "/clarky/api/v1", "garyclub": "/garyclub/api/public/v1", "kalent": "/kalent/api/v1"}


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def project_yaml(url: str, *, extra: str = "") -> str:
    """campaignctl.yaml with all three providers on the served sandbox."""
    return textwrap.dedent(f"""\
        version: 1
        providers:
          clarky: {{type: clarky, api_key_env: CLARKY_API_KEY, bot_id: b_01HDEF, base_url: "{url}{ROOTS['clarky']}"}}
          gary: {{type: garyclub, api_key_env: GARY_API_KEY, base_url: "{url}{ROOTS['garyclub']}"}}
          kalent: {{type: kalent, api_key_env: KALENT_API_KEY, base_url: "{url}{ROOTS['kalent']}"}}
        """) + extra


@dataclass
class Served:
    """A served sandbox and one campaigns directory pointing at it."""

    hub: Hub
    server: SandboxServer
    root: Path
    url: str = ""
    env: dict[str, str] = field(default_factory=lambda: dict(KEYS))

    def write(self, files: dict[str, str]) -> Path:
        """(Re)write manifests; the project file always points at this server."""
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "campaignctl.yaml").write_text(project_yaml(self.url))
        for name, text in files.items():
            path = self.root / name
            if text is None:
                path.unlink(missing_ok=True)
            else:
                path.write_text(textwrap.dedent(text))
        return self.root

    def run(self, *args: str) -> Result:
        """`campaignctl ARGS` in-process, as a shell would run it."""
        result = CliRunner().invoke(main, list(args), env=self.env, catch_exceptions=False)
        return Result(result.exit_code, result.stdout, result.stderr)

    def writes(self) -> list[dict[str, Any]]:
        """Every non-GET request the sandbox logged so far."""
        return [r for r in self.hub.store.requests() if r["method"] not in ("GET", "HEAD")]

    def event(self, vendor: str, name: str, **kwargs: Any) -> Any:
        return self.hub.event(vendor, name, **kwargs)

    def advance(self, seconds: float) -> None:
        next(iter(self.hub.simulators.values())).clock.advance(seconds)

    def close(self) -> None:
        self.server.stop()
        self.hub.store.close()


def serve_sandbox(tmp_path: Path, seed: dict[str, Any] | None = None) -> Served:
    """A fresh sandbox served on 127.0.0.1, seeded like the example project unless `seed` is given."""
    hub = build_hub(tmp_path / "sandbox.db", load_seed(EXAMPLE) if seed is None else seed, rate_limits=False)
    server = SandboxServer(hub, port=0).start()
    return Served(hub, server, tmp_path / "camp", server.url)


def load_yaml(text: str) -> Any:
    return yaml.safe_load(text)


class Receiver:
    """A webhook receiver on 127.0.0.1 (http.server in a thread) that records POST bodies."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.status = 200
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - stdlib name
                length = int(self.headers.get("Content-Length") or 0)
                outer.bodies.append(self.rfile.read(length))
                self.send_response(outer.status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/services/T000/B000/secret-token"
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def take(self) -> list[bytes]:
        bodies, self.bodies = self.bodies, []
        return bodies

    def close(self) -> None:
        """Stop serving (idempotent): later POSTs get connection refused."""
        if self.thread.is_alive():
            self.httpd.shutdown()
            self.thread.join()
        self.httpd.server_close()
