"""A person Clarky holds twice (one record by email, another by phone) is never started again because
the read matched contacts from the contact list and stopped paging once everyone had one match: the
second record further on is looked up before anything is keyed on the first."""

from __future__ import annotations

import shutil

from reconciler.sandbox.hub import open_project_hub
from tests.apply._support import EXAMPLE, apply_once, plan_changes
from tests.identity._world import CLARKY_SEQ, World


def test_a_person_held_twice_in_clarky_is_not_started_again_when_many_contacts_are_matched_from_the_list(
        tmp_path) -> None:
    """Clarky holds Pat twice: c_PATMAIL (pat@example.org, seeded, page 1 of the contact list) and the
    contact campaignctl created for Pat's phone in run 1 (after 150 bulk contacts: page 2), on which
    Pat's start is keyed. The manifest then adds Pat's email and five more members; the state is lost.
    With six contacts to match (7 lookups > 5) the read matches from the list, stops after page 1
    (everyone has a match), never sees the phone record, and Pat is started again keyed on
    c_PATMAIL. One by one, the phone lookup would have found both records: `manual`."""
    root = tmp_path / "camp"
    root.mkdir()
    shutil.copytree(EXAMPLE / ".sandbox", root / ".sandbox")
    seed = root / ".sandbox" / "clarky.yaml"
    seed.write_text(seed.read_text().replace(
        "contacts:                          # any documented contact field; bot_id defaults to the first bot\n",
        "contacts:\n  - {id: c_PATMAIL, first_name: Pat, emails: [pat@example.org]}\n", 1)
        + "bulk: {contacts: 150}\n")
    hub = open_project_hub(root, rate_limits=False)
    world = World.__new__(World)  # the World helpers over this hub
    world.mode, world.root, world.hub, world.served = "inprocess", root, hub, None
    try:
        pat = "  - {id: pat, first_name: Pat, %s}\n"
        others = "".join(f"  - {{id: b{i}, first_name: B, emails: [bulk-{i:08d}@example.com]}}\n" for i in range(1, 6))
        world.write(m_yaml="contacts:\n" + pat % "phone_numbers: ['+15550009999']" + CLARKY_SEQ % "pat")
        assert apply_once(root, hub).ok
        assert world.sends_for("clarky") == 1
        world.write(m_yaml="contacts:\n" + pat % "emails: [pat@example.org], phone_numbers: ['+15550009999']"
                    + others + CLARKY_SEQ % ", ".join(["pat", *(f"b{i}" for i in range(1, 6))]))
        world.lose_state()
        planned = {str(c.address): c.action for c in plan_changes(root, hub)}
        apply_once(root, hub)
        pats = {k: n for k, n in hub.store.sends("clarky").items() if not k[2].startswith("c_B")}
        assert sum(pats.values()) == 1, (pats, planned)
        # the partial match was not remembered: the next plan looks Pat up again and holds them
        again = {str(c.address): c.action for c in plan_changes(root, hub)}
        assert again.get("clarky.membership[inbound][pat]") == "manual", again
        apply_once(root, hub)
        pats = {k: n for k, n in hub.store.sends("clarky").items() if not k[2].startswith("c_B")}
        assert sum(pats.values()) == 1, pats
    finally:
        hub.store.close()

