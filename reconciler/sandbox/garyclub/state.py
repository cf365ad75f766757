"""In-memory indexes over the `garyclub.*` store collections.

The collections are the truth (persisted by the Store); the indexes are rebuilt from them in one
O(N) pass the first time a simulator instance needs them, then maintained on every write, so that
lookups (contact by email/phone, latest enrollment of a contact in a sequence) are O(1), lists are
O(page) and the step worker only touches enrollments that are due (a heap on `_due`).

Rows keep sandbox-only bookkeeping in keys starting with "_" (`_tenant`, `_due`); `public()`
strips them from every response.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from typing import Any

from reconciler.sandbox.core import Store

AGENCY = "agency"  # the documented "agency-self" sentinel: the agency's own CRM


class ApiError(Exception):
    """Raised by handlers and events; the simulator renders it in Gary's envelope."""

    def __init__(self, status: int, code: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.details = status, code, message, details or {}


def tenant_key(client_id: str | None) -> str:
    """Tenancy is (org, client); one org per sandbox, so the client id (or agency-self) is the key."""
    return AGENCY if not client_id else f"client:{client_id}"


def public(row: dict[str, Any]) -> dict[str, Any]:
    """A row as the API shows it: without the sandbox's "_" bookkeeping keys."""
    return {k: v for k, v in row.items() if not k.startswith("_")}


def norm_email(email: str) -> str:
    return email.strip().lower()


class Indexes:
    """Every index the handlers use, built once from the store."""

    def __init__(self, store: Store) -> None:
        self._store = store
        # Contacts are keyed only when a request needs them (lists, upserts, events): a plan that
        # lists enrollments never builds them (issue 17: 50k contacts decoded and keyed per process).
        self._contacts: dict[str, list[str]] | None = None                 # tenant -> ids
        self._by_email: dict[tuple[str, str], str] = {}                    # (tenant, email) -> id
        self._by_phone: dict[tuple[str, str], str] = {}                    # (tenant, phone) -> id
        self.companies: dict[str, list[str]] = defaultdict(list)
        self.company_by_domain: dict[tuple[str, str], str] = {}
        self.pipelines: dict[str, list[str]] = defaultdict(list)
        self.deals: dict[str, list[str]] = defaultdict(list)
        self.sequences: dict[str, list[str]] = defaultdict(list)
        self.enr_by_seq: dict[tuple[str, str], list[str]] = defaultdict(list)  # (tenant, seq) -> ids
        self.enr_latest: dict[tuple[str, str], str] = {}                   # (seq, contact) -> id
        self.enr_by_contact: dict[str, list[str]] = defaultdict(list)      # contact -> ids
        self.due: list[tuple[float, str]] = []                             # heap of active steps
        for _, row in store.collection("garyclub.companies").scan():
            self.add_company(row)
        for _, row in store.collection("garyclub.pipelines").scan():
            self.pipelines[row["_tenant"]].append(row["id"])
        for _, row in store.collection("garyclub.deals").scan():
            self.deals[row["_tenant"]].append(row["id"])
        for _, row in store.collection("garyclub.sequences").scan():
            self.sequences[row["_tenant"]].append(row["id"])
        for _, row in store.collection("garyclub.enrollments").scan():
            self.add_enrollment(row, heap=False)
        heapq.heapify(self.due)

    @property
    def contacts(self) -> dict[str, list[str]]:
        if self._contacts is None:
            self._contacts = defaultdict(list)
            for _, row in self._store.collection("garyclub.contacts").scan():
                self._contacts[row["_tenant"]].append(row["id"])
                self.key_contact(row)
        return self._contacts

    @property
    def by_email(self) -> dict[tuple[str, str], str]:
        self.contacts  # noqa: B018 - built with the contacts
        return self._by_email

    @property
    def by_phone(self) -> dict[tuple[str, str], str]:
        self.contacts  # noqa: B018 - built with the contacts
        return self._by_phone

    def add_contact(self, row: dict[str, Any]) -> None:
        """A contact just put: indexed (a first build, which scans the store, may already hold it)."""
        ids = self.contacts[row["_tenant"]]
        if not ids or ids[-1] != row["id"]:
            ids.append(row["id"])
        self.key_contact(row)

    def key_contact(self, row: dict[str, Any]) -> None:
        if row.get("email"):
            self._by_email[(row["_tenant"], norm_email(row["email"]))] = row["id"]
        if row.get("phone"):
            self._by_phone[(row["_tenant"], row["phone"])] = row["id"]

    def unkey_contact(self, row: dict[str, Any]) -> None:
        if row.get("email"):
            self.by_email.pop((row["_tenant"], norm_email(row["email"])), None)
        if row.get("phone"):
            self.by_phone.pop((row["_tenant"], row["phone"]), None)

    def add_company(self, row: dict[str, Any]) -> None:
        self.companies[row["_tenant"]].append(row["id"])
        if row.get("domain"):
            self.company_by_domain[(row["_tenant"], row["domain"])] = row["id"]

    def add_enrollment(self, row: dict[str, Any], heap: bool = True) -> None:
        self.enr_by_seq[(row["_tenant"], row["sequence_id"])].append(row["id"])
        self.enr_latest[(row["sequence_id"], row["contact_id"])] = row["id"]
        self.enr_by_contact[row["contact_id"]].append(row["id"])
        self.schedule(row, heap)

    def schedule(self, row: dict[str, Any], heap: bool = True) -> None:
        """Queue an active enrollment for the step worker at its `_due` time."""
        if row["status"] == "active" and row.get("_due") is not None:
            if heap:
                heapq.heappush(self.due, (row["_due"], row["id"]))
            else:
                self.due.append((row["_due"], row["id"]))
