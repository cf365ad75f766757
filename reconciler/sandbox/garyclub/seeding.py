"""Seeding the Gary Club sandbox from campaigns/.sandbox/garyclub.yaml (see that file's comments).

Every seeded object may carry `client_id` to live in a client tenant instead of agency-self; a
client without a declared pipeline gets a default "Sales" pipeline (the docs say every tenant has
at least one). `bulk` creates N contacts / enrollments / deals in one O(N) pass with deterministic
ids (`con_bulk_000001`, `bulk000001@example.test`, `+1555` + 7 digits) for benchmarks. Seeded
enrollments are recorded in the send ledger like any enrollment the vendor created, so a later
duplicate enrollment shows as a second send.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.core import parse_iso
from reconciler.sandbox.garyclub.sequences import SequencesMixin
from reconciler.sandbox.garyclub.state import tenant_key

DEFAULT_STAGES = ("New", "Contacted", "Won")


class SeedMixin(SequencesMixin):
    """seed() of GaryClubSimulator; it creates contacts, deals and enrollments through their handlers' code."""

    def seed(self, data: dict[str, Any]) -> None:
        data = data or {}
        self._seed_auth(data.get("auth") or {})
        for p in data.get("pipelines") or []:
            self._seed_pipeline(p)
        for cid in (self.auth_config().get("clients") or {}):
            if not self.idx.pipelines.get(tenant_key(cid)):
                self._seed_pipeline({"id": self.new_id("gp_"), "name": "Sales", "client_id": cid, "is_default": True})
        for s in data.get("sequences") or []:
            self._seed_sequence(s)
        for c in data.get("contacts") or []:
            c = dict(c)
            self.upsert_contact(tenant_key(c.pop("client_id", None)), c, emit=False)
        for e in data.get("enrollments") or []:
            self._seed_enrollment(e)
        for d in data.get("deals") or []:
            self._seed_deal(d)
        self._seed_bulk(data.get("bulk") or {})

    def _seed_auth(self, auth: dict[str, Any]) -> None:
        clients = {str(c["id"]): {"name": c.get("name"), "keys": list(c.get("keys") or [])}
                   for c in auth.get("clients") or []}
        self.store.meta_set("garyclub.auth", {
            "org": auth.get("org") or {"id": "org_sandbox", "name": "Sandbox agency"},
            "agency_keys": list(auth.get("agency_keys") or []),
            "clients": clients,
            "revoked": list(auth.get("revoked") or []),
            "expired": list(auth.get("expired") or []),
        })

    def _seed_pipeline(self, p: dict[str, Any]) -> None:
        tenant = tenant_key(p.get("client_id"))
        now = self.now_iso()
        stages = []
        for pos, s in enumerate(p.get("stages") or DEFAULT_STAGES):
            s = {"name": s} if isinstance(s, str) else dict(s)
            s.setdefault("id", f"{p['id']}_{s['name'].lower().replace(' ', '_')}")
            stages.append({"id": s["id"], "name": s["name"], "position": pos})
        row = {"id": p["id"], "name": p["name"],
               "is_default": bool(p.get("is_default", not self.idx.pipelines.get(tenant))),
               "stages": stages, "created_at": p.get("created_at", now), "updated_at": p.get("updated_at", now),
               "_tenant": tenant}
        self.coll("pipelines").put(row["id"], row)
        self.idx.pipelines[tenant].append(row["id"])

    def _seed_sequence(self, s: dict[str, Any]) -> None:
        tenant = tenant_key(s.get("client_id"))
        now = self.now_iso()
        steps = [{"kind": st.get("kind", "sms"), "wait_minutes": int(st.get("wait_minutes", 0)),
                  "body": st.get("body", "")}
                 for st in s.get("steps") or []]
        row = {"id": s["id"], "name": s["name"], "description": s.get("description"),
               "status": s.get("status", "active"),
               "steps": steps, "created_at": s.get("created_at", now), "updated_at": s.get("updated_at", now),
               "_tenant": tenant}
        self.coll("sequences").put(row["id"], row)
        self.idx.sequences[tenant].append(row["id"])

    def _find_contact(self, tenant: str, ident: str) -> str:
        if ident in self.coll("contacts"):
            return ident
        found = self.idx.by_email.get((tenant, ident.lower())) or self.idx.by_phone.get((tenant, ident))
        if not found:
            raise ValueError(f"garyclub seed: no contact {ident!r} in tenant {tenant}")
        return found

    def _seed_enrollment(self, e: dict[str, Any]) -> None:
        """An enrollment that already exists:
        {sequence, contact, status?, paused_reason?, current_step?, enrolled_at?}."""
        seq = self.coll("sequences").get(e["sequence"])
        if seq is None:
            raise ValueError(f"garyclub seed: no sequence {e['sequence']!r}")
        cid = self._find_contact(seq["_tenant"], str(e["contact"]))
        at = parse_iso(e["enrolled_at"]) if e.get("enrolled_at") else None
        row, _ = self.enroll(seq, cid, dict(e.get("metadata") or {}), at=at, emit=False, enrollment_id=e.get("id"))
        self._seed_status(row, e.get("status", "active"), e.get("paused_reason"), e.get("current_step"))

    def _seed_status(self, row: dict[str, Any], status: str, reason: str | None, step: int | None) -> None:
        if step is not None:
            row["current_step"] = int(step)
        if status == "completed":
            n = len((self.coll("sequences").get(row["sequence_id"]) or {}).get("steps") or [])
            row.update(status="completed", current_step=n, next_run_at=None, _due=None, completed_at=row["enrolled_at"])
        elif status in ("paused", "cancelled"):
            row.update(status=status, next_run_at=None, _due=None,
                       paused_reason=(reason or "manual") if status == "paused" else None)
        self.coll("enrollments").put(row["id"], row)

    def _seed_deal(self, d: dict[str, Any]) -> None:
        d = dict(d)
        tenant = tenant_key(d.pop("client_id", None))
        if d.get("stage"):
            stage = d.pop("stage")
            pipeline = (self.coll("pipelines").get(d.get("pipeline_id")) if d.get("pipeline_id")
                        else self.default_pipeline(tenant))
            d["pipeline_id"] = pipeline["id"]
            d["stage_id"] = next(s["id"] for s in pipeline["stages"] if stage in (s["id"], s["name"]))
        if d.get("contact"):
            d["primary_contact_id"] = self._find_contact(tenant, str(d.pop("contact")))
        self.create_deal(tenant, d, emit=False)

    def _seed_bulk(self, bulk: dict[str, Any]) -> None:
        """Many objects fast: direct rows, no per-object validation or webhook events."""
        n = int(bulk.get("contacts") or 0)
        if not n and not bulk.get("enrollments") and not bulk.get("deals"):
            return
        tenant = tenant_key(bulk.get("client_id"))
        now = self.now_iso()
        contacts, idx = self.coll("contacts"), self.idx
        ids: list[str] = []
        for i in range(1, n + 1):
            row: dict[str, Any] = {"id": f"con_bulk_{i:06d}", "email": f"bulk{i:06d}@example.test",
                                   "phone": f"+1555{i:07d}",
                   "first_name": "Bulk", "last_name": f"{i:06d}", "full_name": f"Bulk {i:06d}", "title": None,
                   "company_id": None, "company_name": None, "source": "bulk_seed", "lifecycle_stage": "lead",
                   "owner_user_id": None, "created_at": now, "updated_at": now, "_tenant": tenant}
            contacts.put(row["id"], row)
            idx.add_contact(row)
            ids.append(row["id"])
        serial = 0
        for spec in bulk.get("enrollments") or []:
            seq = self.coll("sequences").get(spec["sequence"])
            if seq is None:
                raise ValueError(f"garyclub seed: no sequence {spec['sequence']!r}")
            start = int(spec.get("offset", 0))
            for cid in ids[start:start + int(spec["count"])]:
                serial += 1
                row, _ = self.enroll(seq, cid, dict(spec.get("metadata") or {}), emit=False,
                                     enrollment_id=f"enr_bulk_{serial:07d}")
                if spec.get("status", "active") != "active":
                    self._seed_status(row, spec["status"], spec.get("paused_reason"), None)
        serial = 0
        for spec in bulk.get("deals") or []:
            pipeline = (self.coll("pipelines").get(spec["pipeline"]) if spec.get("pipeline")
                        else self.default_pipeline(tenant))
            stage = spec.get("stage")
            stage_id = next((s["id"] for s in pipeline["stages"] if stage in (s["id"], s["name"])),
                            pipeline["stages"][0]["id"])
            start = int(spec.get("offset", 0))
            for cid in ids[start:start + int(spec["count"])]:
                serial += 1
                did = f"deal_bulk_{serial:07d}"
                row = {"id": did, "name": f"Deal {serial:07d}", "pipeline_id": pipeline["id"], "stage_id": stage_id,
                       "status": "open", "amount": None, "currency": "USD", "expected_close_date": None,
                       "primary_contact_id": cid, "company_id": None, "owner_user_id": None, "description": None,
                       "tags": [], "custom_fields": {}, "created_at": now, "updated_at": now, "_tenant": tenant}
                self.coll("deals").put(did, row)
                idx.deals[tenant].append(did)

