"""A fourth vendor, added by registering its spec and nothing else: validate, plan, apply, plan
again and drift end to end through the CLI, on its own in-process simulator.

Relay (tests/architecture/relay/) is the whole vendor; this test touches no other file of the
project, and the core reaches Relay only through `vendors.register`."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reconciler.cli import main
from reconciler.providers import vendors
from reconciler.sandbox.hub import open_project_hub
from tests.architecture.relay.spec import SPEC

PROJECT = """\
version: 1
providers:
  relay: {type: relay, sandbox: true, sender: ops@example.com}
  clarky: {type: clarky, api_key_env: CLARKY_API_KEY, bot_id: b_01HDEF, sandbox: true}
"""
MANIFEST = """\
version: 1
contacts:
  - {id: ana, first_name: Ana, emails: [ana@example.com]}
sequences:
  - {id: welcome, provider: relay, campaign: spring-welcome, priority: high, members: [ana]}
"""


@pytest.fixture
def relay():
    vendors.register(SPEC)
    yield SPEC
    vendors.unregister(SPEC.name)


@pytest.fixture
def project(make_project, relay):
    return make_project({"main.yaml": MANIFEST, ".sandbox/relay.yaml": "campaigns: [spring-welcome]\n"},
                        project=PROJECT)


def run(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_validate_plan_apply_plan_drift_end_to_end(project):
    valid = run("validate", str(project))
    assert valid.exit_code == 0, valid.output

    plan = run("plan", str(project))
    assert plan.exit_code == 0, plan.output
    assert "relay.membership[welcome][ana]" in plan.output and "Plan: 1 to enroll" in plan.output
    assert "SENDS MESSAGES WITHIN SECONDS" in plan.output  # priority: high is this vendor's `loud`

    applied = run("apply", str(project), "--auto-approve")
    assert applied.exit_code == 0, applied.output
    hub = open_project_hub(project)
    try:
        assert hub.store.sends("relay") == {("relay", "spring-welcome", "ana@example.com"): 1}
        [delivery] = hub.store.collection("relay.deliveries").values()
        assert delivery["priority"] == "high"  # the vendor's own sequence key reached its adapter
        requests = [(r["method"], r["path"]) for r in hub.store.requests("relay")]
        assert ("POST", "/v1/campaigns/spring-welcome/deliveries") in requests
    finally:
        hub.store.close()

    again = run("plan", str(project), "--detailed-exitcode")
    assert again.exit_code == 0, again.output
    assert "No changes" in again.output

    drift = run("drift", str(project))
    assert drift.exit_code == 0, drift.output

    assert run("sandbox", "advance", "2h", "--dir", str(project)).exit_code == 0
    late = run("drift", str(project), "--format", "json")
    assert "stuck_queued" in late.output and "stuck in the queue for 2" in late.output, late.output

    assert run("apply", str(project), "--auto-approve").exit_code == 0
    hub = open_project_hub(project)
    try:
        assert hub.store.sends("relay") == {("relay", "spring-welcome", "ana@example.com"): 1}  # still once
    finally:
        hub.store.close()


def test_its_keys_are_its_own_and_located(make_project, relay):
    root = make_project({"main.yaml": """\
        version: 1
        contacts:
          - {id: ana, emails: [ana@example.com]}
        sequences:
          - {id: welcome, provider: relay, campaign: spring, template: tpl_01HABC, members: [ana]}
          - {id: nurture, provider: clarky, template: tpl_01HABC, campaign: spring, members: [ana]}
          - {id: missing, provider: relay, members: [ana]}
        """}, project=PROJECT.replace("sender: ops@example.com", "sender: ops@example.com, client_id: c1"))
    result = run("validate", str(root))
    assert result.exit_code == 1
    out = result.output
    assert "campaignctl.yaml:3" in out and "client_id is a Gary Club setting; provider 'relay' is relay" in out
    assert "main.yaml:5" in out and "template: is not a relay sequence setting" in out
    assert "main.yaml:6" in out and "campaign: is not a clarky sequence setting" in out
    assert "main.yaml:7" in out and "a relay sequence needs campaign:" in out


def test_its_error_envelope_is_read_by_its_own_parser(project):
    (project / "main.yaml").write_text(MANIFEST.replace("campaign: spring-welcome", "campaign: autumn"))
    result = run("plan", str(project))
    assert result.exit_code == 1
    assert "no_campaign: no campaign 'autumn'" in result.output, result.output


def test_unregistered_it_is_an_unknown_type(make_project):
    root = make_project({"main.yaml": MANIFEST}, project=PROJECT)
    result = run("validate", str(root))
    assert result.exit_code == 1 and "relay" in result.output and "is not one of" in result.output, result.output
