"""What a vendor's discovery (`providers/<vendor>/discover.py`, for `campaignctl import`) found, in
neutral terms: each vendor's `_mapping.py` turns its JSON into these, so no vendor JSON reaches an
importer. Values are as the vendor holds them (an importer keeps only what validates); a value the
vendor leaves out is None or empty.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["CardDiscovery", "Found", "FoundBlueprint", "FoundCard", "FoundContact", "FoundEnrollment", "FoundPipeline",
           "FoundSequence", "FoundSourcing", "text"]


def text(value: Any) -> str | None:
    """A vendor value as text, None when the vendor gave none (a mapping's helper)."""
    return None if value is None else str(value)


@dataclass(frozen=True, slots=True)
class FoundContact:
    """A person the vendor holds: emails and phone numbers primary first."""

    remote_id: str
    first_name: str | None = None
    last_name: str | None = None
    emails: tuple[str, ...] = ()
    phone_numbers: tuple[str, ...] = ()
    company: str | None = None
    job_title: str | None = None


@dataclass(frozen=True, slots=True)
class Found:
    """Something the vendor holds under an id and, usually, a name."""

    remote_id: str
    name: str | None

    @property
    def label(self) -> str:
        """The name, else the id: what a manifest names it by."""
        return self.name or self.remote_id


@dataclass(frozen=True, slots=True)
class FoundPipeline(Found):
    """A live pipeline of cards."""


@dataclass(frozen=True, slots=True)
class FoundCard:
    """A live card (a pipeline card, or a deal, as the vendor calls it), its stage by name."""

    remote_id: str
    contact_remote_id: str | None
    stage: str
    title: str
    description: str | None
    tags: tuple[str, ...]
    archived: bool


@dataclass(frozen=True, slots=True)
class FoundSequence(Found):
    """A live sequence; `active` says whether it takes new members now (`status`, the vendor's word)."""

    status: str = ""
    active: bool = True


@dataclass(frozen=True, slots=True)
class FoundEnrollment:
    """One enrollment of a sequence, in any status, and the vendor's id of its person."""

    remote_id: str
    contact_remote_id: str | None


@dataclass(frozen=True, slots=True)
class FoundSourcing(Found):
    """The vendor's group blueprints belong to (`Blueprint.sourcing`)."""


@dataclass(frozen=True, slots=True)
class FoundBlueprint(Found):
    """A live blueprint: its steps in the form manifests declare them (the vendor's, as `Blueprint.steps`)."""

    steps: tuple[dict[str, Any], ...] = ()


class CardDiscovery(Protocol):
    """What `import --pipeline` asks of a vendor with pipelines of cards (its discover.py)."""

    page: int  # the size of the vendor's list pages: import reports progress once per page

    def pipeline(self, name_or_id: str) -> FoundPipeline:
        """The live pipeline named (or with the id) `name_or_id`; PlanError naming the others."""

    def contacts(self, pipeline: FoundPipeline) -> Iterator[FoundContact]:
        """The contacts the pipeline's cards name, listed before the cards (a superset is fine)."""

    def contact(self, remote_id: str) -> FoundContact | None:
        """A contact `contacts` did not list, by id (None: not known, or the vendor cannot fetch one)."""

    def cards(self, pipeline: FoundPipeline) -> Iterator[FoundCard]:
        """Every card of the pipeline, archived ones included."""
