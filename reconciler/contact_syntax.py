"""One raw contact -> Contact: email, E.164 phone and vendor person-id syntax, each address kept once."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from reconciler.errors import Problem
from reconciler.identity import canonical_email, canonical_phone, clean, is_e164
from reconciler.located_yaml import problem
from reconciler.model import Contact, Loc, person_id_key_nouns

# Characters an address (`provider.kind[group][key]`, where a default contact id is its email) or a
# mail header cannot carry, besides '@' and whitespace: brackets, angle brackets, quotes, list
# separators, backslash and control characters. Non-ASCII letters are fine.
_NOT_IN_EMAIL = r"@\s\[\]<>()\",;:\\\x00-\x1f\x7f-\x9f"
EMAIL = re.compile(rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+\.[^{_NOT_IN_EMAIL}.]+$")
CANDIDATE_ID = re.compile(r"^[^\s\[\]\x00-\x1f\x7f-\x9f]+$")

def contact_from(raw: dict[str, Any], loc: Loc, problems: list[Problem], node: Any = None,
                 nouns: Mapping[str, str] | None = None,
                 shared: dict[tuple[str, ...], tuple[str, ...]] | None = None) -> Contact | None:
    """Check emails/phones and build a Contact; problems are located at `loc` or `node`. `nouns`: the
    vendor person-id keys and their nouns (person_id_key_nouns()), which a caller building many passes once;
    `shared`: where a caller building many keeps one tags tuple for all contacts with the same tags."""

    def report(message: str, key: str | None = None) -> None:
        problems.append(problem(node, message, key) if node is not None
                        else Problem(loc.file, loc.line, loc.col, message))

    # Zero-width characters, surrounding space and Unicode forms never make two addresses of one;
    # phones are kept in E.164 whatever separators were typed.
    emails = _unique([e for e in map(clean, raw.get("emails") or ()) if e])
    phones = _unique([canonical_phone(p) for p in raw.get("phone_numbers") or () if clean(p)])
    ok = True
    for email in emails:
        if not EMAIL.match(email):
            report(f"invalid email address {email!r}", "emails")
            ok = False
    for phone in phones:
        if not is_e164(phone):
            report(f"phone number {phone!r} is not E.164 (like +34911234567)", "phone_numbers")
            ok = False
    if not emails and not phones:
        report("a contact needs at least one email or phone number")
        ok = False
    person_ids = {}
    for key, noun in (person_id_key_nouns() if nouns is None else nouns).items():
        value = raw.get(key)
        if not value:
            continue
        if not CANDIDATE_ID.match(str(value)):
            report(f"{noun} {value!r} holds a space, bracket or control character", key)
            ok = False
        elif cleaned := clean(str(value)):
            person_ids[key] = cleaned
    if not ok:
        return None
    cid = raw.get("id") or (emails[0].lower() if emails else phones[0])
    tags = raw.get("tags")
    fields = raw.get("fields")
    return Contact(
        id=cid,
        first_name=raw.get("first_name") or None,
        last_name=raw.get("last_name") or None,
        emails=emails,
        phone_numbers=phones,
        company=raw.get("company") or None,
        job_title=raw.get("job_title") or None,
        notes=raw.get("notes") or None,
        tags=_tags(tags, shared) if tags else (),
        person_ids=tuple(sorted(person_ids.items())),
        fields=tuple(sorted([(k, str(v)) for k, v in fields.items()])) if fields else (),
        loc=loc,
    )


def _tags(tags: Iterable[str], shared: dict[tuple[str, ...], tuple[str, ...]] | None) -> tuple[str, ...]:
    """Tags sorted, each once; the tuple in `shared` when one is equal."""
    out = tuple(sorted(set(tags)))
    return out if shared is None else shared.setdefault(out, out)


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    """Values in order, each once by its canonical form (`A@x.com` after `a@x.com` is the same address)."""
    if isinstance(values, list) and len(values) == 1:  # one value: nothing to compare it with
        return (values[0],)
    out: dict[str, str] = {}
    for value in values:
        out.setdefault(canonical_email(value) if "@" in value else value, value)
    return tuple(out.values())
