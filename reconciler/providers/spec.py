"""VendorSpec: everything the neutral core needs to know about one vendor, in one value.

The core (manifest validation, planning, apply, drift, import, the sandbox hub) never names a
vendor: it asks the registry (`reconciler.providers.vendors`) for the spec of a provider's `type`
and uses what the spec holds. Each vendor declares its spec in `providers/<vendor>/spec.py`.

Hooks that need the vendor's code (adapter, simulator, importer) are zero-argument callables that
import it on demand, so loading a spec stays cheap and free of import cycles.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from reconciler.errors import Problem
from reconciler.model import Blueprint, ProviderConfig

# (code, message, details, tracking id) of a vendor's error body; see `VendorSpec.envelope`.
Envelope = tuple[str | None, str, dict[str, Any], str | None]


def plain_envelope(body: Any) -> Envelope:
    """The error bodies most vendors send: `{"error": {"code", "message", "details"}}` or
    `{"error": "code", "message", "details"}`; anything else is read as well as it can be."""
    if not isinstance(body, Mapping):
        return None, "no error body", {}, None
    err = body.get("error")
    if isinstance(err, Mapping):
        message = str(err.get("message") or err.get("code") or "error")
        return err.get("code"), message, _details(err), None
    if isinstance(err, str):
        return err, str(body.get("message") or err), _details(body), None
    return None, str(body.get("message") or "error"), _details(body), None


def _details(envelope: Mapping[str, Any]) -> dict[str, Any]:
    details = envelope.get("details")
    return dict(details) if isinstance(details, Mapping) else {}


@dataclass(frozen=True)
class ConfigKey:
    """A key a vendor accepts on its provider in campaignctl.yaml, beyond the neutral ones.

    `schema` is its JSON Schema fragment. `exclusive`: declared on another vendor's provider it
    is a located error ("X is a <vendor> setting"); otherwise it is accepted there and unused."""

    schema: Mapping[str, Any]
    exclusive: bool = True
    convert: Callable[[Any], Any] = lambda value: value


@dataclass(frozen=True)
class PersonIds:
    """A vendor that knows people by its own id rather than by email or phone.

    `contact_key`: the contact key (and CSV column) holding that id; `scheme`: the prefix of the
    identifier (`<scheme>:<id>`) that makes it part of a person's identity; `noun`: how messages
    name it; `direct_key`: a sequence key listing such ids to enroll without a manifest contact."""

    contact_key: str
    scheme: str
    noun: str
    contact_schema: Mapping[str, Any]
    direct_key: str | None = None


# Resolves a sequence's group (e.g. the vendor's folder or job a sequence belongs to) from its node
# and the blueprints the project declares: (usable, group). Problems are appended, located.
GroupResolver = Callable[[dict[str, Any], Mapping[str, Blueprint], list[Problem]], tuple[bool, str | None]]


def group_as_written(node: dict[str, Any], blueprints: Mapping[str, Blueprint],
                     problems: list[Problem]) -> tuple[bool, str | None]:
    return True, node.get("sourcing")


@dataclass(frozen=True)
class SequenceRules:
    """How a vendor's sequences are declared in the manifests.

    `target_key` names the vendor sequence (required); `keys` are every sequence key only this
    vendor accepts (target included), each with its JSON Schema fragment. A key another vendor
    accepts is refused on this one's sequences, located. `values` turns the node into the vendor
    settings kept on the model's Sequence; `loud` says whether the first message goes out within
    seconds (flagged in every plan); `fold_target`: the vendor matches sequence names
    case-insensitively, so two spellings are one vendor sequence."""

    target_key: str
    target_noun: str
    keys: Mapping[str, Mapping[str, Any]]
    settings: tuple[str, ...] = ()
    loud: Callable[[dict[str, Any]], bool] = lambda node: False
    fold_target: bool = False
    group: GroupResolver = group_as_written


@dataclass(frozen=True)
class BlueprintRules:
    """A vendor whose sequence definitions (blueprints) are declared as code.

    `step_problems(steps)` yields (step index, field, message) for every rule broken, checked at
    validate time; `compared(steps)` is the form in which desired and live steps are compared
    (what the vendor stores for what was sent)."""

    step_problems: Callable[[list[dict[str, Any]]], Iterator[tuple[int, str, str]]]
    compared: Callable[[Iterable[dict[str, Any]]], list[dict[str, Any]]] = lambda steps: [dict(s) for s in steps]


@dataclass(frozen=True)
class Stall:
    """A vendor status that is normal for a while and a health problem after `after` (drift)."""

    kind: str
    after: timedelta
    text: str  # "stuck in generating": drift appends "for <how long>"


@dataclass(frozen=True)
class SandboxEvents:
    """How `campaignctl sandbox <event>` talks to this vendor's simulator: a person is named by the
    event keyword `person_key`, with the value `person(contact)` for a manifest contact (None: the
    vendor does not know them); cards by the events below."""

    person_key: str = "contact"
    person: Callable[[Any], str | None] = lambda contact: contact.primary_email or contact.primary_phone
    unsubscribe: bool = False  # `sandbox unsubscribe` without --vendor asks this vendor
    move_card: tuple[str, str] | None = None  # (event, keyword) that moves one of its cards
    archive_card: tuple[str, str] | None = None  # (event, keyword) that archives one of its cards
    card_prefix: str | None = None  # its card ids start so (None: a card id no other vendor claims)


@dataclass(frozen=True)
class AsyncStarts:
    """A vendor whose starts show on its status read only once it dispatched them, so a read of "none"
    proves nothing for a while: the core's merge holds such reads to a settle window
    (reconciler/settle_window.py). `minutes`: the window of one configured provider; the rest is how
    messages name the setting, the person and the vendor's "none"."""

    setting: str  # the provider key that sets the window, in minutes
    minutes: Callable[[ProviderConfig], float]
    person: str  # "candidate"
    none: str  # "no sequence"


@dataclass(frozen=True)
class VendorSpec:
    """One vendor: its defaults, what its manifests may say, and how to build its parts."""

    name: str  # the provider `type` in campaignctl.yaml, the address prefix of its sandbox
    title: str  # as people write it, for messages
    base_url: str
    rate_limits: Mapping[str, int]
    sandbox_key: str  # the key the in-process sandbox accepts when none is exported; reaches no vendor
    sandbox_root: str  # the API root below the simulator's prefix in `sandbox serve`
    provider: Callable[[], type]  # the adapter class, imported on demand
    simulator: Callable[[], type]  # the simulator class, imported on demand
    config_type: type[ProviderConfig] = ProviderConfig
    config_keys: Mapping[str, ConfigKey] = field(default_factory=dict)
    sequences: SequenceRules | None = None
    pipelines: bool = False
    blueprints: BlueprintRules | None = None
    person_ids: PersonIds | None = None
    envelope: Callable[[Any], Envelope] = plain_envelope
    replays_starts: bool = False  # a start in doubt is settled by replaying it with its idempotency key
    async_starts: AsyncStarts | None = None  # starts show late: "none" is proof only across a settle window
    stalls: Mapping[str, Stall] = field(default_factory=dict)  # active vendor status -> when it is a problem
    reply_reasons: frozenset[str] = frozenset()  # pause reasons meaning "the person replied"
    importer: Callable[[], Any] | None = None  # module with import_pipeline/import_sequence/import_sourcing
    sandbox_events: SandboxEvents = SandboxEvents()

    def config(self, raw: Mapping[str, Any], **neutral: Any) -> ProviderConfig:
        """The provider's config: the neutral values, and this vendor's own keys as written."""
        own = {key: rule.convert(raw[key]) for key, rule in self.config_keys.items() if key in raw}
        return self.config_type(**neutral, **own)
