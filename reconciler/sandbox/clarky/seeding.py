"""The Clarky sandbox account: the default world and seeding from `campaigns/.sandbox/clarky.yaml`.

A seed section is additive: the default world below (unless `defaults: false`), then the lists
the section declares (same id = replaces). `bulk:` adds N generated contacts and cards in O(N)
for benchmarks. campaigns/.sandbox/clarky.yaml documents the shape with comments.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.clarky.base import ApiError
from reconciler.sandbox.clarky.contacts import parse_contact_fields

DATA_KEYS = ("bots", "templates", "pipelines", "contacts", "cards")
DOC_CREATED = "2026-01-15T10:00:00.000Z"  # timestamps of the documented pipeline/stage examples
DOC_UPDATED = "2026-04-01T08:00:00.000Z"

DEFAULT_WORLD: dict[str, Any] = {
    "workspace_id": "w_01HXXX",
    "bots": [{"id": "b_01HDEF", "name": "Clarky SDR"}],
    "templates": [
        {"id": "tpl_01HABC", "name": "Inbound lead — Spanish", "bot_id": "b_01HDEF", "channels": ["email", "voice"],
         "stop_on_reply": True,
         "steps": [{"day": 0, "channel": "voice"}, {"day": 2, "channel": "email"}, {"day": 5, "channel": "email"}]},
        {"id": "tpl_01HNUR", "name": "Inbound lead — English", "bot_id": None, "channels": ["email"],
         "stop_on_reply": True,
         "steps": [{"day": 0, "channel": "email"}, {"day": 3, "channel": "email"}]},
    ],
    "pipelines": [
        {"id": "p_01HPLA", "name": "Sales Pipeline", "bot_id": "b_01HDEF", "is_default": True, "is_private": False,
         "stages": [{"id": "ps_01HSTA", "name": "Lead", "color": "#94a3b8"},
                    {"id": "ps_01HSTB", "name": "Qualified", "color": "#3b82f6"},
                    {"id": "ps_01HSTC", "name": "Closed Won", "color": "#22c55e"}]},
        {"id": "p_01HPLB", "name": "Partnerships", "bot_id": "b_01HDEF", "is_default": False, "is_private": False,
         "stages": [{"id": "ps_01HPTA", "name": "Intro", "color": "#a855f7"},
                    {"id": "ps_01HPTB", "name": "Signed", "color": "#22c55e"}]},
    ],
    "contacts": [
        {"id": "c_01HXYZ", "first_name": "Ada", "last_name": "Lovelace", "emails": ["ada@example.com"],
         "company": "Acme Corp", "lead_source": "referral", "tags": ["customer"]},
        {"id": "c_01HOPT", "first_name": "Otto", "last_name": "Out", "emails": ["optout@example.com"],
         "company": "Nope Ltd", "tags": []},
    ],
    "cards": [
        {"id": "pc_01HCRD", "pipeline_stage_id": "ps_01HSTA", "contact_id": "c_01HXYZ",
         "title": "Acme Corp – renewal", "description": "Renewal due in Q2", "tags": ["renewal"], "order_index": 0},
    ],
    "suppressed": ["optout@example.com"],
}


def _merged(section: dict[str, Any]) -> dict[str, Any]:
    """Defaults plus the section's lists, later entries replacing earlier ones with the same id."""
    base = DEFAULT_WORLD if section.get("defaults", True) else {}
    out: dict[str, Any] = {"workspace_id": section.get("workspace_id") or base.get("workspace_id") or "w_01HXXX"}
    for key in DATA_KEYS:
        by_id: dict[str, Any] = {}
        extra: list[Any] = []
        for item in [*(base.get(key) or []), *(section.get(key) or [])]:
            if item.get("id"):
                by_id[item["id"]] = item
            else:
                extra.append(item)
        out[key] = [*by_id.values(), *extra]
    out["suppressed"] = [*(base.get("suppressed") or []), *(section.get("suppressed") or [])]
    out["bulk"] = section.get("bulk") or {}
    return out


def seed_world(sim: Any, section: dict[str, Any]) -> None:
    """Load a seed section into the simulator's collections."""
    world = _merged(section)
    sim.store.meta_set("clarky.workspace_id", world["workspace_id"])
    bots = sim.coll("bots")
    for bot in world["bots"]:
        bots.put(bot["id"], {"id": bot["id"], "name": bot.get("name") or bot["id"]})
    for tpl in world["templates"]:
        steps = [{"day": float(s.get("day", 0)), "channel": s["channel"]} for s in tpl.get("steps") or []]
        channels = tpl.get("channels") or sorted({s["channel"] for s in steps})
        sim.coll("templates").put(tpl["id"], {
            "id": tpl["id"], "name": tpl.get("name") or tpl["id"], "bot_id": tpl.get("bot_id"),
            "channels": channels, "stop_on_reply": bool(tpl.get("stop_on_reply", True)), "steps": steps,
        })
        _ensure_bot(bots, tpl.get("bot_id"))
    for pipeline in world["pipelines"]:
        _seed_pipeline(sim, pipeline)
        _ensure_bot(bots, pipeline.get("bot_id"))
    default_bot = world["bots"][0]["id"] if world["bots"] else None
    for raw in world["contacts"]:
        _seed_contact(sim, dict(raw), default_bot)
    for raw in world["cards"]:
        _seed_card(sim, dict(raw))
    for value in world["suppressed"]:
        sim.suppress("email" if "@" in str(value) else "phone", str(value))
    _seed_bulk(sim, world["bulk"], default_bot)


def _ensure_bot(bots: Any, bot_id: str | None) -> None:
    if bot_id and bot_id not in bots:
        bots.put(bot_id, {"id": bot_id, "name": bot_id})


def _seed_pipeline(sim: Any, raw: dict[str, Any]) -> None:
    created, updated = raw.get("created_at", DOC_CREATED), raw.get("updated_at", DOC_UPDATED)
    sim.coll("pipelines").put(raw["id"], {
        "id": raw["id"], "workspace_id": sim.workspace_id(), "bot_id": raw.get("bot_id"), "name": raw["name"],
        "is_default": bool(raw.get("is_default", False)), "is_private": bool(raw.get("is_private", False)),
        "created_at": created, "updated_at": updated,
    })
    for index, stage in enumerate(raw.get("stages") or []):
        sim.coll("stages").put(stage["id"], {
            "id": stage["id"], "bot_id": raw.get("bot_id"), "pipeline_id": raw["id"], "name": stage["name"],
            "color": stage.get("color", "#94a3b8"), "order_index": int(stage.get("order_index", index)),
            "created_at": stage.get("created_at", created), "updated_at": stage.get("updated_at", created),
        })


def _seed_contact(sim: Any, raw: dict[str, Any], default_bot: str | None) -> None:
    meta = {k: raw.pop(k) for k in ("id", "workspace_id", "created_at", "updated_at", "last_contacted_at") if k in raw}
    fields = parse_contact_fields(raw)
    bot_id = fields.pop("bot_id", None) or default_bot
    if not bot_id:
        raise ValueError(f"clarky seed: contact {meta.get('id', raw)} needs a bot_id (no bots declared)")
    contact = sim.new_contact(fields, bot_id, contact_id=meta.get("id"), at=meta.get("created_at"))
    if meta.get("updated_at"):
        contact["updated_at"] = meta["updated_at"]
    contact["last_contacted_at"] = meta.get("last_contacted_at")
    sim.save_contact(contact)


def _seed_card(sim: Any, raw: dict[str, Any]) -> None:
    if "contact" in raw:  # a contact may be named by email or phone in a seed
        ref = raw.pop("contact")
        found = sim.find_contact(str(ref))
        if found is None:
            raise ValueError(f"clarky seed: card {raw.get('title')!r} names unknown contact {ref!r}")
        raw["contact_id"] = found["id"]
    card_id, created = raw.pop("id", None), raw.pop("created_at", None)
    updated = raw.pop("updated_at", None)
    try:
        fields = sim.card_fields(raw)
    except ApiError as exc:
        raise ValueError(f"clarky seed: card {card_id or raw.get('title')!r}: {exc}") from None
    card = sim.new_card(fields, card_id=card_id, at=created)
    if updated:
        card["updated_at"] = updated


def _seed_bulk(sim: Any, bulk: dict[str, Any], default_bot: str | None) -> None:
    """`bulk: {contacts: N, cards: M, stage:, tags:, card_tags:}`; card i links bulk contact i."""
    n_contacts, n_cards = int(bulk.get("contacts", 0)), int(bulk.get("cards", 0))
    bot_id = bulk.get("bot_id") or default_bot
    tags = list(bulk.get("tags", ["bulk"]) or [])
    for i in range(1, n_contacts + 1):
        fields = {"first_name": "Bulk", "last_name": f"Contact {i}",
                  "emails": [{"email": f"bulk-{i:08d}@example.com", "is_primary": True}],
                  "phone_numbers": [], "company": f"Bulk Co {i}", "tags": list(tags)}
        sim.save_contact(sim.new_contact(fields, bot_id, contact_id=f"c_B{i:08d}"))
    stage = bulk.get("stage", "ps_01HSTA")
    if n_cards and stage not in sim.coll("stages"):
        raise ValueError(f"clarky seed: bulk stage {stage!r} is not a seeded stage id")
    for i in range(1, n_cards + 1):
        sim.new_card({"pipeline_stage_id": stage, "title": f"Bulk card {i}",
                      "contact_id": f"c_B{i:08d}" if i <= n_contacts else None,
                      "tags": list(bulk.get("card_tags") or [])}, card_id=f"pc_B{i:08d}")
