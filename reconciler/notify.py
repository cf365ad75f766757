"""POST a drift summary to a webhook (Slack-compatible), with bounded retries. Stdlib only.

Choices: 5xx, 429 and connection errors are retried (3 attempts, 0.25 s then 0.5 s apart); other
4xx are final. Errors name only the scheme and host, since a webhook URL's path is its secret, and
the URL is checked (https, or http to loopback; no spaces) before anything is read or sent.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import Any

from reconciler.errors import ReconcilerError
from reconciler.secrets import redact
from reconciler.urls import safe_url, url_problem


class NotifyError(ReconcilerError):
    """The notification URL did not accept the summary."""


def post_json(url: str, payload: dict[str, Any], *, attempts: int = 3, timeout: float = 10.0, backoff: float = 0.25,
              sleep: Callable[[float], None] = time.sleep) -> int:
    """POST `payload`; retry 5xx and connection errors; raise NotifyError naming the URL's host."""
    check_url(url)
    body = json.dumps(payload).encode()
    shown = safe_url(url)  # a webhook's path or query carries its secret token: name only the host
    last = ""
    for attempt in range(attempts):
        request = urllib.request.Request(url, data=body, method="POST",
                                         headers={"Content-Type": "application/json", "User-Agent": "campaignctl"})
        try:
            with urllib.request.urlopen(request, timeout=timeout) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            last = f"{exc.code} {exc.reason}"
            if exc.code < 500 and exc.code != 429:
                break
        except (urllib.error.URLError, OSError) as exc:
            last = redact(str(getattr(exc, "reason", exc)), (url,))
        except Exception as exc:  # noqa: BLE001 - http.client/urllib raise ValueError & co. quoting the URL
            last = type(exc).__name__
            break
        if attempt < attempts - 1:
            sleep(backoff * 2 ** attempt)
    tries = f"{attempt + 1} attempt{'s' if attempt else ''}"
    raise NotifyError(f"notify: POST to {shown} failed after {tries}: {last}; "
                      "the next drift run notifies again")


def check_url(url: str) -> None:
    """Refuse a URL the summary must not go to (clear text off this machine, no scheme, a space)."""
    why = url_problem(url)
    if why:
        raise NotifyError(f"--notify {why}")
