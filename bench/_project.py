"""Generated benchmark projects: N contacts (1.5 per membership: `contacts_for`) from a CSV over a Clarky pipeline, a Gary sequence and
a Kalent sequence, plus the sandbox seed that makes most of it already live.

Choices: contact i goes to Clarky (cards) when i % 3 == 0, Gary when i % 3 == 1, Kalent otherwise,
so every vendor holds about N/3 objects. Seeded objects use the simulators' bulk options, whose
generated ids and emails the CSV rows name (Clarky `bulk-00000001@example.com`, Gary
`bulk000001@example.test`, Kalent `cand_bulk_00001`). Kalent's seed has no bulk dynamic sequences,
so `start_kalent` starts them through the simulator's own API before anything is measured, and
`settle` lets the seeded account settle (Gary Club's first steps fire) so no measured command pays for it.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

PROJECT = """\
version: 1
state: {backend: sqlite, path: .campaignctl/state.db}
providers:
  clarky: {type: clarky, api_key_env: BENCH_CLARKY_KEY, bot_id: b_01HDEF, sandbox: true}
  gary: {type: garyclub, api_key_env: BENCH_GARY_KEY, sandbox: true}
  kalent: {type: kalent, api_key_env: BENCH_KALENT_KEY, sandbox: true}
ownership_tag: campaignctl
safety: {max_new_memberships_per_apply: 1000000, max_removal_fraction: 1.0}
"""

MANIFEST = """\
contact_sources:
  - csv: contacts.csv
sequences:
  - id: nurture
    provider: gary
    sequence: "Post-call nurture"
    members_where: {tags_any: [gary]}
  - id: backend
    provider: kalent
    blueprint: bp_bench
    sourcing: src_bench
    members_where: {tags_any: [kalent]}
pipelines:
  - id: sales
    provider: clarky
    pipeline: "Sales Pipeline"
    stage_policy: initial
    cards:
      - for_each: {tags_any: [clarky]}
        stage: Lead
        title: "{card_title}"
"""

STEPS = [{"id": "invite", "name": "Invite", "type": "LINKEDIN", "linkedInType": "LINKEDIN_INVITATION_WITH_MESSAGE",
          "content": "Hi {{firstname}}, open to a chat?", "temporalityType": "ASAP"}]


def contacts_for(memberships: int) -> int:
    """Contacts of a project with `memberships` memberships: two thirds of the contacts are members
    (Gary Club and Kalent), one third has a Clarky card, so 100,000 memberships are 150,000 contacts."""
    return memberships + (memberships + 1) // 2


def memberships_of(contacts: int) -> int:
    """Memberships of a project with `contacts` contacts (the inverse of contacts_for)."""
    _, gary, kalent = split(contacts)
    return gary + kalent


def kalent_width(count: int) -> int:
    """Digits of the Kalent bulk candidate numbers (reconciler/sandbox/kalent/seed.py)."""
    return max(5, len(str(count)))


def split(n: int) -> tuple[int, int, int]:
    """(clarky, gary, kalent) contact counts for N."""
    return len(range(0, n, 3)), len(range(1, n, 3)), len(range(2, n, 3))


def live_count(declared: int) -> int:
    """How many of a vendor's declared objects are seeded live: all but 1%, so the plan is mostly unchanged."""
    return declared - declared // 100


def write_project(root: Path, n: int) -> dict[str, Any]:
    """Write campaignctl.yaml, bench.yaml, contacts.csv under `root`; return the sandbox seed."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "campaignctl.yaml").write_text(PROJECT)
    (root / "bench.yaml").write_text(MANIFEST)
    counters = [0, 0, 0]
    width = kalent_width(split(n)[2])
    with (root / "contacts.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "first_name", "last_name", "email", "company", "tags", "kalent_candidate_id", "card_title"])
        for i in range(n):
            group = i % 3
            counters[group] += 1
            k = counters[group]
            if group == 0:
                out.writerow([f"cl-{k}", "Bulk", f"Contact {k}", f"bulk-{k:08d}@example.com", f"Bulk Co {k}", "clarky", "",
                              f"Bulk card {k}"])
            elif group == 1:
                out.writerow([f"gc-{k}", "Bulk", f"{k:06d}", f"bulk{k:06d}@example.test", "", "gary", "", ""])
            else:
                out.writerow([f"ka-{k}", "Candidate", f"{k:06d}", f"cand{k:06d}@example.org", "", "kalent",
                              f"cand_bulk_{k:0{width}d}", ""])
    return seed(*split(n))


def seed(clarky: int, gary: int, kalent: int) -> dict[str, Any]:
    """Sandbox seed sections with the live objects the project declares."""
    return {
        "clarky": {"bulk": {"contacts": clarky, "cards": live_count(clarky), "stage": "ps_01HSTA", "tags": ["bulk"],
                            "card_tags": ["campaignctl"]}},
        "garyclub": {
            "sequences": [{"id": "seq_EXAMPLE_aaaa", "name": "Post-call nurture", "status": "active",
                           "steps": [{"kind": "sms", "wait_minutes": 1440, "body": "Hi {{first_name}}"}]}],
            "bulk": {"contacts": gary, "enrollments": [{"sequence": "seq_EXAMPLE_aaaa", "count": live_count(gary)}]},
        },
        "kalent": {
            "sourcings": [{"id": "src_bench", "name": "Bench Engineer",
                           "bulk_candidates": {"count": kalent, "prefix": "cand_bulk_"}}],
            "blueprints": [{"id": "bp_bench", "sourcing": "src_bench", "name": "Bench outreach", "steps": STEPS}],
        },
    }


def start_kalent(hub: Any, declared: int, batch: int = 100) -> None:
    """Start all but 1% of the bulk candidates in bp_bench through the simulator's API, then let dispatch settle."""
    import httpx

    from reconciler.sandbox.transport import SandboxTransport

    width, count = kalent_width(declared), live_count(declared)
    with httpx.Client(base_url="https://app.kalent.ai/api/v1", transport=SandboxTransport(hub, "kalent"),
                      headers={"x-api-key": "kalent_sandbox_local"}) as client:
        for lo in range(1, count + 1, batch):
            ids = [f"cand_bulk_{i:0{width}d}" for i in range(lo, min(count, lo + batch - 1) + 1)]
            reply = client.post("/sequence-blueprints/bp_bench/start", json={"candidateIds": ids})
            reply.raise_for_status()
    settle(hub)


def settle(hub: Any) -> None:
    """Let the seeded account settle before anything is measured: one sandbox minute passes (past
    Kalent's dispatch delay and Gary Club's next cron tick, long before any later step is due) and
    Gary Club's worker fires the seeded enrollments' first steps. The simulator runs that worker lazily,
    on its next request: without this the first measured command paid for 50,000 simulated sends."""
    hub.simulators["kalent"].clock.advance(60)  # one clock for the whole hub
    hub.simulators["garyclub"].run_due_steps()
    hub.store.commit()


def write_seed_files(root: Path, sections: dict[str, Any]) -> None:
    """The seed as campaigns/.sandbox/<vendor>.yaml (for `sandbox serve` and the on-disk sandbox)."""
    import yaml

    seed_dir = root / ".sandbox"
    seed_dir.mkdir(parents=True, exist_ok=True)
    for vendor, section in sections.items():
        (seed_dir / f"{vendor}.yaml").write_text(yaml.safe_dump(section, sort_keys=False))


__all__ = ["write_project", "seed", "split", "start_kalent", "settle", "write_seed_files", "contacts_for", "memberships_of"]
