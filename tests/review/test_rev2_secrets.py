"""Hostile review (rev2): secrets on error paths."""

from __future__ import annotations

from reconciler.sandbox.faults import Fault, FaultPlan
from reconciler.session import open_session
from tests.apply._support import apply_once
from tests.identity._world import World

KEY = "ck_live_sandbox_local"  # the key the in-process sandbox's Clarky provider sends (ClarkySpec.sandbox_key)


def test_a_maintenance_page_echoing_the_key_across_the_snippet_cut_leaks_none_of_it(tmp_path) -> None:
    """A proxy's maintenance page answers Clarky's start with 200 text/html and echoes the request's
    Authorization header; the key starts at character 66, so the 80-character snippet holds its
    first 14 characters ('ck_live_sandbo'), which redact() cannot recognise."""
    page = "<html><body><h1>Maintenance</h1>We will be back. Echo: Bearer " + KEY + " </body></html>"
    assert page.index(KEY) < 80 < page.index(KEY) + len(KEY)
    world = World(tmp_path, "inprocess")
    try:
        world.write(m_yaml="contacts:\n  - {id: lee, first_name: Lee, emails: [lee@example.org]}\n"
                           "sequences:\n  - {id: inbound, provider: clarky, template: tpl_01HABC, members: [lee]}\n")
        world.hub.faults = FaultPlan(script=[Fault("body", method="POST", path=r"/sequences/start$", vendor="clarky",
                                                   raw=page, status=200, times=None)])
        report = apply_once(world.root, world.hub)
        with open_session(world.root, env={}, hub=world.hub) as session:
            journal = " ".join(str(e.detail) for e in session.store.journal())
        shown = " ".join(r.message for r in report.results)
        assert "Bearer ck_live_s" in page[:80]  # what the snippet keeps
        leaked = [where for where, text in (("journal", journal), ("report", shown)) if "ck_live_sandbo" in text]
        assert leaked == [], (leaked, shown)
    finally:
        world.close()
