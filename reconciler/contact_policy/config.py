"""`policy:` of campaignctl.yaml -> ContactPolicy, every problem located (file:line:col).

The JSON Schema has already checked shapes and types; this module checks what it cannot: email,
domain and phone syntax, time zones, hour spans, the suppression CSV files, and (once the
sequences are known) that every sequence id the policy names exists and sits in one group only.
"""

from __future__ import annotations

import csv
import hashlib
import io
from datetime import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from reconciler.confined import RefusedPath, read_confined
from reconciler.contact_policy.settings import DAYS, ContactPolicy, ExclusiveGroup, SendWindow, Suppression
from reconciler.contact_syntax import EMAIL
from reconciler.errors import Problem
from reconciler.identity import canonical_email, canonical_phone, clean, is_e164
from reconciler.located_yaml import problem, where

CSV_COLUMNS = ("email", "domain", "phone")


def build_contact_policy(root: Path, node: Any, problems: list[Problem]) -> ContactPolicy:
    """The policy of a project file's `policy:` mapping (`node`; None when the section is absent)."""
    if not isinstance(node, dict):
        return ContactPolicy()
    suppress = node.get("suppress") or {}
    entries: list[Suppression] = []
    for kind in ("emails", "domains", "phones"):
        values = suppress.get(kind) or []
        for i, value in enumerate(values):
            file, line, col = where(values, i)
            key, why = suppression_key(kind[:-1], str(value))
            if why:
                problems.append(Problem(file, line, col, f"policy.suppress.{kind}: {why}"))
            else:
                entries.append(Suppression(key, f"{file}:{line}"))
    hasher = hashlib.sha256()
    names = suppress.get("csv") or []
    for i, name in enumerate(names):
        file, line, col = where(names, i)
        found, raw = _csv_entries(root, Path(file).parent, str(name), Problem(file, line, col, ""), problems)
        entries.extend(found)
        hasher.update(str(name).encode() + b"\0" + raw + b"\0")
    windows = [_window(w, problems) for w in node.get("send_windows") or []]
    return ContactPolicy(
        declared=True,
        suppressions=tuple(entries),
        vendor_opt_outs=bool(node.get("vendor_opt_outs", True)),
        exclusive=_groups(node.get("exclusive")),
        cooldown_days=int(node.get("cooldown_days") or 0),
        send_windows=tuple(w for w in windows if w is not None),
        digest=hasher.hexdigest() if names else "",
        suppressed_keys=frozenset(e.key for e in entries),
    )


def suppression_key(kind: str, value: str) -> tuple[str, str | None]:
    """(`email:…` | `domain:…` | `phone:…`, None), or ("", why the value is not one)."""
    text = clean(value)
    if kind == "email":
        if not EMAIL.match(text):
            return "", f"invalid email address {text!r}"
        return f"email:{canonical_email(text)}", None
    if kind == "domain":
        domain = text.lower().lstrip("@").rstrip(".")
        if "@" in domain or "." not in domain or not EMAIL.match(f"x@{domain}"):
            return "", f"invalid email domain {text!r} (like example.com)"
        return f"domain:{canonical_email('x@' + domain).split('@', 1)[1]}", None
    phone = canonical_phone(text)
    if not is_e164(phone):
        return "", f"phone number {text!r} is not E.164 (like +34911234567)"
    return f"phone:{phone}", None


def _csv_entries(root: Path, shown_dir: Path, name: str, at: Problem,
                 problems: list[Problem]) -> tuple[list[Suppression], bytes]:
    """The suppressions of one CSV file (header row: any of email, domain, phone)."""
    def refuse(why: str) -> tuple[list[Suppression], bytes]:
        problems.append(Problem(at.file, at.line, at.col, f"policy.suppress.csv: cannot read {name}: {why}"))
        return [], b""

    if Path(name).is_absolute():
        return refuse("an absolute path; write it relative to the campaigns directory")
    try:
        raw = read_confined(root, root / name)
    except RefusedPath as exc:
        return refuse(str(exc))
    display = str(shown_dir / name)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        problems.append(Problem(display, 1, 1, "CSV file is not valid UTF-8"))
        return [], raw
    rows = list(csv.reader(io.StringIO(text, newline="")))
    if not rows:
        problems.append(Problem(display, 1, 1, "empty suppression CSV: the header row names email, domain or phone"))
        return [], raw
    header = [clean(h).lower() for h in rows[0]]
    bad = [h for h in header if h not in CSV_COLUMNS]
    if bad or not header:
        problems.append(Problem(display, 1, 1, f"unknown column(s) {', '.join(map(repr, bad))}: a suppression CSV "
                                               f"has the columns {', '.join(CSV_COLUMNS)}"))
        return [], raw
    out: list[Suppression] = []
    for number, row in enumerate(rows[1:], start=2):
        if len(row) > len(header):
            problems.append(Problem(display, number, 1, f"{len(row)} values in a row of {len(header)} columns"))
            continue
        for column, value in zip(header, row, strict=False):  # a short row leaves columns empty
            if not clean(value):
                continue
            key, why = suppression_key(column, value)
            if why:
                problems.append(Problem(display, number, 1, why))
            else:
                out.append(Suppression(key, f"{display}:{number}"))
    return out, raw


def _groups(value: Any) -> tuple[ExclusiveGroup, ...]:
    if value is True:
        return (ExclusiveGroup("all sequences"),)
    if not value:
        return ()
    return tuple(ExclusiveGroup(str(g["group"]), frozenset(map(str, g["sequences"]))) for g in value)


def _hhmm(text: str) -> time | None:
    """'09:30' -> time; '24:00' -> None (the end of the day); ValueError when not a time."""
    hours, minutes = (int(part) for part in text.split(":"))
    if (hours, minutes) == (24, 0):
        return None
    return time(hours, minutes)


def _window(node: Any, problems: list[Problem]) -> SendWindow | None:
    try:
        zone = str(node["timezone"])
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems.append(problem(node, f"policy.send_windows: unknown time zone {node['timezone']!r} "
                                      "(an IANA name like Europe/Madrid)", "timezone"))
        return None
    first, _, last = str(node["hours"]).partition("-")
    try:
        start, end = _hhmm(first), _hhmm(last)
    except ValueError:
        start, end = None, time(0)
    if start is None or (end is not None and end <= start):
        problems.append(problem(node, f"policy.send_windows: hours {node['hours']!r}: a span HH:MM-HH:MM within one "
                                      "day, end after start (24:00 ends the day)", "hours"))
        return None
    return SendWindow(days=frozenset(DAYS.index(d) for d in node["days"]), start=start, end=end, timezone=zone,
                      sequences=frozenset(map(str, node.get("sequences") or ())))


def check_sequence_references(node: Any, sequence_ids: set[str], problems: list[Problem]) -> None:
    """Every sequence id `policy:` names is declared; a sequence is in at most one exclusive group."""
    if not isinstance(node, dict):
        return
    seen: dict[str, str] = {}
    groups = node.get("exclusive")
    for group in groups if isinstance(groups, list) else []:
        names = group.get("sequences") or []
        for i, sid in enumerate(names):
            file, line, col = where(names, i)
            if sid not in sequence_ids:
                problems.append(Problem(file, line, col, f"policy.exclusive: unknown sequence {sid!r}"))
            elif sid in seen and seen[sid] != group["group"]:
                problems.append(Problem(file, line, col, f"policy.exclusive: sequence {sid!r} is already in group "
                                                         f"{seen[sid]!r} (a sequence is in one group at most)"))
            seen.setdefault(sid, group["group"])
    for window in node.get("send_windows") or []:
        names = window.get("sequences") or []
        for i, sid in enumerate(names):
            if sid not in sequence_ids:
                file, line, col = where(names, i)
                problems.append(Problem(file, line, col, f"policy.send_windows: unknown sequence {sid!r}"))
