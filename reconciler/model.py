"""The neutral desired-state model: frozen dataclasses that know no YAML and no vendor JSON.

Identity is explicit (`Address`); dataclass equality is content equality. `loc` fields say where
in the manifests an object was declared and never take part in comparisons.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field, fields
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any, Self

from reconciler.contact_policy.settings import ContactPolicy
from reconciler.identity import canonical_email, clean, identifiers


@dataclass(frozen=True, slots=True)
class Loc:
    """Where something was declared: file, line, column."""

    file: str
    line: int
    col: int = 1

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


NOWHERE = Loc("?", 0, 0)


# The key is last and taken greedily, so a key holding ']' (stored before validate refused such
# emails, or a vendor id) still reads back; provider, kind and group never hold brackets.
_ADDRESS = re.compile(r"^([a-z][a-z0-9_-]*)\.([a-z]+)\[([^\]]+)\]\[(.+)\]$", re.DOTALL)
_HEADS: dict[str, tuple[str, str, str]] = {}  # 'provider.kind[group][' -> its parts, as _ADDRESS read them
_MAX_HEADS = 10_000  # a state with more groups than this parses the rest with _ADDRESS alone


@dataclass(frozen=True, slots=True, order=True)
class Address:
    """Stable name of one managed object, e.g. crm.membership[inbound-es][maria-garcia]."""

    provider: str
    kind: str  # membership | card | blueprint
    group: str  # sequence id | pipeline id | sourcing slug
    key: str  # contact id / candidate id | contact id | blueprint id

    def __str__(self) -> str:
        return f"{self.provider}.{self.kind}[{self.group}][{self.key}]"

    @classmethod
    def parse(cls, text: str) -> Address:
        """Inverse of str(); raises ValueError."""
        # A state holds 100,000s of addresses over a few providers, kinds and groups: the head
        # `provider.kind[group][` (the group holds no ']') is parsed once, and each part kept once.
        cut = text.find("]") + 2
        head = _HEADS.get(text[:cut]) if cut > 1 and len(text) > cut + 1 and text[-1] == "]" else None
        if head is not None:
            return cls(*head, text[cut:-1])
        m = _ADDRESS.match(text)
        if not m:
            raise ValueError(f"not an address: {text!r} (expected provider.kind[group][key])")
        provider, kind, group, key = m.groups()
        parts = (sys.intern(provider), sys.intern(kind), sys.intern(group))
        if len(_HEADS) < _MAX_HEADS and text == f"{provider}.{kind}[{group}][{key}]":
            _HEADS[f"{provider}.{kind}[{group}]["] = parts
        return cls(*parts, key)


def slug(text: str) -> str:
    """'Senior Backend Engineer' -> 'senior-backend-engineer' (for addresses)."""
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "x"


def normalize_email(email: str) -> str:
    """The comparison form of an email (see reconciler.identity)."""
    return canonical_email(email)


@dataclass(frozen=True, slots=True, init=False)
class Contact:
    """A person the manifests declare.

    `person_ids` holds the ids vendors that know people by their own id have for this person, by
    the contact key their VendorSpec declares (`PersonIds.contact_key`); such a key may also be
    given to the constructor as a keyword, as the manifests write it."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    emails: tuple[str, ...] = ()
    phone_numbers: tuple[str, ...] = ()
    company: str | None = None
    job_title: str | None = None
    notes: str | None = None
    tags: tuple[str, ...] = ()
    person_ids: tuple[tuple[str, str], ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    loc: Loc = field(default=NOWHERE, compare=False)

    def __init__(self, id: str, first_name: str | None = None, last_name: str | None = None,  # noqa: A002 (the field)
                 emails: tuple[str, ...] = (), phone_numbers: tuple[str, ...] = (), company: str | None = None,
                 job_title: str | None = None, notes: str | None = None, tags: tuple[str, ...] = (),
                 person_ids: tuple[tuple[str, str], ...] = (), fields: tuple[tuple[str, str], ...] = (),
                 loc: Loc = NOWHERE, **vendor_ids: str | None) -> None:
        if vendor_ids:
            known = person_id_schemes()
            for key in vendor_ids:
                if key not in known:
                    raise TypeError(f"Contact() got an unexpected keyword argument {key!r}")
        if not vendor_ids and len(person_ids) == 1:  # one id: nothing to merge or sort
            person_ids = tuple(person_ids)
        elif vendor_ids or person_ids:  # most contacts have none: 150,000 of them are built per command
            ids = dict(person_ids)
            ids.update({k: v for k, v in vendor_ids.items() if v})
            person_ids = tuple(sorted(ids.items()))
        else:
            person_ids = ()
        # frozen: each slot set through object.__setattr__, written out (a loop over the names costs a
        # third of building 150,000 contacts)
        _set(self, "id", id)
        _set(self, "first_name", first_name)
        _set(self, "last_name", last_name)
        _set(self, "emails", emails)
        _set(self, "phone_numbers", phone_numbers)
        _set(self, "company", company)
        _set(self, "job_title", job_title)
        _set(self, "notes", notes)
        _set(self, "tags", tags)
        _set(self, "person_ids", person_ids)
        _set(self, "fields", fields)
        _set(self, "loc", loc)

    def person_id(self, key: str) -> str | None:
        """The id a vendor knows this person by, under its contact key (None: not declared)."""
        for name, value in reversed(self.person_ids):  # the last of a repeated key wins, as in a dict
            if name == key:
                return value
        return None

    @property
    def primary_email(self) -> str | None:
        """The primary email as people write it, lower-cased (for lookups and {email}); compare
        identities with `identifiers` / `identity`, which hold the canonical form."""
        return clean(self.emails[0]).lower() if self.emails else None

    @property
    def primary_phone(self) -> str | None:
        return self.phone_numbers[0] if self.phone_numbers else None

    @property
    def identifiers(self) -> tuple[str, ...]:
        """Every identifier of this person: each email, each phone, each vendor person id (canonical)."""
        schemes = person_id_schemes() if self.person_ids else {}
        return identifiers(self.emails, self.phone_numbers, [(schemes[k], v) for k, v in self.person_ids])

    @property
    def identity(self) -> str:
        """The primary identity: normalised primary email, else E.164 phone (vendors' upserts match on it)."""
        if self.emails:
            return f"email:{normalize_email(self.emails[0])}"
        return f"phone:{self.primary_phone}"

    def value(self, name: str) -> str | None:
        """A field for {placeholders}: named attribute, email/phone, or an extra field."""
        if name == "email":
            return self.primary_email
        if name == "phone":
            return self.primary_phone
        if name in ("id", "first_name", "last_name", "company", "job_title", "notes"):
            return getattr(self, name)
        if name in person_id_schemes():
            return self.person_id(name)
        for key, value in reversed(self.fields):  # the last of a repeated key wins, as in a dict
            if key == name:
                return value
        return None


_set = object.__setattr__


def person_id_schemes() -> dict[str, str]:
    """Contact key -> identifier scheme of every registered vendor that knows people by its own id."""
    return _registry().person_id_keys()


@cache
def _registry() -> ModuleType:
    """The vendor registry, imported on first use (it imports this module); once, not per contact."""
    from reconciler.providers import vendors

    return vendors


def person_id_key_nouns() -> dict[str, str]:
    """Contact key -> how messages name that vendor person id ('candidate id')."""
    from reconciler.providers.vendors import person_id_key_nouns as nouns  # the registry imports this module

    return nouns()


@dataclass(frozen=True, slots=True)
class ProviderConfig:
    """One configured vendor account from campaignctl.yaml: the settings every vendor has.

    A vendor with settings of its own subclasses it (`VendorSpec.config_type`)."""

    name: str
    type: str
    api_key_env: str | None = None
    base_url: str = ""
    rate_limit: tuple[tuple[str, int], ...] = ()
    # False: no budget and no adopted rate-limit headers (the in-process sandbox with its limits off,
    # whose answers still carry the documented headers with the whole budget left)
    paced: bool = True
    sandbox: bool = False
    timeout_seconds: float = 30.0
    status_refresh_minutes: float = 15.0

    def limits(self) -> dict[str, int]:
        return dict(self.rate_limit)

    @classmethod
    def of(cls, config: ProviderConfig) -> Self:
        """`config` as this (vendor's) config type; keys it does not carry take their defaults."""
        if isinstance(config, cls):
            return config
        return cls(**{f.name: getattr(config, f.name) for f in fields(config)})


@dataclass(frozen=True, slots=True)
class Safety:
    """Limits that refuse a plan without an override flag."""

    max_new_memberships_per_apply: int = 200
    max_removal_fraction: float = 0.3
    removal_floor: int = 10
    max_messages_per_day: int | None = None  # by the plan's volume forecast (contact_policy.forecast)


@dataclass(frozen=True, slots=True)
class StateSettings:
    """Where the state lives: a SQLite file (`path`), or a PostgreSQL schema shared by a team, whose
    DSN is read from the environment variable `dsn_env` (never from a file) and whose rows are
    scoped by `project`."""

    backend: str = "sqlite"
    path: Path = Path(".campaignctl/state.db")
    dsn_env: str = "CAMPAIGNCTL_STATE_DSN"
    schema: str = "campaignctl"
    project: str | None = None


@dataclass(frozen=True, slots=True)
class Project:
    """Settings from campaignctl.yaml."""

    root: Path
    state_path: Path
    providers: dict[str, ProviderConfig]
    ownership_tag: str = "campaignctl"
    safety: Safety = Safety()
    state: StateSettings = StateSettings()
    policy: ContactPolicy = field(default_factory=ContactPolicy)  # `policy:`: contact policy across vendors


@dataclass(frozen=True, slots=True)
class Membership:
    """Desired: this contact (or a person known only by a vendor's id) is, or has been, enrolled in this sequence."""

    address: Address
    sequence_id: str
    contact_id: str | None  # manifest contact, when the member is one
    candidate_id: str | None = None  # the vendor's own id of the person (VendorSpec.person_ids)


@dataclass(frozen=True, slots=True)
class Sequence:
    """A vendor sequence and its desired members.

    `settings` are the vendor's own sequence keys as written (VendorSpec.sequences.settings);
    `loud`: its first message goes out within seconds of the enrollment (flagged in every plan)."""

    id: str
    provider: str
    provider_type: str
    target: str  # the vendor sequence (VendorSpec.sequences.target_key), or a manifest blueprint key
    sourcing: str | None = None  # the vendor group the sequence's blueprint belongs to, if the vendor has one
    name: str | None = None
    loud: bool = False
    reenroll: str = "never"
    on_removal: str = "report"
    daily_cap: int | None = None
    metadata: tuple[tuple[str, Any], ...] = ()
    members: tuple[Membership, ...] = ()
    settings: tuple[tuple[str, Any], ...] = ()
    loc: Loc = field(default=NOWHERE, compare=False)

    def setting(self, key: str, default: Any = None) -> Any:
        """A vendor sequence key as the manifest wrote it."""
        return dict(self.settings).get(key, default)


@dataclass(frozen=True, slots=True)
class Card:
    """Desired: this contact has a card in this pipeline, with these managed fields."""

    address: Address
    pipeline_id: str
    contact_id: str
    stage: str
    title: str
    description: str | None = None
    tags: tuple[str, ...] = ()
    loc: Loc = field(default=NOWHERE, compare=False)

    def managed_fields(self) -> dict[str, Any]:
        """The fields campaignctl owns (stage is handled separately as a move)."""
        return {"title": self.title, "description": self.description, "tags": sorted(self.tags)}


@dataclass(frozen=True, slots=True)
class Pipeline:
    """A live pipeline and the cards campaignctl manages in it."""

    id: str
    provider: str
    provider_type: str
    pipeline: str
    stage_policy: str = "initial"
    prune: str = "none"
    cards: tuple[Card, ...] = ()
    loc: Loc = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class Blueprint:
    """A vendor sequence definition declared as code (VendorSpec.blueprints); steps in the vendor's shape."""

    address: Address
    id: str
    provider: str
    sourcing: str
    name: str
    steps: tuple[dict[str, Any], ...] = ()
    loc: Loc = field(default=NOWHERE, compare=False)


@dataclass(frozen=True, slots=True)
class DesiredState:
    """Everything the manifests say, resolved and validated."""

    project: Project
    contacts: dict[str, Contact]
    sequences: tuple[Sequence, ...]
    pipelines: tuple[Pipeline, ...]
    blueprints: tuple[Blueprint, ...]
    digest: str

    def memberships(self) -> Iterator[tuple[Sequence, Membership]]:
        for seq in self.sequences:
            for member in seq.members:
                yield seq, member

    def cards(self) -> Iterator[tuple[Pipeline, Card]]:
        for pipe in self.pipelines:
            for card in pipe.cards:
                yield pipe, card

    def summary(self) -> dict[str, dict[str, int]]:
        """Counts per provider: memberships, cards, blueprints."""
        out: dict[str, dict[str, int]] = {}
        for name in sorted(self.project.providers):
            out[name] = {"memberships": 0, "cards": 0, "blueprints": 0}
        for seq in self.sequences:
            out[seq.provider]["memberships"] += len(seq.members)
        for pipe in self.pipelines:
            out[pipe.provider]["cards"] += len(pipe.cards)
        for bp in self.blueprints:
            out[bp.provider]["blueprints"] += 1
        return out
