"""An address whose remembered enrollment was made for a person who shares no email, phone or vendor id
with the contact the address names now, and whom no other declared member claims: it may be the same
person with new details (an edited email) or somebody else under a reused contact id. Enrolling could
send the same person a second sequence, so nothing is sent and the plan says `manual`."""

from __future__ import annotations

from tests.identity._world import CLARKY_SEQ, TWO_BLUEPRINTS, World, actions, kalent_sends, world

__all__ = ["world"]  # fixture


def test_an_edited_email_with_the_state_intact_never_enrolls_the_contact_again(world: World) -> None:
    """Clarky: the state remembers Lee's enrollment at clarky.membership[inbound][lee] (person
    email:lee@old.example). The manifest edits the contact's only email. No other declared member
    claims the old enrollment, yet the merge drops it and the plan enrolls: Clarky has no contact for
    the new email, so one is created and the start is keyed on the new contact id, a second sequence.
    (Gary Club is saved by its pre-POST roster check: it refuses with already_enrolled.)"""
    vendor, seq = "clarky", CLARKY_SEQ
    person = "  - {id: lee, first_name: Lee, emails: [%s]}\n"
    world.write(m_yaml="contacts:\n" + person % "lee@old.example" + seq % "lee")
    world.apply()
    assert world.sends_for(vendor) == 1
    # Lee moved jobs: the manifest's only email for the same contact id is edited. The state still
    # remembers the enrollment at clarky.membership[...][lee]; nobody else claims it.
    world.write(m_yaml="contacts:\n" + person % "lee@new.example" + seq % "lee")
    planned = actions(world.plan())
    assert planned == {"clarky.membership[inbound][lee]": "manual"}, planned
    world.apply()
    world.apply()
    assert world.sends_for(vendor) == 1, planned


def test_a_contact_id_reused_for_a_kalent_candidate_running_another_blueprint_is_not_started_blind(
        world: World) -> None:
    """v1: lee (cand_123) in s-a (bp-a), tom (cand_456) in s-b (bp-b); both started and settled.
    v2 (a few minutes later, the remembered statuses still fresh): the contact entry `lee` is reused
    for Tom (his email and candidate id), tom's own entry is removed, s-b keeps cand_790. The state
    row at kalent.membership[s-a][lee] is Lee's (cand_123, fresh: stands in), so cand_456 is never
    read for s-a; the merge drops Lee's row as reused and the plan enrolls cand_456 in bp-a. A read
    would have shown cand_456 running bp-b (a conflict: skip, a person decides)."""
    contacts = ("contacts:\n"
                "  - {id: lee, first_name: Lee, emails: [lee@example.org], kalent_candidate_id: cand_123}\n"
                "  - {id: tom, first_name: Tom, emails: [tom@example.org], kalent_candidate_id: cand_456}\n")
    world.write(m_yaml=contacts + TWO_BLUEPRINTS
                + "sequences:\n  - {id: s-a, provider: kalent, blueprint: bp-a, members: [lee]}\n"
                  "  - {id: s-b, provider: kalent, blueprint: bp-b, members: [tom]}\n")
    world.apply_settled()
    assert kalent_sends(world, "cand_123") == 1 and kalent_sends(world, "cand_456") == 1
    world.write(m_yaml="contacts:\n"
                       "  - {id: lee, first_name: Tom, emails: [tom@example.org], kalent_candidate_id: cand_456}\n"
                + TWO_BLUEPRINTS
                + "sequences:\n  - {id: s-a, provider: kalent, blueprint: bp-a, members: [lee]}\n"
                  "  - {id: s-b, provider: kalent, blueprint: bp-b, members: [], candidates: [cand_790]}\n")
    planned = actions(world.plan())
    assert planned.get("kalent.membership[s-a][lee]") == "manual", planned
    world.apply()
    assert kalent_sends(world, "cand_456") == 1, planned


