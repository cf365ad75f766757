"""POST a drift summary to a webhook (Slack-compatible), with bounded retries. Stdlib only."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from reconciler.errors import ReconcilerError


class NotifyError(ReconcilerError):
    """The notification URL did not accept the summary."""


def post_json(url: str, payload: dict[str, Any], *, attempts: int = 3, timeout: float = 10.0,
              sleep: Callable[[float], None] = time.sleep) -> int:
    """POST `payload`; retry 5xx and connection errors; raise NotifyError naming the URL's host."""
    body = json.dumps(payload).encode()
    shown = url.split("?", 1)[0]  # a webhook's query string can carry a token: never print it
    last = ""
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "campaignctl"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.reason}"
            if exc.code < 500:
                break
        except (urllib.error.URLError, OSError) as exc:
            last = str(getattr(exc, "reason", exc))
        if attempt < attempts - 1:
            sleep(0.5 * 2 ** attempt)
    raise NotifyError(f"notify: POST {shown} failed: {last}")
