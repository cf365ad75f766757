"""An address whose remembered person shares no identifier with the contact it names now, but whose
vendor contact id the read matches to that contact today (the same person: the contact was edited in
the vendor as well as in the manifest), keeps its enrollment: it is neither enrolled again nor held."""

from __future__ import annotations

from tests.identity._world import World, world

__all__ = ["world"]

SEQ = ("sequences:\n  - {id: inbound, provider: clarky, template: tpl_01HABC, members: [lee]}\n"
       "pipelines:\n  - {id: deals, provider: clarky, pipeline: Sales Pipeline, "
       "cards: [{contact: lee, stage: Lead, title: Lee}]}\n")
PERSON = "contacts:\n  - {id: lee, first_name: Lee, emails: [%s]}\n"


def clarky_contact(world: World, email: str) -> tuple[str, dict]:
    coll = world.hub.store.collection("clarky.contacts")
    return next((k, r) for k, r in coll.scan() if any(e["email"] == email for e in r["emails"]))


def test_an_email_edited_in_the_manifest_and_in_clarky_is_not_enrolled_again(world: World) -> None:
    """Lee (only email lee@old.example) is enrolled and has a card, so the state remembers her Clarky
    contact. Lee moves jobs: someone sets lee@new.example as the primary email of her Clarky contact,
    and the manifest's only email for `lee` is edited to match. The read matches `lee` to the same
    Clarky contact the enrollment was made for: she is enrolled. The plan must not say `enroll`; with
    the start's idempotency key expired at Clarky (its TTL is undocumented), that enroll is a second
    sequence."""
    world.write(m_yaml=PERSON % "lee@old.example" + SEQ)
    world.apply()
    assert world.sends_for("clarky") == 1
    key, row = clarky_contact(world, "lee@old.example")
    row["emails"] = [{"email": "lee@new.example", "is_primary": True},
                     {"email": "lee@old.example", "is_primary": False}]
    world.hub.store.collection("clarky.contacts").put(key, row)
    world.hub.store.commit()
    world.write(m_yaml=PERSON % "lee@new.example" + SEQ)
    planned = {c["address"]: c["action"] for c in world.plan()}
    keys = world.hub.store.collection("clarky.idempotency")  # the key's TTL at Clarky has passed
    for k, _ in list(keys.scan()):
        keys.delete(k)
    world.hub.store.commit()
    world.apply()
    assert planned.get("clarky.membership[inbound][lee]") != "enroll" and world.sends_for("clarky") == 1, \
        (planned, world.sends_for("clarky"))
