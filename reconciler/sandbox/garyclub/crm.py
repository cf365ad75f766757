"""Gary Club CRM endpoints: contacts (upsert + list), companies, pipelines, deals.

Documented: contact upsert by email or phone (E.164) merging fields, `created: true|false`;
contact list filters `q` (substring of full/first/last name), `lifecycle`, `owner`; company upsert
by `domain` returning `{company, created}`; `company_name` without `company_id` resolves or creates
the company from the email domain; deals `name` required, default pipeline and first stage,
`currency` default USD, list filters `pipeline_id`, `stage_id`, `status`, `owner`, `q`; PATCH
updates any subset and a changed `stage_id` fires `deal.stage_changed`.

Sandbox choices: single objects come back wrapped under their kind (`{contact: …}`, `{deal: …}`),
like the documented `{company, created}` and `{enrollment, idempotent}`; a new contact or company
is 201 and a merge 200; deal create is 201; pipelines list as
`{data: [{id, name, is_default, stages: [{id, name, position}], …}]}`;
moving a deal to a stage does not change its `status` (won/lost are set explicitly).

Strict choices (a kinder simulator would hide client bugs): no GET of one contact or one deal (the
docs list none; read them through the lists); deal create refuses `status` (not among its
documented fields: a new deal is open) while PATCH accepts it; an empty PATCH `{}` is a 400
invalid_request (it would change nothing).
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.core import SimRequest, SimResponse
from reconciler.sandbox.garyclub import validate as v
from reconciler.sandbox.garyclub.base import GaryClubBase
from reconciler.sandbox.garyclub.paging import check_params, page
from reconciler.sandbox.garyclub.state import ApiError, norm_email, public

CONTACT_BODY = {k: v.STR for k in ("email", "phone", "first_name", "last_name", "full_name", "title",
                                    "company_id", "company_name", "source")}
DEAL_BODY = {"name": v.STR, "pipeline_id": v.STR, "stage_id": v.STR, "status": v.STR, "amount": v.NUM,
             "currency": v.STR, "expected_close_date": v.STR, "primary_contact_id": v.STR,
             "company_id": v.STR, "owner_user_id": v.STR, "description": v.STR, "tags": v.TAGS,
             "custom_fields": v.OBJ}
DEAL_CREATE_BODY = {k: test for k, test in DEAL_BODY.items() if k != "status"}  # a new deal is open
DEAL_STATUSES = ("open", "won", "lost")


class CrmMixin(GaryClubBase):
    """Handlers for /v1/crm/*, on the shared plumbing."""

    # -- contacts -------------------------------------------------------------------------------
    def h_list_contacts(self, req: SimRequest) -> SimResponse:
        check_params(req, ("q", "lifecycle", "owner"))
        q = (req.q("q") or "").lower()
        lifecycle, owner = req.q("lifecycle"), req.q("owner")

        def keep(c: dict[str, Any]) -> bool:
            names = " ".join(filter(None, (c.get("full_name"), c.get("first_name"), c.get("last_name")))).lower()
            return ((not q or q in names) and (not lifecycle or c.get("lifecycle_stage") == lifecycle)
                    and (not owner or c.get("owner_user_id") == owner))

        filtered = bool(q or lifecycle or owner)
        ids = self.idx.contacts.get(self.tenant(req), [])
        return self.ok(page(req, ids, self.coll("contacts"), keep if filtered else None, public))

    def h_upsert_contact(self, req: SimRequest) -> SimResponse:
        data = self.body(req)
        v.check(data, CONTACT_BODY)
        if not data.get("email") and not data.get("phone"):
            # The errors page's own example, verbatim.
            raise ApiError(400, "validation_error", "Either email or phone is required")
        v.check_email(data.get("email"))
        v.check_phone(data.get("phone"))
        contact, created = self.upsert_contact(self.tenant(req), data)
        return self.ok({"contact": public(contact), "created": created}, 201 if created else 200)

    def upsert_contact(self, tenant: str, data: dict[str, Any], *, emit: bool = True) -> tuple[dict[str, Any], bool]:
        """Match by email (case-insensitive), then phone; merge the given fields or create."""
        idx = self.idx
        found = None
        if data.get("email"):
            found = idx.by_email.get((tenant, norm_email(data["email"])))
        if found is None and data.get("phone"):
            found = idx.by_phone.get((tenant, data["phone"]))
        fields = {k: val for k, val in data.items() if val is not None}
        if fields.get("company_name") and not fields.get("company_id"):
            email = fields.get("email") or (self.coll("contacts").get(found) or {}).get("email")
            fields["company_id"] = self.resolve_company(tenant, fields["company_name"], email)["id"]
        elif fields.get("company_id"):
            company = self.coll("companies").get(fields["company_id"])
            if company is None or company["_tenant"] != tenant:
                raise ApiError(400, "invalid_request", "company_id does not exist in this tenant",
                               {"field": "company_id"})
            fields.setdefault("company_name", company["name"])
        now = self.now_iso()
        if found is not None:
            row = self.coll("contacts").get(found)
            idx.unkey_contact(row)
            row.update(fields)
            if ("first_name" in fields or "last_name" in fields) and "full_name" not in fields:
                row["full_name"] = _full_name(row)
            row["updated_at"] = now
            idx.key_contact(row)
            self.coll("contacts").put(found, row)
            return row, False
        row = {"id": self.new_id("con_"), "email": None, "phone": None, "first_name": None, "last_name": None,
               "full_name": None, "title": None, "company_id": None, "company_name": None, "source": None,
               "lifecycle_stage": "lead", "owner_user_id": None, "created_at": now, "updated_at": now,
               "_tenant": tenant}
        row.update(fields)
        row["full_name"] = row["full_name"] or _full_name(row)
        self.coll("contacts").put(row["id"], row)
        idx.add_contact(row)
        if emit:
            self.emit("contact.created", {"contact": public(row)})
        return row, True

    def contact_in(self, tenant: str, contact_id: str) -> dict[str, Any]:
        row = self.coll("contacts").get(contact_id)
        if row is None or row["_tenant"] != tenant:
            raise ApiError(404, "not_found", "Contact not found")
        return row

    # -- companies ------------------------------------------------------------------------------
    def h_list_companies(self, req: SimRequest) -> SimResponse:
        check_params(req, ("q",))
        q = (req.q("q") or "").lower()
        keep = (lambda c: q in (c.get("name") or "").lower()) if q else None
        return self.ok(page(req, self.idx.companies.get(self.tenant(req), []), self.coll("companies"), keep,
                            public))

    def h_get_company(self, req: SimRequest, company_id: str) -> SimResponse:
        row = self.coll("companies").get(company_id)
        if row is None or row["_tenant"] != self.tenant(req):
            raise ApiError(404, "not_found", "Company not found")
        return self.ok({"company": public(row)})

    def h_upsert_company(self, req: SimRequest) -> SimResponse:
        data = self.body(req)
        v.check(data, {"name": v.STR, "domain": v.STR})
        if not data.get("name"):
            raise ApiError(400, "invalid_request", "name is required", {"field": "name"})
        tenant = self.tenant(req)
        domain = (data.get("domain") or "").lower() or None
        found = self.idx.company_by_domain.get((tenant, domain)) if domain else None
        if found:
            row = self.coll("companies").get(found)
            row.update(name=data["name"], updated_at=self.now_iso())
            self.coll("companies").put(found, row)
            return self.ok({"company": public(row), "created": False})
        row = self.new_company(tenant, data["name"], domain)
        return self.ok({"company": public(row), "created": True}, 201)

    def resolve_company(self, tenant: str, name: str, email: str | None) -> dict[str, Any]:
        domain = email.rsplit("@", 1)[1].lower() if email and "@" in email else None
        found = self.idx.company_by_domain.get((tenant, domain)) if domain else None
        return self.coll("companies").get(found) if found else self.new_company(tenant, name, domain)

    def new_company(self, tenant: str, name: str, domain: str | None) -> dict[str, Any]:
        now = self.now_iso()
        row = {"id": self.new_id("cmp_"), "name": name, "domain": domain, "created_at": now,
               "updated_at": now, "_tenant": tenant}
        self.coll("companies").put(row["id"], row)
        self.idx.add_company(row)
        return row

    # -- pipelines and deals --------------------------------------------------------------------
    def h_list_pipelines(self, req: SimRequest) -> SimResponse:
        check_params(req, ())
        return self.ok(page(req, self.idx.pipelines.get(self.tenant(req), []), self.coll("pipelines"), None,
                            public))

    def default_pipeline(self, tenant: str) -> dict[str, Any]:
        rows = [self.coll("pipelines").get(i) for i in self.idx.pipelines.get(tenant, [])]
        if not rows:
            raise ApiError(422, "unprocessable", "This tenant has no pipeline")
        return next((p for p in rows if p.get("is_default")), rows[0])

    def h_list_deals(self, req: SimRequest) -> SimResponse:
        check_params(req, ("pipeline_id", "stage_id", "status", "owner", "q"))
        want = {"pipeline_id": req.q("pipeline_id"), "stage_id": req.q("stage_id"), "status": req.q("status"),
                "owner_user_id": req.q("owner")}
        want = {k: val for k, val in want.items() if val}
        if want.get("status") and want["status"] not in DEAL_STATUSES:
            raise ApiError(400, "invalid_request", "status must be one of open, won, lost", {"field": "status"})
        q = (req.q("q") or "").lower()

        def keep(d: dict[str, Any]) -> bool:
            return all(d.get(k) == val for k, val in want.items()) and (not q or q in (d.get("name") or "").lower())

        ids = self.idx.deals.get(self.tenant(req), [])
        return self.ok(page(req, ids, self.coll("deals"), keep if (want or q) else None, public))

    def deal_in(self, tenant: str | None, deal_id: str) -> dict[str, Any]:
        row = self.coll("deals").get(deal_id)
        if row is None or (tenant is not None and row["_tenant"] != tenant):
            raise ApiError(404, "not_found", "Deal not found")
        return row

    def h_create_deal(self, req: SimRequest) -> SimResponse:
        data = self.body(req)
        v.check(data, DEAL_CREATE_BODY)
        if not data.get("name"):
            raise ApiError(400, "invalid_request", "name is required", {"field": "name"})
        row = self.create_deal(self.tenant(req), data)
        return self.ok({"deal": public(row)}, 201)

    def create_deal(self, tenant: str, data: dict[str, Any], *, emit: bool = True) -> dict[str, Any]:
        pipeline = (self.pipeline_in(tenant, data["pipeline_id"]) if data.get("pipeline_id")
                    else self.default_pipeline(tenant))
        now = self.now_iso()
        row = {"id": data.get("id") or self.new_id("deal_"), "name": data["name"], "pipeline_id": pipeline["id"],
               "stage_id": pipeline["stages"][0]["id"], "status": "open", "amount": None, "currency": "USD",
               "expected_close_date": None, "primary_contact_id": None, "company_id": None, "owner_user_id": None,
               "description": None, "tags": [], "custom_fields": {}, "created_at": now, "updated_at": now,
               "_tenant": tenant}
        self.apply_deal_fields(row, {k: val for k, val in data.items() if k not in ("id", "pipeline_id")})
        self.coll("deals").put(row["id"], row)
        self.idx.deals[tenant].append(row["id"])
        if emit:
            self.emit("deal.created", {"deal": public(row)})
        return row

    def h_patch_deal(self, req: SimRequest, deal_id: str) -> SimResponse:
        row = self.deal_in(self.tenant(req), deal_id)
        data = self.body(req)
        if not data:
            raise ApiError(400, "invalid_request", "Send at least one field to update", {"field": "body"})
        v.check(data, DEAL_BODY)
        if "name" in data and not data["name"]:
            raise ApiError(400, "invalid_request", "name cannot be empty", {"field": "name"})
        return self.ok({"deal": public(self.update_deal(row, data))})

    def update_deal(self, row: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        """Apply a PATCH; a changed stage fires deal.stage_changed (documented)."""
        prior = row["stage_id"]
        if data.get("pipeline_id") and data["pipeline_id"] != row["pipeline_id"]:
            pipeline = self.pipeline_in(row["_tenant"], data["pipeline_id"])
            row["pipeline_id"] = pipeline["id"]
            if not data.get("stage_id"):
                row["stage_id"] = pipeline["stages"][0]["id"]
        self.apply_deal_fields(row, {k: val for k, val in data.items() if k != "pipeline_id"})
        row["updated_at"] = self.now_iso()
        self.coll("deals").put(row["id"], row)
        if row["stage_id"] != prior:
            self.emit("deal.stage_changed", {"deal": public(row), "prior_stage_id": prior,
                                             "new_stage_id": row["stage_id"]})
        return row

    def apply_deal_fields(self, row: dict[str, Any], data: dict[str, Any]) -> None:
        """Validate references against the deal's tenant and pipeline, then set the fields."""
        if data.get("stage_id"):
            stages = {s["id"] for s in self.coll("pipelines").get(row["pipeline_id"])["stages"]}
            if data["stage_id"] not in stages:
                raise ApiError(400, "invalid_request", "stage_id is not a stage of this deal's pipeline",
                               {"field": "stage_id"})
        if data.get("status") and data["status"] not in DEAL_STATUSES:
            raise ApiError(400, "invalid_request", "status must be one of open, won, lost", {"field": "status"})
        if data.get("primary_contact_id"):
            try:
                self.contact_in(row["_tenant"], data["primary_contact_id"])
            except ApiError:
                raise ApiError(400, "invalid_request", "primary_contact_id does not exist in this tenant",
                               {"field": "primary_contact_id"}) from None
        empty: dict[str, Any] = {"tags": [], "custom_fields": {}}
        for key, val in data.items():
            if key in ("stage_id", "status", "currency") and val is None:
                continue  # required fields keep their value when sent as null
            row[key] = empty[key] if val is None and key in empty else val

    def pipeline_in(self, tenant: str, pipeline_id: str) -> dict[str, Any]:
        row = self.coll("pipelines").get(pipeline_id)
        if row is None or row["_tenant"] != tenant:
            raise ApiError(400, "invalid_request", "pipeline_id does not exist in this tenant",
                           {"field": "pipeline_id"})
        return row


def _full_name(row: dict[str, Any]) -> str | None:
    return " ".join(filter(None, (row.get("first_name"), row.get("last_name")))) or None
