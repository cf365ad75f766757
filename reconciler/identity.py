"""A person is every identifier they have: each email, each phone, each id a vendor knows them by.

Identifiers are compared in one canonical form, so the same address written two ways is the same
person everywhere (validate, vendor matching, rename detection):
- everything: zero-width characters (U+200B-U+200D, U+2060, U+FEFF) removed, surrounding
  whitespace stripped, Unicode NFC;
- email: lower case; an internationalised domain in its ASCII (IDNA, `xn--`) form, so
  `ana@müller.de` and `ana@xn--mller-kva.de` are one address;
- phone: the separators people type (spaces, dots, dashes, parentheses) removed; what is left must
  be E.164 (`+` and 7-15 digits);
- a vendor's own person id (VendorSpec.person_ids): kept as given (such ids are case-sensitive).

Identifiers are strings `email:<addr>`, `phone:<e164>`, `<scheme>:<vendor id>` (the scheme is the
vendor's, from its VendorSpec).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
PHONE_SEPARATORS = re.compile(r"[\s.\-()/]")
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")


def clean(text: str) -> str:
    """Zero-width characters out, surrounding whitespace stripped, Unicode NFC."""
    text = str(text)
    if text.isascii():  # no zero-width character and already NFC: only the strip can change it
        return text.strip()
    return unicodedata.normalize("NFC", text.translate(ZERO_WIDTH)).strip()


def canonical_email(email: str) -> str:
    """The comparison form of an email: cleaned, lower case, IDN domain in ASCII form.

    A domain that is not valid IDNA keeps its lower-cased Unicode form (validate rejects what is
    not an address at all; this function never raises)."""
    text = clean(email)
    if text.isascii() and not text.endswith("."):  # no IDN and no trailing dot: only the case changes
        return text.lower()
    local, at, domain = text.rpartition("@")
    if not at:
        return text.lower()
    domain = domain.lower().rstrip(".")
    if not domain.isascii():  # the IDNA codec returns an ASCII domain as it is (or refuses it: kept as it is)
        try:
            domain = domain.encode("idna").decode("ascii")
        except UnicodeError:
            pass
    return f"{local.lower()}@{domain}"


def canonical_phone(phone: str) -> str:
    """The comparison form of a phone number: cleaned, separators removed (E.164 when valid)."""
    text = PHONE_SEPARATORS.sub("", clean(phone))
    if text.startswith("00"):  # the international call prefix written out
        text = "+" + text[2:]
    return text


def is_e164(phone: str) -> bool:
    return bool(E164.match(phone))


def identifiers(emails: Iterable[str], phones: Iterable[str],
                person_ids: Iterable[tuple[str, str]] | None = None) -> tuple[str, ...]:
    """Every identifier of one person, canonical, in declaration order, without repeats.
    `person_ids`: (scheme, id) of each vendor's own id of the person."""
    out: dict[str, None] = {}  # insertion-ordered: the first of repeats keeps its place
    for email in emails:
        out["email:" + canonical_email(email)] = None
    for phone in phones:
        out["phone:" + canonical_phone(phone)] = None
    for scheme, pid in person_ids or ():
        if pid:
            out[f"{scheme}:{clean(pid)}"] = None
    return tuple(out)


def shown(identifier: str) -> str:
    """'email:ana@example.com' -> 'email ana@example.com' (for messages)."""
    from reconciler.providers.vendors import person_id_nouns  # the registry imports the model, which imports this

    kind, _, value = identifier.partition(":")
    return f"{person_id_nouns().get(kind, kind)} {value!r}"
