"""`drift --notify` POSTs only on transitions, to a webhook receiver on 127.0.0.1; a failing
receiver is retried, then a one-line error, exit 1, and the fingerprint stays where it was."""

from __future__ import annotations

import json

from tests.drift._support import Receiver

FILES = {
    "contacts.yaml": """\
contacts:
  - {id: ana, first_name: Ana, emails: [ana@example.com]}
  - {id: ben, first_name: Ben, emails: [ben@example.com]}
""",
    "sales.yaml": """\
pipelines:
  - id: sales
    provider: clarky
    pipeline: Sales Pipeline
    stage_policy: enforce
    cards:
      - {contact: ana, stage: Lead, title: Ana card}
      - {contact: ben, stage: Lead, title: Ben card}
""",
}


def card_id(served, title: str) -> str:
    return next(c["id"] for c in served.hub.store.collection("clarky.cards").values() if c.get("title") == title)


def test_notifies_on_transitions_only(served, receiver):
    root = served.write(FILES)
    assert served.run("apply", str(root), "--auto-approve").code == 0

    def drift() -> tuple[int, list[dict]]:
        result = served.run("drift", str(root), "--notify", receiver.url)
        return result.code, [json.loads(b) for b in receiver.take()]

    assert drift() == (0, [])                       # in sync from the start: nothing to say
    served.event("clarky", "move_card", card_id=card_id(served, "Ana card"), stage="Qualified")
    code, posts = drift()                           # first drift: one POST
    assert code == 2 and len(posts) == 1
    assert posts[0]["text"].startswith("campaignctl drift in camp: 1 changes, 0 orphaned, 0 health issues.")
    assert "• clarky.card[sales][ana]" in posts[0]["text"]
    assert posts[0]["drifted"] is True and posts[0]["counts"]["changes"] == 1
    assert drift() == (2, [])                       # the same drift again: quiet
    served.event("clarky", "archive_card", card_id=card_id(served, "Ben card"))
    code, posts = drift()                           # the drift changed: one POST
    assert code == 2 and len(posts) == 1 and posts[0]["counts"] == {
        "changes": 2, "diverged": 0, "orphaned": 0, "health": 1, "unmanaged": 1}
    assert served.run("apply", str(root), "--auto-approve").code == 0
    code, posts = drift()                           # cleared: one POST saying so
    assert code == 0 and len(posts) == 1 and posts[0]["drifted"] is False
    assert posts[0]["text"] == "campaignctl drift in camp cleared: live matches the manifests."
    assert drift() == (0, [])                       # still clear: quiet


def test_failing_receiver_is_retried_then_one_clear_line_and_the_next_run_notifies(served, receiver):
    root = served.write(FILES)
    assert served.run("apply", str(root), "--auto-approve").code == 0
    served.event("clarky", "move_card", card_id=card_id(served, "Ana card"), stage="Qualified")

    receiver.status = 500
    failed = served.run("drift", str(root), "--notify", receiver.url)
    assert failed.code == 1
    assert len(receiver.take()) == 3                # retried
    host = receiver.url.split("/services")[0]
    assert failed.stderr == (f"error: notify: POST to {host} failed after 3 attempts: 500 Internal Server Error; "
                             "the next drift run notifies again\n")
    assert "secret-token" not in failed.stdout + failed.stderr
    assert "Drift found" in failed.stdout           # the report itself still went out

    receiver.status = 200
    retried = served.run("drift", str(root), "--notify", receiver.url)
    assert retried.code == 2 and len(receiver.take()) == 1   # fingerprint was not advanced

    assert served.run("apply", str(root), "--auto-approve").code == 0
    receiver.close()                                # down: connection refused
    down = served.run("drift", str(root), "--notify", receiver.url)
    assert down.code == 1 and down.stderr.count("\n") == 1
    assert f"error: notify: POST to {host} failed after 3 attempts: " in down.stderr

    again = Receiver()
    try:
        cleared = served.run("drift", str(root), "--notify", again.url)
        posts = [json.loads(b) for b in again.take()]
        assert cleared.code == 0 and [p["drifted"] for p in posts] == [False]
    finally:
        again.close()
