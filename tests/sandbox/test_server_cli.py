"""`campaignctl sandbox serve` end to end: a real subprocess on 127.0.0.1 with the real simulators."""

from __future__ import annotations

import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import threading

import httpx

from reconciler.sandbox.core import parse_iso
from reconciler.sandbox.server import SandboxControl
from tests.conftest import EXAMPLE


def _campaignctl(*args: str) -> list[str]:
    return [sys.executable, "-m", "reconciler", *args]


def test_campaignctl_sandbox_serve_end_to_end(tmp_path):
    camp = tmp_path / "camp"
    shutil.copytree(EXAMPLE, camp, ignore=shutil.ignore_patterns(".campaignctl"))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(_campaignctl("sandbox", "serve", "--port", "0", "--dir", str(camp)),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    lines: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=lambda: [lines.put(line) for line in proc.stdout], daemon=True)
    reader.start()
    try:
        first = lines.get(timeout=30)
        assert first.startswith("Sandbox serving on http://127.0.0.1:"), first
        url = first.split()[3]
        bases = [lines.get(timeout=5).split("base_url: ")[1].strip() for _ in range(3)]
        assert bases == [f"{url}/clarky/api/v1", f"{url}/garyclub/api/public/v1", f"{url}/kalent/api/v1"]
        for base in bases:   # each prefix reaches its simulator, which refuses a request without a key
            assert httpx.get(f"{base}/anything", timeout=5).status_code == 401
        with SandboxControl(url) as control:
            before = control.health()
            resp = httpx.get(f"{url}/clarky/api/v1/contacts", headers={"Authorization": "Bearer ck_live_e2e"}, timeout=5)
            assert resp.status_code == 200, resp.text
            assert isinstance(resp.json(), dict)
            assert ("GET", "/api/v1/contacts") in {(r["method"], r["path"]) for r in control.requests("clarky")}
            advanced = subprocess.run(_campaignctl("sandbox", "advance", "1h", "--url", url),
                                      capture_output=True, text=True, timeout=30)
            assert advanced.returncode == 0, advanced.stderr
            assert advanced.stdout.strip() == "Sandbox clock advanced by 1h."
            after = control.health()
            replied = subprocess.run(_campaignctl("sandbox", "reply", "nobody@example.com", "--vendor", "clarky",
                                                  "--url", url), capture_output=True, text=True, timeout=30)
            # 400 or 404 depending on whether the simulator raises ValueError or LookupError.
            assert replied.returncode == 1, replied.stdout + replied.stderr      # the vendor named could not do it
            assert re.match(rf"error: clarky: sandbox POST {re.escape(url)}/_sandbox/events/clarky/reply -> 40[04]: "
                            "no Clarky contact matches 'nobody@example.com'", replied.stderr), replied.stderr
        assert 3600 <= parse_iso(after["now"]) - parse_iso(before["now"]) < 3660
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
            stderr = proc.stderr.read()
            reader.join(5)      # the process is gone, so its stdout is at EOF
            proc.stdout.close()
            proc.stderr.close()
    assert proc.returncode == 0, stderr
    assert "/api/v1/contacts" not in stderr     # no per-request log noise
    assert (camp / ".campaignctl" / "sandbox.db").is_file()
