"""Secrets: API keys read from the environment, URLs whose path is a secret, and redaction.

Choices:
- A key's surrounding whitespace is dropped (a pasted secret, a CRLF secret file); any control
  character left inside it is an error that names the variable, never the value: sending it would
  fail in the HTTP layer with the whole header, key included, in the message.
- Every key in use is registered here, and `redact` replaces each rendering of it a message can
  carry: raw, Python-escaped (str and bytes repr), JSON-escaped and URL-encoded. The command line
  passes every message, traceback and log line through it, so a key reaches no output whichever
  layer formatted it.
- URLs whose path or user info is a secret (webhooks, DSNs) are shown by `reconciler.urls.safe_url`.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from collections.abc import Iterable

MASK = "[REDACTED]"
_lock = threading.Lock()
_registered: set[str] = set()


def clean_key(variable: str, value: str) -> str:
    """The key held by environment variable `variable`, surrounding whitespace stripped.

    Raises ValueError naming the variable (never the value) when a control character is inside."""
    register(value)  # even a refused value is redacted, should anything print it
    key = value.strip()
    bad = next((c for c in key if ord(c) < 0x20 or 0x7F <= ord(c) < 0xA0), None)
    if bad is not None:
        raise ValueError(f"environment variable {variable} holds a control character (U+{ord(bad):04X}) inside "
                         "the key; export the key alone, on one line")
    register(key)
    return key


def register(secret: str | None) -> None:
    """Remember a secret so that `redact` hides it from every message from now on."""
    if secret and len(secret.strip()) >= 4:  # a 1-3 character 'secret' would mask ordinary words
        with _lock:
            _registered.add(secret)
            _registered.add(secret.strip())


def renderings(secret: str) -> set[str]:
    """The ways a message can spell `secret`: raw, escaped, repr'd, JSON-encoded, URL-encoded."""
    forms = {
        secret,
        secret.encode("unicode_escape").decode("ascii"),
        repr(secret)[1:-1],
        repr(secret.encode("utf-8"))[2:-1],
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret),
    }
    return {f for f in forms if f}


def redact(text: str, extra: Iterable[str | None] = ()) -> str:
    """`text` with every rendering of every registered secret (and of `extra`) replaced by [REDACTED]."""
    if not text:
        return text
    with _lock:
        secrets = set(_registered)
    secrets.update(s for s in extra if s)
    forms: set[str] = set()
    for secret in secrets:
        forms |= renderings(secret)
    for form in sorted(forms, key=len, reverse=True):  # longest first: a key's escaped form contains its prefix
        if form in text:
            text = text.replace(form, MASK)
    return text
