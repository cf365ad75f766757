"""Loading a Kalent seed section (campaigns/.sandbox/kalent.yaml) into the store, in O(N).

Choices where the docs are silent: a talent id defaults to the candidate id with `cand_` replaced
by `tal_`; `connected_channels` defaults to linkedin + email; `bulk_candidates: {count, prefix}`
generates numbered candidates (for benchmarks) without per-row YAML.
"""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.core import Store, iso
from reconciler.sandbox.kalent.steps import channels, step_issues, stored_steps

DEFAULT_CHANNELS = ["linkedin", "email"]


def _talent_id(candidate_id: str, given: str | None) -> str:
    if given:
        return given
    return "tal_" + candidate_id[5:] if candidate_id.startswith("cand_") else "tal_" + candidate_id


def add_candidate(store: Store, sourcing_id: str, row: dict[str, Any], created_at: str) -> None:
    """One talent + candidate pair, as the seed describes it."""
    cid = str(row["id"])
    tid = _talent_id(cid, row.get("talent_id"))
    store.collection("kalent.talents").put(tid, {
        "id": tid, "firstname": row.get("firstname", ""), "lastname": row.get("lastname", ""),
        "jobTitle": row.get("jobTitle"), "city": row.get("city"), "linkedinUrl": row.get("linkedinUrl"),
        "companyName": row.get("companyName"),
    })
    store.collection("kalent.candidates").put(cid, {
        "id": cid, "statusHandle": row.get("status", "TO_BE_CONTACTED"), "createdAt": created_at,
        "sourcingId": sourcing_id, "talentId": tid, "userRating": row.get("userRating"),
    })


def _bulk(store: Store, sourcing_id: str, spec: dict[str, Any], created_at: str) -> None:
    count = int(spec.get("count", 0))
    prefix = str(spec.get("prefix", f"cand_{sourcing_id}_"))
    width = max(5, len(str(count)))
    for i in range(1, count + 1):
        add_candidate(store, sourcing_id, {
            "id": f"{prefix}{i:0{width}d}", "firstname": "Candidate", "lastname": f"{i:0{width}d}",
            "jobTitle": spec.get("jobTitle", "Engineer"), "city": spec.get("city"),
            "status": spec.get("status", "TO_BE_CONTACTED"),
        }, created_at)


def load(store: Store, section: dict[str, Any], now: float) -> None:
    """Sourcings, candidates (listed and bulk), optional blueprints, connected channels."""
    created_at = iso(now)
    store.meta_set("kalent.connected_channels", list(section.get("connected_channels", DEFAULT_CHANNELS)))
    sourcings = store.collection("kalent.sourcings")
    for src in section.get("sourcings") or []:
        sid = str(src["id"])
        sourcings.put(sid, {
            "sourcingId": sid, "name": src["name"], "status": src.get("status", "in-progress"),
            "mine": bool(src.get("mine", True)), "jobTitle": src.get("jobTitle", src["name"]),
            "location": src.get("location"), "createdAt": created_at,
        })
        for row in src.get("candidates") or []:
            add_candidate(store, sid, row, created_at)
        if src.get("bulk_candidates"):
            _bulk(store, sid, src["bulk_candidates"], created_at)
    blueprints = store.collection("kalent.blueprints")
    for i, bp in enumerate(section.get("blueprints") or []):
        issues = step_issues(bp.get("steps") or [])
        if issues:
            raise ValueError(f"kalent seed blueprint {bp.get('name')!r}: {issues[0]['path']}: {issues[0]['message']}")
        bid = str(bp.get("id") or f"bp_seed_{i + 1}")
        steps = stored_steps(bp.get("steps") or [])
        blueprints.put(bid, {
            "blueprintId": bid, "name": bp["name"], "sourcingId": bp["sourcing"], "createdAt": created_at,
            "updatedAt": created_at, "steps": steps, "stepCount": len(steps), "channels": channels(steps),
            "config": bp.get("config") or {},
        })
