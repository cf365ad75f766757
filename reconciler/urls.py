"""URLs campaignctl sends to: shown safely, and refused when they would carry a key in clear text.

Choices:
- A webhook URL's path and a database DSN's user info carry secrets, so messages show `safe_url`:
  scheme and host (and port) only, and it never fails, whatever the text.
- Keys and webhook tokens travel only over `https://`; plain `http://` is allowed to loopback
  addresses only (127.0.0.0/8, ::1, localhost), where the sandbox and tests listen and nothing
  crosses a network.
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse

_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def safe_url(url: object) -> str:
    """scheme://host[:port] of a URL or DSN, for messages: never its path, query or user info."""
    try:
        parts = urllib.parse.urlsplit(str(url).strip())
        host = parts.hostname or "?"
        port = parts.port
    except ValueError:
        return "(unparseable URL)"
    if not _SCHEME.fullmatch(parts.scheme or ""):
        return "(URL without a scheme)"
    host = "".join(c for c in host if c.isprintable() and not c.isspace())[:100] or "?"
    return f"{parts.scheme}://{host}" + (f":{port}" if port else "")


def is_loopback(host: str | None) -> bool:
    """127.0.0.0/8, ::1 or localhost: addresses that never leave this machine."""
    if not host:
        return False
    if host.lower().rstrip(".") in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def url_problem(url: str) -> str | None:
    """Why `url` must not carry a key or token (None when it may): https only, except to loopback."""
    if any(c.isspace() or not c.isprintable() for c in url):
        return f"{safe_url(url)}: the URL contains a space or control character"
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as exc:
        return f"{safe_url(url)}: not a valid URL ({exc})"
    if not parts.scheme or not parts.hostname:
        return f"{safe_url(url)}: expected an absolute URL such as https://host/path"
    if parts.scheme.lower() == "https":
        return None
    if parts.scheme.lower() == "http" and is_loopback(parts.hostname):
        return None
    if parts.scheme.lower() == "http":
        return (f"{safe_url(url)}: plain http:// would send the key in clear text; "
                "use https:// (http:// is allowed to loopback addresses only)")
    return f"{safe_url(url)}: unsupported scheme {parts.scheme!r} (use https://)"
