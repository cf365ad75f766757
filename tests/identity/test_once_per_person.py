"""Issue 13, items 1-4 and 7: one person is enrolled at most once per vendor sequence through identity
edits, renames, moves and a lost state file, and a person the vendor holds ambiguously is `manual`.

Each scenario runs on the in-process sandbox and over loopback (`sandbox serve`), and ends with the
sandbox's send ledger (see _world.py)."""

from __future__ import annotations

from tests.identity._world import CLARKY_SEQ, GARY_SEQ, World, actions, world

__all__ = ["world"]  # fixture


# -- 1. one person, two identities ----------------------------------------------------------------
def test_one_person_declared_twice_is_refused_before_anything_is_sent(world: World) -> None:
    world.write(contacts_yaml="""\
        contacts:
          - {id: maria, emails: [maria.two@example.org], phone_numbers: ["+34911000001"], tags: [es]}
        contact_sources:
          - csv: leads.csv
        sequences:
          - {id: inbound, provider: clarky, template: tpl_01HABC, members_where: {tags_any: [es]}}
        """, leads_csv="id,first_name,phone,tags\nmaria-csv,Maria,+34 911 000 001,es\n")
    problems = world.fail("apply")
    assert "contacts 'maria' and 'maria-csv' share the phone '+34911000001'" in problems
    assert "leads.csv:2:1" in problems and "contacts.yaml:2:" in problems
    assert world.sends_for("clarky") == 0


# -- 3. identity edits with the state lost ------------------------------------------------------------
def test_a_phone_only_contact_that_gains_an_email_after_a_lost_state_is_not_restarted(world: World) -> None:
    person = "  - {id: pat, first_name: Pat, %s}\n"
    world.write(m_yaml="contacts:\n" + person % 'phone_numbers: ["+15550001111"]' + CLARKY_SEQ % "pat")
    world.apply()
    assert world.sends_for("clarky", "tpl_01HABC") == 1
    world.event("clarky", "reply", contact="+15550001111")  # Pat replied: the sequence stopped
    world.write(m_yaml="contacts:\n" + person % 'emails: [pat@example.org], phone_numbers: ["+15550001111"]'
                + CLARKY_SEQ % "pat")
    world.lose_state()
    world.apply()
    world.apply()
    assert world.sends_for("clarky", "tpl_01HABC") == 1  # the start is keyed on Clarky's contact id
    world.assert_sent_at_most_once()


def test_a_changed_primary_email_with_the_phone_kept_after_a_lost_state_is_not_restarted(world: World) -> None:
    person = '  - {id: lee, first_name: Lee, emails: [%s], phone_numbers: ["+15550003333"]}\n'
    world.write(m_yaml="contacts:\n" + person % "lee@old.example" + CLARKY_SEQ % "lee")
    world.apply()
    world.write(m_yaml="contacts:\n" + person % "lee@new.example" + CLARKY_SEQ % "lee")
    world.lose_state()
    assert "enroll" in actions(world.plan()).values()  # no state: the plan cannot know, the key does
    world.apply()
    assert world.sends_for("clarky", "tpl_01HABC") == 1
    world.assert_sent_at_most_once()


def test_under_prune_delete_an_identity_edit_never_deletes_a_card_a_person_moved(world: World) -> None:
    pipeline = """\
        pipelines:
          - id: deals
            provider: clarky
            pipeline: Sales Pipeline
            prune: delete
            cards:
              - {contact: pat, stage: Lead, title: Pat}
        """
    world.write(m_yaml='contacts:\n  - {id: pat, first_name: Pat, phone_numbers: ["+15550004444"]}\n', p_yaml=pipeline)
    world.apply()
    [card] = [dict(c) for c in world.hub.store.collection("clarky.cards").values() if c.get("title") == "Pat"]
    world.event("clarky", "move_card", card_id=card["id"], stage="Closed Won")
    world.write(m_yaml='contacts:\n  - {id: pat, first_name: Pat, emails: [pat@example.org], '
                       'phone_numbers: ["+15550004444"]}\n', p_yaml=pipeline)
    world.lose_state()
    planned = actions(world.plan())
    assert not {a for a in planned.values() if a in ("delete", "create")}, planned
    world.apply()
    cards = [c for c in world.hub.store.collection("clarky.cards").values() if c.get("contact_id") == card["contact_id"]]
    assert [c["id"] for c in cards] == [card["id"]]
    assert card["pipeline_stage_id"] != cards[0]["pipeline_stage_id"]  # still in Closed Won, where the person put it


# -- 4. matching live records on any declared identifier -----------------------------------------------
def test_gary_holding_the_person_under_a_secondary_email_is_matched_and_not_enrolled_again(world: World) -> None:
    person = "  - {id: sam, first_name: Sam, emails: [%s]}\n"
    world.write(m_yaml="contacts:\n" + person % "sam.old@example.org" + GARY_SEQ % "sam")
    world.apply()
    world.event("garyclub", "reply", contact="sam.old@example.org")  # paused on reply
    world.write(m_yaml="contacts:\n" + person % "sam.new@example.org, sam.old@example.org" + GARY_SEQ % "sam")
    world.lose_state()
    assert actions(world.plan()) == {}
    world.apply()
    nurture = [s for (v, s, _) in world.hub.store.sends("garyclub")]
    assert len(nurture) == 1
    world.assert_sent_at_most_once()


def test_one_contact_matching_two_vendor_records_plans_manual_and_enrolls_no_one(world: World) -> None:
    # Two earlier people (cards and deals create the vendor contacts), later found to be one person.
    world.write(m_yaml="""\
        contacts:
          - {id: amb-mail, first_name: A, emails: [amb@example.org]}
          - {id: amb-phone, first_name: B, phone_numbers: ["+15550005555"]}
        pipelines:
          - id: deals
            provider: clarky
            pipeline: Sales Pipeline
            cards: [{contact: amb-mail, stage: Lead, title: A}, {contact: amb-phone, stage: Lead, title: B}]
          - id: gdeals
            provider: gary
            pipeline: Sales
            cards: [{contact: amb-mail, stage: New, title: A}, {contact: amb-phone, stage: New, title: B}]
        """)
    world.apply()
    world.write(m_yaml='contacts:\n  - {id: amy, first_name: Amy, emails: [amb@example.org], '
                       'phone_numbers: ["+15550005555"]}\n'
                       + CLARKY_SEQ % "amy" + "  - {id: nurture, provider: gary, sequence: Post-call nurture, "
                       "members: [amy]}\n")
    changes = {c["address"]: c for c in world.plan()}
    for address in ("clarky.membership[inbound][amy]", "gary.membership[nurture][amy]"):
        assert changes[address]["action"] == "manual", changes
        assert "matches 2" in changes[address]["reason"] and "enrolls no one" in changes[address]["reason"]
    world.apply()
    assert world.sends_for("clarky") == 0 and world.sends_for("garyclub") == 0


def test_one_vendor_record_matching_two_contacts_plans_manual_for_both(world: World) -> None:
    world.write(m_yaml='contacts:\n  - {id: duo, first_name: Duo, emails: [duo@example.org], '
                       'phone_numbers: ["+15550006666"]}\n'
                       'pipelines:\n  - {id: deals, provider: clarky, pipeline: Sales Pipeline, '
                       'cards: [{contact: duo, stage: Lead, title: Duo}]}\n')
    world.apply()  # one Clarky contact holds both the email and the phone
    world.write(m_yaml="""\
        contacts:
          - {id: duo-mail, first_name: D, emails: [duo@example.org]}
          - {id: duo-phone, first_name: E, phone_numbers: ["+15550006666"]}
        sequences:
          - {id: inbound, provider: clarky, template: tpl_01HABC, members: [duo-mail, duo-phone]}
        """)
    planned = {c["address"]: c for c in world.plan()}
    for key in ("duo-mail", "duo-phone"):
        change = planned[f"clarky.membership[inbound][{key}]"]
        assert change["action"] == "manual" and "matches both 'duo-mail' and 'duo-phone'" in change["reason"]
    world.apply()
    assert world.sends_for("clarky") == 0


# -- 7. renames and moves plan as renames --------------------------------------------------------------
RECRUITING = """\
blueprints:
  - id: outreach-v2
    provider: kalent
    sourcing: "Senior Backend Engineer"
    name: "Backend outreach v2"
    steps:
      - {id: invite, name: Invite, type: LINKEDIN, linkedInType: LINKEDIN_INVITATION, content: "", temporalityType: ASAP}
"""


def _people(ana: str, clarky_seq: str, kalent_seq: str, kalent_members: str, email: str = "ana.r@example.org") -> str:
    return (f"contacts:\n  - {{id: {ana}, first_name: Ana, emails: [{email}], phone_numbers: ['+15550007777'], "
            f"kalent_candidate_id: cand_123}}\n"
            f"sequences:\n  - {{id: {clarky_seq}, provider: clarky, template: tpl_01HABC, members: [{ana}]}}\n"
            f"  - {{id: nurture, provider: gary, sequence: Post-call nurture, members: [{ana}]}}\n"
            f"  - {{id: {kalent_seq}, provider: kalent, blueprint: outreach-v2, {kalent_members}}}\n")


def test_renaming_a_contact_and_sequences_and_moving_a_member_plans_renames_and_sends_nothing(world: World) -> None:
    world.write(m_yaml=_people("ana", "inbound", "backend", "members: [ana]"), r_yaml=RECRUITING)
    world.apply_settled()
    sent = world.hub.store.sends()
    assert len(sent) == 3
    # ana -> ana-rivera, inbound -> inbound-es, backend -> backend-2026 with the candidate listed directly
    world.write(m_yaml=_people("ana-rivera", "inbound-es", "backend-2026", "candidates: [cand_123]"),
                r_yaml=RECRUITING)
    planned = world.plan()
    members = {c["address"]: c for c in planned if ".membership[" in c["address"]}
    assert {a: c["action"] for a, c in members.items()} == {
        "clarky.membership[inbound-es][ana-rivera]": "rename",
        "gary.membership[nurture][ana-rivera]": "rename",
        "kalent.membership[backend-2026][cand_123]": "rename",
    }, planned
    assert "kept under its new address (was clarky.membership[inbound][ana])" in \
        members["clarky.membership[inbound-es][ana-rivera]"]["reason"]
    world.apply()
    assert [c for c in world.plan() if ".membership[" in c["address"]] == []
    assert world.hub.store.sends() == sent
    world.assert_sent_at_most_once()


def test_a_renamed_contact_with_a_new_email_and_the_state_lost_is_not_enrolled_again(world: World) -> None:
    world.write(m_yaml=_people("ana", "inbound", "backend", "members: [ana]"), r_yaml=RECRUITING)
    world.apply_settled()
    sent = world.hub.store.sends()
    world.write(m_yaml=_people("ana-rivera", "inbound", "backend", "members: [ana-rivera]", "ana@rivera.example"),
                r_yaml=RECRUITING)
    world.lose_state()
    world.advance(60)  # past Kalent's dispatch delay: its start is visible
    world.apply()
    world.apply()
    assert world.hub.store.sends() == sent


def test_a_contact_renamed_under_a_state_written_before_identities_were_recorded_plans_a_rename(world: World) -> None:
    """State rows from an earlier campaignctl carry no identifiers: the vendor's own id of the person
    (Clarky/Gary contact id, Kalent candidate id) recognises the renamed member instead."""
    world.write(m_yaml=_people("ana", "inbound", "backend", "members: [ana]"), r_yaml=RECRUITING)
    world.apply_settled()
    sent = world.hub.store.sends()
    world.state_sql("UPDATE objects SET extra = json_remove(extra, '$.person', '$.target')")
    world.write(m_yaml=_people("ana-rivera", "inbound", "backend", "members: [ana-rivera]"), r_yaml=RECRUITING)
    members = {c["address"]: c["action"] for c in world.plan() if ".membership[" in c["address"]}
    assert members == {f"{p}.membership[{s}][{k}]": "rename" for p, s, k in (
        ("clarky", "inbound", "ana-rivera"), ("gary", "nurture", "ana-rivera"), ("kalent", "backend", "ana-rivera"))}
    world.apply()
    assert world.hub.store.sends() == sent


# -- issue 17: resolved vendor contact ids are remembered ---------------------------------------------
def test_a_member_waiting_for_its_enrollment_is_not_matched_again_on_every_plan(world: World) -> None:
    world.write(m_yaml='contacts:\n  - {id: wes, first_name: Wes, emails: [wes@example.org], '
                       'phone_numbers: ["+15550008888"]}\n'
                       'pipelines:\n  - {id: deals, provider: clarky, pipeline: Sales Pipeline, '
                       'cards: [{contact: wes, stage: Lead, title: Wes}]}\n'
                       '  - {id: gdeals, provider: gary, pipeline: Sales, cards: [{contact: wes, stage: New, title: Wes}]}\n')
    world.apply()  # Wes exists in Clarky and Gary Club now (his card, his deal); the enrollments are only planned
    world.write(m_yaml='contacts:\n  - {id: wes, first_name: Wes, emails: [wes@example.org], '
                       'phone_numbers: ["+15550008888"]}\n' + CLARKY_SEQ % "wes"
                       + "  - {id: nurture, provider: gary, sequence: Post-call nurture, members: [wes]}\n")

    def lookups() -> int:
        return sum(1 for r in world.hub.store.requests() if r["method"] == "GET" and "/contacts" in r["path"])

    world.plan()
    first = lookups()
    world.plan()
    world.plan()
    assert lookups() == first, [r for r in world.hub.store.requests() if "/contacts" in r["path"]][-4:]
    assert sorted(actions(world.plan()).values()) == ["enroll", "enroll"]


def test_a_contact_id_reused_for_another_person_never_inherits_the_old_persons_vendor_contact(world: World) -> None:
    world.write(m_yaml='contacts:\n  - {id: kim, first_name: Kim, emails: [kim.one@example.org]}\n' + CLARKY_SEQ % "kim")
    world.apply()
    # kim-one keeps the enrollment; the id `kim` now names somebody else, who is new to Clarky
    world.write(m_yaml='contacts:\n  - {id: kim-one, first_name: Kim, emails: [kim.one@example.org]}\n'
                       '  - {id: kim, first_name: Kim, emails: [kim.two@example.org]}\n'
                       + CLARKY_SEQ % "kim-one, kim")
    planned = actions(world.plan())
    assert planned == {"clarky.membership[inbound][kim]": "enroll", "clarky.membership[inbound][kim-one]": "rename"}
    world.apply()
    contacts = {c for (_, _, c) in world.hub.store.sends("clarky")}
    assert len(contacts) == 2 and world.sends_for("clarky") == 2  # each Kim once, each on their own contact
    world.assert_sent_at_most_once()
