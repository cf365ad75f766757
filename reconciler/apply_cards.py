"""The card and blueprint writes of an apply, and the one journaled write they share with a stop.

`CardWrites` is a part of `reconciler.apply.Applier` (its base class), kept in its own module: a
card or blueprint change runs as one write (a durable journal intent, the request, its outcome),
and a lost answer is settled by reading the vendor (`_resolve_card`, `_resolve_blueprint`), never
by sending again. A blueprint that failed is noted, so that the starts that need it are skipped.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from reconciler.apply_report import ApplyReport, ChangeResult
from reconciler.errors import Interrupted, OutcomeUnknown, ProviderError
from reconciler.model import Address, Card, Pipeline
from reconciler.plan_types import Change
from reconciler.providers.base import CardUpdate, Provider
from reconciler.session import Session
from reconciler.snapshot import LiveSnapshot
from reconciler.state import Store
from reconciler.vocabulary import Action, ApplyStatus, Kind, Operation, Outcome

BLUEPRINT_OPERATION = {Action.CREATE: Operation.CREATE_BLUEPRINT, Action.UPDATE: Operation.UPDATE_BLUEPRINT}


class CardWrites:
    """Card and blueprint changes, as `Applier` methods (dispatched through its HANDLERS)."""

    # What the Applier holds and does, that these writes use (set and defined by Applier).
    session: Session
    store: Store
    report: ApplyReport
    _failed_blueprints: set[str]
    _pipelines: dict[tuple[str, str], Pipeline]
    _cards: dict[Address, Card]
    _record: Callable[[ChangeResult], None]
    _live: Callable[[str], LiveSnapshot]
    _seen: Callable[[Provider], Any]
    _now: Callable[[], str]

    def _write_card(self, provider: Provider, change: Change) -> None:
        self._write(change, Operation(change.action.value), lambda: self._execute_card(provider, change),
                    lambda intent: self._resolve_card(provider, change, intent))

    def _write_blueprint(self, provider: Provider, change: Change) -> None:
        self._write(change, BLUEPRINT_OPERATION[change.action], lambda: self._execute_blueprint(provider, change),
                    lambda intent: self._resolve_blueprint(provider, change, intent))

    def _write(self, change: Change, operation: Operation, execute: Callable[[], str | None],
               resolve: Callable[[int], str | None]) -> None:
        """One write: a durable intent, the request, its outcome; a lost answer is settled by `resolve`
        (reading), never by sending again."""
        addr = change.address
        intent = self.store.intent(self.report.apply_id, addr, operation, detail={"action": change.action})
        try:
            remote_id = execute()
        except OutcomeUnknown as exc:
            self.store.outcome(intent, Outcome.UNKNOWN, detail={"error": str(exc)})
            remote_id = None
            try:
                remote_id = resolve(intent)
            except ProviderError:
                pass
            if remote_id is None:
                self._record(ChangeResult(str(addr), change.action, ApplyStatus.UNKNOWN,
                                          f"outcome unknown ({exc}); the next run resolves it by reading"))
                self._note_blueprint_failure(change)
                return
            self._record(ChangeResult(str(addr), change.action, ApplyStatus.OK,
                                      "confirmed by reading after a lost answer", remote_id))
            return
        except Interrupted as exc:  # stopped before its request left: nothing was sent
            self.store.outcome(intent, Outcome.ERROR, detail={"error": str(exc)})
            self._record(ChangeResult(str(addr), change.action, ApplyStatus.INTERRUPTED,
                                      "not sent: apply was interrupted"))
            return
        except ProviderError as exc:
            self.store.outcome(intent, Outcome.ERROR, request_id=exc.request_id, detail={"error": str(exc)})
            self._record(ChangeResult(str(addr), change.action, ApplyStatus.FAILED, str(exc),
                                      request_id=exc.request_id))
            self._note_blueprint_failure(change)
            return
        self.store.outcome(intent, Outcome.OK, remote_id=remote_id)
        self._record(ChangeResult(str(addr), change.action, ApplyStatus.OK, "", remote_id))

    def _note_blueprint_failure(self, change: Change) -> None:
        if change.address.kind == Kind.BLUEPRINT:
            self._failed_blueprints.add(change.address.key)

    def _resolve_card(self, provider: Provider, change: Change, intent: int) -> str | None:
        addr = change.address
        pipe, card = self._card(addr)
        found = provider.find_card(pipe, card, self.session.desired.contacts[card.contact_id],
                                   seen=self._seen(provider)) if card else None
        if found is not None and change.action != Action.DELETE:
            self.store.outcome(intent, Outcome.RESOLVED_PRESENT, remote_id=found.remote_id)
            self.store.remember(addr, found.remote_id, status="archived" if found.archived else "active",
                                vendor_status=found.stage, observed_at=self._now())
            return found.remote_id
        if change.action == Action.DELETE and found is None:
            self.store.outcome(intent, Outcome.RESOLVED_ABSENT)
            self.store.forget(addr)
            return "deleted"
        return None

    def _resolve_blueprint(self, provider: Provider, change: Change, intent: int) -> str | None:
        addr = change.address
        bp = next(b for b in self.session.desired.blueprints if b.address == addr)
        found = provider.find_blueprint(bp)
        if found is None:
            return None
        self.store.outcome(intent, Outcome.RESOLVED_PRESENT, remote_id=found.remote_id)
        self.store.remember(addr, found.remote_id, status="active", observed_at=self._now())
        return found.remote_id

    def _card(self, addr: Address) -> tuple[Any, Any]:
        """(pipeline, desired card or None) of a card address."""
        return self._pipelines[(addr.provider, addr.group)], self._cards.get(addr)

    def _execute_blueprint(self, provider: Provider, change: Change) -> str | None:
        addr = change.address
        bp = next(b for b in self.session.desired.blueprints if b.address == addr)
        if change.action == Action.CREATE:
            lb = provider.create_blueprint(bp)
        else:
            lb = provider.update_blueprint(bp, self._live(change.provider).blueprints[addr])
        self.store.remember(addr, lb.remote_id, status="active", observed_at=self._now())
        return lb.remote_id

    def _execute_card(self, provider: Provider, change: Change) -> str | None:
        addr = change.address
        desired = self.session.desired
        pipe, card = self._card(addr)
        if change.action == Action.CREATE:
            lc = provider.create_card(pipe, card, desired.contacts[card.contact_id], desired.project.ownership_tag,
                                      seen=self._seen(provider))
        else:
            live_card = self._live(change.provider).cards[addr]
            if change.action == Action.DELETE:
                provider.delete_card(pipe, live_card)
                self.store.forget(addr)
                return live_card.remote_id
            lc = provider.update_card(pipe, live_card, _card_update(change), seen=self._seen(provider))
        self.store.remember(addr, lc.remote_id, status="archived" if lc.archived else "active", vendor_status=lc.stage,
                            observed_at=self._now(),
                            extra={"contact": lc.contact_remote_id} if lc.contact_remote_id else None)
        return lc.remote_id


def _card_update(change: Change) -> CardUpdate:
    """The neutral update a card change asks for."""
    if change.action == Action.ARCHIVE:
        return CardUpdate(archived=True)
    after = change.after or {}
    paths = {f.path.split("[")[0] for f in change.field_changes}
    return CardUpdate(
        title=after.get("title") if "title" in paths else None,
        # "" clears a description (None means "leave as is"); adapters read "" back as None
        description=(after.get("description") or "") if "description" in paths else None,
        tags=tuple(after["tags"]) if "tags" in paths or change.action == Action.ADOPT else None,
        stage=after.get("stage") if "stage" in paths else None,
        archived=False if "archived" in paths else None,
    )
