"""`campaignctl apply` end to end through the CLI: lock, saved plans, daily_cap, report, journal."""

from __future__ import annotations

import json
import re
from pathlib import Path

import httpx
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.model import Address
from reconciler.providers import SANDBOX_KEYS
from reconciler.sandbox.hub import open_project_hub
from reconciler.sandbox.transport import SandboxTransport
from reconciler.state import StateStore
from tests.apply._support import SMALL_SENDS, cards_per_contact, sighted, small_project, writes

ENV = {"CAMPAIGNCTL_SANDBOX": "1", "CAMPAIGNCTL_SANDBOX_RATE_LIMITS": "off", "NO_COLOR": "1"}


def cli(*args: str):
    return CliRunner(env=ENV).invoke(main, list(args), catch_exceptions=False)



def sandbox(root: Path):
    return open_project_hub(root, rate_limits=False)


def test_a_second_apply_fails_at_once_naming_the_lock_holder_and_unlock_clears_it(tmp_path):
    root = small_project(tmp_path)
    store = StateStore(root / ".campaignctl" / "state.db")
    lock_id = store.acquire_lock("campaignctl apply (alice)")
    store.close()
    held = cli("apply", str(root), "--auto-approve")
    assert held.exit_code == 1
    assert "locked by campaignctl apply (alice)" in held.stderr and lock_id in held.stderr
    assert f"campaignctl state unlock {lock_id}" in held.stderr
    hub = sandbox(root)
    assert writes(hub) == [] and hub.store.requests() == []  # refused before reading anything
    hub.store.close()
    wrong = cli("state", "unlock", "nope", "--dir", str(root))
    assert wrong.exit_code == 1 and "does not match" in wrong.stderr
    assert cli("state", "unlock", lock_id, "--dir", str(root)).exit_code == 0
    done = cli("apply", str(root), "--auto-approve")
    assert done.exit_code == 0, done.output
    assert StateStore(root / ".campaignctl" / "state.db").current_lock() is None


def _first_apply_then_edit(root: Path) -> None:
    sighted(root, ENV)
    assert cli("apply", str(root), "--auto-approve").exit_code == 0
    sales = root / "sales.yaml"
    sales.write_text(sales.read_text().replace("Acme Spain – inbound", "Acme Spain – renewal"))
    nurture = root / "nurture.yaml"
    nurture.write_text(nurture.read_text().replace("[maria-garcia, john-smith]", "[maria-garcia, john-smith, emma-jones]"))


def test_a_stale_change_in_a_saved_plan_holds_back_its_vendor_and_the_others_go_ahead(tmp_path):
    """Each vendor writes as soon as its own read is done, so staleness is judged per vendor: the
    vendor with a stale change sends nothing (without --partial), the other's changes still hold."""
    root = small_project(tmp_path)
    _first_apply_then_edit(root)
    plan_file = tmp_path / "p.json"
    made = cli("plan", str(root), "--out", str(plan_file))
    assert made.exit_code == 0
    planned = {(c["action"], c["address"]) for c in json.loads(plan_file.read_text())["changes"]}
    card, emma = "clarky.card[sales][maria-garcia]", "gary.membership[nurture][emma-jones]"
    assert planned == {("update", card), ("enroll", emma)}
    hub = sandbox(root)  # meanwhile a person moves the card in the Clarky UI
    card_id = next(k for k, c in hub.store.collection("clarky.cards").items() if "campaignctl" in (c.get("tags") or ()))
    hub.event("clarky", "move_card", card_id=card_id, stage="Qualified")
    clarky_before = len([w for w in writes(hub) if w["vendor"] == "clarky"])
    hub.store.close()

    refused = cli("apply", str(plan_file), "--report", str(tmp_path / "r.json"))
    assert refused.exit_code == 1
    assert f"stale: {card}" in refused.stderr and "re-plan" in refused.stderr
    results = {r["address"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert set(results) == {emma} and results[emma]["status"] == "ok"
    hub = sandbox(root)
    assert len([w for w in writes(hub) if w["vendor"] == "clarky"]) == clarky_before  # nothing sent to Clarky
    assert hub.store.collection("clarky.cards").get(card_id)["title"] == "Acme Spain – inbound"
    hub.store.close()

    partial = cli("apply", str(plan_file), "--partial", "--report", str(tmp_path / "r.json"))
    assert partial.exit_code == 1
    results = {r["address"]: r for r in json.loads((tmp_path / "r.json").read_text())["results"]}
    assert results[card]["status"] == "stale" and "re-plan" in results[card]["message"]
    assert results[emma]["status"] == "stale" and "enrollment is now" in results[emma]["message"]
    hub = sandbox(root)
    card_now = hub.store.collection("clarky.cards").get(card_id)
    assert card_now["title"] == "Acme Spain – inbound"  # the stale update was not sent
    assert len(hub.store.sends("garyclub")) == 3 and set(hub.store.sends().values()) == {1}  # emma once
    hub.store.close()


def test_a_saved_plan_is_stale_when_someone_enrolls_the_member_meanwhile(tmp_path):
    root = small_project(tmp_path)
    sighted(root, ENV)
    plan_file = tmp_path / "p.json"
    assert cli("plan", str(root), "--out", str(plan_file)).exit_code == 0
    # someone else applies the same manifests first: every planned enrollment now exists
    assert cli("apply", str(root), "--auto-approve").exit_code == 0
    again = cli("apply", str(plan_file), "--partial")
    assert again.exit_code == 1
    assert again.output.count("! enroll") == SMALL_SENDS and "enrollment is now" in again.output
    hub = sandbox(root)
    assert len(hub.store.sends()) == SMALL_SENDS and set(hub.store.sends().values()) == {1}
    assert max(cards_per_contact(hub).values()) == 1
    hub.store.close()


def test_a_saved_plan_whose_manifests_changed_is_refused(tmp_path):
    root = small_project(tmp_path)
    plan_file = tmp_path / "p.json"
    assert cli("plan", str(root), "--out", str(plan_file)).exit_code == 0
    (root / "nurture.yaml").write_text((root / "nurture.yaml").read_text().replace("john-smith", "emma-jones"))
    refused = cli("apply", str(plan_file))
    assert refused.exit_code == 1 and "manifests changed since this plan was made" in refused.stderr
    hub = sandbox(root)
    assert writes(hub) == []
    hub.store.close()


CAPPED = """\
sequences:
  - id: inbound-es
    provider: clarky
    template: tpl_01HABC
    daily_cap: 3
    members: [maria-garcia, carlos-ruiz, lucia-fernandez, john-smith, emma-jones]
"""


def test_daily_cap_enrolls_three_defers_two_and_a_second_apply_within_24h_enrolls_none(tmp_path):
    root = small_project(tmp_path)
    (root / "sales.yaml").write_text(CAPPED)
    sighted(root, ENV)
    first = cli("apply", str(root), "--auto-approve")
    assert first.exit_code == 0, first.output
    assert re.search(r"^Plan: .*2 deferred|defer", first.output, re.M)
    clarky_enrolled = [line for line in first.output.splitlines() if line.startswith("✓ enroll") and "clarky." in line]
    assert len(clarky_enrolled) == 3
    plan = cli("plan", str(root), "--format", "json")
    deferred = [c for c in json.loads(plan.stdout)["changes"] if c["action"] == "defer"]
    assert len(deferred) == 2 and all("daily_cap 3" in c["reason"] for c in deferred)
    second = cli("apply", str(root), "--auto-approve")
    assert second.exit_code == 0 and "✓ enroll" not in second.output
    hub = sandbox(root)
    assert len(hub.store.sends("clarky")) == 3
    hub.store.close()
    store = StateStore(root / ".campaignctl" / "state.db")
    intents = [e for e in store.journal() if e.phase == "intent" and e.operation == "enroll" and e.address.startswith("clarky.")]
    store.close()
    assert len(intents) == 3


def test_report_file_summary_line_and_exit_1_when_a_change_failed(tmp_path):
    root = small_project(tmp_path)
    # Otto unsubscribed in the Clarky seed: his start fails with no_usable_channels
    (root / "otto.yaml").write_text("contacts:\n  - {id: otto, first_name: Otto, emails: [optout@example.com], tags: [inbound, es]}\n")
    report_file = tmp_path / "report.json"
    sighted(root, ENV)
    done = cli("apply", str(root), "--auto-approve", "--report", str(report_file))
    assert done.exit_code == 1
    assert done.output.rstrip().splitlines()[-1] == "Apply complete: 8 enrolled, 2 created, 1 failed."
    report = json.loads(report_file.read_text())
    assert report["summary"] == "Apply complete: 8 enrolled, 2 created, 1 failed."
    by_address = {r["address"]: r for r in report["results"]}
    assert len(by_address) == 11 and report["apply_id"]
    assert by_address["clarky.membership[inbound-es][otto]"]["status"] == "failed"
    assert "no_usable_channels" in by_address["clarky.membership[inbound-es][otto]"]["message"]
    assert {r["status"] for a, r in by_address.items() if "otto" not in a} == {"ok"}
    assert all(set(r) >= {"address", "action", "status", "message", "remote_id"} for r in report["results"])
    assert oct(report_file.stat().st_mode & 0o777) == "0o600"


def test_state_show_prints_what_was_sent_when_and_by_which_apply(tmp_path):
    root = small_project(tmp_path)
    report_file = tmp_path / "report.json"
    assert cli("apply", str(root), "--auto-approve", "--report", str(report_file)).exit_code == 0
    report = json.loads(report_file.read_text())
    address = "gary.membership[nurture][maria-garcia]"
    remote_id = next(r["remote_id"] for r in report["results"] if r["address"] == address)
    shown = cli("state", "show", address, "--dir", str(root))
    assert shown.exit_code == 0
    rows = [line for line in shown.stdout.splitlines() if f"apply {report['apply_id']}" in line]
    assert len(rows) == 2, shown.stdout
    intent, outcome = rows
    assert "enroll (attempt 0)  intent" in intent and "enroll (attempt 0)  ok" in outcome and f"remote_id={remote_id}" in outcome
    stamp = re.match(r"\s+(\S+)\s", intent).group(1)
    assert report["started_at"] <= stamp <= report["finished_at"]


def clarky_contact(hub, email: str) -> str:
    """A Clarky contact created the way apply creates one right before a first start."""
    with httpx.Client(transport=SandboxTransport(hub, "clarky"), base_url="https://clarky.ai/api/v1",
                      headers={"Authorization": f"Bearer {SANDBOX_KEYS['clarky']}"}) as client:
        reply = client.post("/contacts", json={"emails": [email], "bot_id": "b_01HDEF"})
    assert reply.status_code == 201, reply.text
    return reply.json()["data"]["id"]


def test_a_crash_between_intent_and_send_for_an_unknown_contact_settles_as_absent_by_reading(tmp_path):
    """apply creates the Clarky contact before its first start: an intent whose contact Clarky does not
    have never sent anything, which reading proves; the next apply enrolls once."""
    root = small_project(tmp_path)
    maria = "clarky.membership[inbound-es][maria-garcia]"
    store = StateStore(root / ".campaignctl" / "state.db")
    store.intent("crashedapply", Address.parse(maria), "enroll")
    store.close()
    assert cli("apply", str(root), "--auto-approve").exit_code == 0
    assert "resolved_absent" in cli("state", "show", maria, "--dir", str(root)).stdout
    assert cli("apply", str(root), "--auto-approve").exit_code == 0
    hub = sandbox(root)
    assert len(hub.store.sends("clarky")) == 3 and set(hub.store.sends().values()) == {1}
    hub.store.close()


def test_plan_after_a_crash_between_intent_and_send_writes_nothing_and_apply_sends_once(tmp_path):
    root = small_project(tmp_path)
    maria = "clarky.membership[inbound-es][maria-garcia]"
    hub = sandbox(root)
    clarky_contact(hub, "maria@example.com")  # apply creates the contact before its first start ...
    hub.store.close()
    store = StateStore(root / ".campaignctl" / "state.db")
    store.intent("crashedapply", Address.parse(maria), "enroll")  # ... and was killed before the start left
    store.close()
    planned = cli("plan", str(root), "--format", "json")
    assert planned.exit_code == 0
    assert {c["address"]: c["action"] for c in json.loads(planned.stdout)["changes"]}[maria] == "defer"
    hub = sandbox(root)
    assert [w["path"] for w in writes(hub)] == ["/api/v1/contacts"]  # a keyed replay of a start that never arrived would BE the start
    hub.store.close()
    done = cli("apply", str(root), "--auto-approve")
    assert done.exit_code == 0 and maria not in done.stdout.split("Plan:")[-1]
    hub = sandbox(root)
    assert len(hub.store.sends("clarky")) == 3 and set(hub.store.sends().values()) == {1}
    hub.store.close()
    shown = cli("state", "show", maria, "--dir", str(root)).stdout
    assert "apply crashedapply  enroll (attempt 0)  intent" in shown
    assert "apply crashedapply  enroll (attempt 0)  resolved_present" in shown


def test_apply_replays_an_in_doubt_start_only_after_confirmation_and_even_when_nothing_else_is_left(tmp_path):
    root = small_project(tmp_path)
    sighted(root, ENV)
    assert cli("apply", str(root), "--auto-approve").exit_code == 0
    hub = sandbox(root)
    before = hub.store.sends()
    hub.store.close()
    # A later apply died between journaling a start and sending it: the member is new in the manifest.
    (root / "extra.yaml").write_text("sequences:\n  - {id: inbound-en, provider: clarky, template: tpl_01HNUR, "
                                     "members: [emma-jones]}\n")
    emma = "clarky.membership[inbound-en][emma-jones]"
    hub = sandbox(root)
    clarky_contact(hub, "emma@jones-analytics.example")  # created before the start, as apply does
    hub.store.close()
    store = StateStore(root / ".campaignctl" / "state.db")
    store.intent("crashedapply", Address.parse(emma), "enroll")
    store.close()
    refused = CliRunner(env=ENV).invoke(main, ["apply", str(root)])  # no TTY, no --auto-approve
    assert refused.exit_code == 1 and "defer" in refused.stdout
    hub = sandbox(root)
    assert hub.store.sends() == before  # nothing sent, not even the keyed replay, before a yes
    hub.store.close()
    done = cli("apply", str(root), "--auto-approve")
    assert done.exit_code == 0, done.output
    assert f"settled {emma}" in done.stderr
    hub = sandbox(root)
    after = hub.store.sends()
    hub.store.close()
    assert set(after.values()) == {1} and len(after) == len(before) + 1
    again = cli("plan", str(root), "--detailed-exitcode")
    assert again.exit_code == 0, again.output


def test_a_plan_beside_a_running_apply_leaves_its_in_flight_intents_alone(tmp_path):
    root = small_project(tmp_path)
    john = "gary.membership[nurture][john-smith]"
    store = StateStore(root / ".campaignctl" / "state.db")
    lock_id = store.acquire_lock("apply in another terminal")
    seq = store.intent("running", Address.parse(john), "enroll")  # its POST has not landed yet
    planned = cli("plan", str(root), "--format", "json")
    assert planned.exit_code == 0
    assert {c["address"]: c["action"] for c in json.loads(planned.stdout)["changes"]}[john] == "defer"
    assert [e.seq for e in store.in_doubt()] == [seq]  # not closed as "resolved_absent" behind the apply's back
    store.release_lock(lock_id)
    store.close()


def test_an_apply_settles_by_reading_under_its_own_lock_and_sends_nothing(tmp_path):
    root = small_project(tmp_path)
    assert cli("apply", str(root), "--auto-approve").exit_code == 0
    john = "gary.membership[nurture][john-smith]"
    store = StateStore(root / ".campaignctl" / "state.db")
    store.intent("crashedapply", Address.parse(john), "enroll")  # its POST did land (the first apply sent it)
    store.close()
    hub = sandbox(root)
    before = hub.store.sends()
    hub.store.close()
    done = CliRunner(env=ENV).invoke(main, ["apply", str(root)])  # no TTY: would refuse if anything were left
    assert done.exit_code == 0 and "Nothing to apply." in done.stdout, done.output
    store = StateStore(root / ".campaignctl" / "state.db")
    assert store.in_doubt() == []  # settled by a read under apply's own lock, not left pending
    store.close()
    hub = sandbox(root)
    assert hub.store.sends() == before
    hub.store.close()
