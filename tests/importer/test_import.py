"""`campaignctl import` against the served sandbox: import → validate → plan shows nothing but
`adopt` for untagged cards → apply → plan empty; no write request during import; sends unchanged."""

from __future__ import annotations

import copy
import json

import httpx
import pytest
import yaml

from reconciler.cli.app import Progress
from reconciler.sandbox.hub import load_seed
from tests.drift._support import EXAMPLE, KEYS, serve_sandbox

STEPS = yaml.safe_load((EXAMPLE / "recruiting.yaml").read_text())["blueprints"][0]["steps"]


def account() -> dict:
    """The example sandbox plus an account people have used for a while."""
    seed = copy.deepcopy(load_seed(EXAMPLE))
    clarky = seed["clarky"]
    clarky["contacts"] += [
        {"id": "c_MARIA", "first_name": "María", "last_name": "García", "emails": ["Maria@Example.com"]},
        {"id": "c_PHONE", "first_name": "Pat", "phone_numbers": ["+34911000111"]},
        {"id": "c_OLD", "first_name": "Old", "emails": ["old@example.com"]},
    ]
    clarky["cards"] += [
        {"id": "pc_TAGGED", "pipeline_stage_id": "ps_01HSTB", "contact_id": "c_MARIA", "title": "García – inbound",
         "tags": ["campaignctl", "inbound"]},
        {"id": "pc_PHONE", "pipeline_stage_id": "ps_01HSTC", "contact_id": "c_PHONE", "title": "Pat {big} deal"},
        {"id": "pc_PHONE2", "pipeline_stage_id": "ps_01HSTC", "contact_id": "c_PHONE", "title": "Pat deal"},
    ]
    seed["garyclub"].update({
        "contacts": [{"email": "maria@example.com", "phone": "+34911234567", "first_name": "Maria", "last_name": "García"},
                     {"email": "sam@example.com", "first_name": "Sam", "last_name": "Lee"},
                     {"phone": "+14155550999", "first_name": "Phone", "last_name": "Only"}],
        "enrollments": [{"sequence": "seq_EXAMPLE_aaaa", "contact": "maria@example.com"},
                        {"sequence": "seq_EXAMPLE_aaaa", "contact": "sam@example.com", "status": "paused",
                         "paused_reason": "reply_received"},
                        {"sequence": "seq_EXAMPLE_aaaa", "contact": "+14155550999", "status": "completed"}],
        "deals": [{"name": "Maria – inbound", "stage": "Contacted", "contact": "maria@example.com", "tags": ["campaignctl"]},
                  {"name": "Sam – referral", "stage": "New", "contact": "sam@example.com", "description": "From Ana"}],
    })
    seed["kalent"]["blueprints"] = [{"id": "bp_ui", "sourcing": "src_backend", "name": "Made in the UI", "steps": STEPS}]
    return seed


@pytest.fixture
def served(tmp_path):
    s = serve_sandbox(tmp_path, account())
    yield s
    s.close()


def test_import_validate_plan_adopt_apply_converges_without_sending(served):
    # Someone started two candidates on the UI blueprint before campaignctl came along.
    started = httpx.post(f"{served.url}/kalent/api/v1/sequence-blueprints/bp_ui/start",
                         json={"candidateIds": ["cand_123", "cand_456"]}, headers={"x-api-key": "k"})
    assert started.status_code == 200, started.text
    served.advance(120)
    root = served.write({})
    writes, sends = len(served.writes()), served.hub.store.sends()

    imports = [("clarky", "--pipeline", "Sales Pipeline", "clarky-sales.yaml"),
               ("gary", "--pipeline", "Sales", "gary-sales.yaml"),
               ("gary", "--sequence", "Post-call nurture", "gary-nurture.yaml"),
               ("kalent", "--sourcing", "Senior Backend Engineer", "kalent.yaml")]
    for provider, flag, value, name in imports:
        done = served.run("import", provider, flag, value, "--dir", str(root), "--out", str(root / name))
        assert done.code == 0, done.stderr
    assert len(served.writes()) == writes          # import sent no write request of any kind

    clarky = yaml.safe_load((root / "clarky-sales.yaml").read_text())
    cards = {c["contact"]: c for c in clarky["pipelines"][0]["cards"]}
    assert cards["maria-garcia"] == {"contact": "maria-garcia", "stage": "Qualified", "title": "García – inbound",
                                     "tags": ["inbound"]}
    assert cards["ada-lovelace"]["description"] == "Renewal due in Q2"
    assert cards["pat"]["title"] == "Pat deal"      # the {big} title would read as a placeholder
    assert "its title or description contains {...}" in (root / "clarky-sales.yaml").read_text()
    gary_members = yaml.safe_load((root / "gary-nurture.yaml").read_text())["sequences"][0]["members"]
    assert gary_members == ["maria-garcia", "sam-lee", "phone-only"]   # ids reused from gary-sales.yaml
    kalent = yaml.safe_load((root / "kalent.yaml").read_text())
    assert kalent["blueprints"][0]["name"] == "Made in the UI"
    assert kalent["sequences"][0]["candidates"] == ["cand_123", "cand_456"]

    valid = served.run("validate", str(root))
    assert valid.code == 0, valid.stderr
    plan = served.run("plan", str(root), "--format", "json", "--refresh")
    assert plan.code == 0, plan.stderr
    changes = {(c["address"], c["action"]) for c in json.loads(plan.stdout)["changes"]}
    assert changes == {("clarky.card[sales-pipeline][ada-lovelace]", "adopt"),
                       ("clarky.card[sales-pipeline][pat]", "adopt"),
                       ("gary.card[sales][sam-lee]", "adopt")}

    applied = served.run("apply", str(root), "--auto-approve")
    assert applied.code == 0, applied.stdout + applied.stderr
    again = served.run("plan", str(root), "--detailed-exitcode", "--refresh")
    assert again.code == 0, again.stdout
    assert served.hub.store.sends() == sends       # adopting sent nothing to anyone
    tags = {c["id"]: c["tags"] for c in served.hub.store.collection("clarky.cards").values()}
    assert "campaignctl" in tags["pc_01HCRD"] and "renewal" in tags["pc_01HCRD"]


def test_stdout_out_force_and_clarky_sequences(served):
    root = served.write({})
    shown = served.run("import", "gary", "--sequence", "Post-call nurture", "--dir", str(root))
    assert shown.code == 0 and shown.stdout.startswith("# Imported by `campaignctl import gary --sequence")
    assert "members: [maria-garcia" in shown.stdout or "- maria-garcia" in shown.stdout
    out = root / "nurture.yaml"
    assert served.run("import", "gary", "--sequence", "Post-call nurture", "--dir", str(root), "--out", str(out)).code == 0
    refused = served.run("import", "gary", "--sequence", "Post-call nurture", "--dir", str(root), "--out", str(out))
    assert refused.code == 1 and refused.stderr == f"error: {out} exists; pass --force to overwrite it\n"
    forced = served.run("import", "gary", "--sequence", "Post-call nurture", "--dir", str(root), "--out", str(out), "--force")
    assert forced.code == 0, forced.stderr
    assert served.run("validate", str(root)).code == 0

    members = served.run("import", "clarky", "--sequence", "tpl_01HABC", "--dir", str(root))
    assert members.code == 0
    assert "cannot discover the members of a Clarky sequence" in members.stdout
    assert "warning: Clarky cannot list enrollments" in members.stderr
    assert yaml.safe_load(members.stdout) is None    # comments only: nothing declared by guesswork
    both = served.run("import", "gary", "--pipeline", "Sales", "--sequence", "x", "--dir", str(root))
    assert both.code == 1 and "exactly one of --pipeline, --sequence, --sourcing" in both.stderr
    assert served.writes() == []


def test_large_import_streams_with_progress(tmp_path, monkeypatch):
    seed = copy.deepcopy(load_seed(EXAMPLE))
    seed["clarky"]["bulk"] = {"contacts": 450, "cards": 450, "stage": "ps_01HSTA"}
    served = serve_sandbox(tmp_path, seed)
    try:
        monkeypatch.setattr(Progress, "DELAY", 0.0)   # show progress at once instead of after 2 s
        monkeypatch.setattr(Progress, "EVERY", 0.0)
        root = served.write({})
        done = served.run("import", "clarky", "--pipeline", "Sales Pipeline", "--dir", str(root),
                          "--out", str(root / "bulk.yaml"))
        assert done.code == 0, done.stderr
        assert "Importing: 400 cards" in done.stderr and "Importing: 400 contacts" in done.stderr
        assert done.stderr.strip().endswith("the next plan shows them as `adopt`.")
        assert len(yaml.safe_load((root / "bulk.yaml").read_text())["pipelines"][0]["cards"]) == 451
        assert served.run("validate", str(root)).code == 0
        assert served.writes() == []
    finally:
        served.close()


def test_a_draft_sequence_is_imported_with_a_note_and_a_blueprint_by_name_with_its_members(served):
    started = httpx.post(f"{served.url}/kalent/api/v1/sequence-blueprints/bp_ui/start",
                         json={"candidateIds": ["cand_456"]}, headers={"x-api-key": "k"})
    assert started.status_code == 200, started.text
    served.advance(120)
    root = served.write({})
    writes = len(served.writes())
    draft = served.run("import", "gary", "--sequence", "Reactivation (draft)", "--dir", str(root))
    assert draft.code == 0, draft.stderr
    assert "# sequence 'Reactivation (draft)' is draft: new members wait until it is active\n" in draft.stdout
    assert yaml.safe_load(draft.stdout)["sequences"] == [
        {"id": "reactivation-draft", "provider": "gary", "sequence": "Reactivation (draft)", "members": []}]

    one = served.run("import", "kalent", "--sequence", "Made in the UI", "--dir", str(root))
    assert one.code == 0, one.stderr
    doc = yaml.safe_load(one.stdout)
    assert [(b["id"], b["sourcing"], b["name"], b["steps"]) for b in doc["blueprints"]] == [
        ("made-in-the-ui", "Senior Backend Engineer", "Made in the UI", STEPS)]
    assert doc["sequences"] == [{"id": "made-in-the-ui", "provider": "kalent", "blueprint": "made-in-the-ui",
                                 "candidates": ["cand_456"]}]
    assert len(served.writes()) == writes  # import sent no write request of any kind
