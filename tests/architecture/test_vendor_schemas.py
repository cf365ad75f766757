"""The shipped JSON Schemas (which editors use) and the built-in VendorSpecs say the same thing."""

from __future__ import annotations

import pytest

from reconciler.providers import vendors
from reconciler.schema_check import load_schema
from reconciler.schema_vendors import manifest_schema, project_schema

BUILT_IN = ("clarky", "garyclub", "kalent")


def test_with_the_built_in_vendors_the_validation_schemas_are_the_shipped_files():
    assert vendors.names() == BUILT_IN
    assert project_schema() == load_schema("campaignctl")
    assert manifest_schema() == load_schema("manifest")


@pytest.mark.parametrize("name", BUILT_IN)
def test_each_key_a_vendor_declares_is_in_the_shipped_schema_as_declared(name):
    spec = vendors.spec(name)
    provider = load_schema("campaignctl")["$defs"]["provider"]["properties"]
    manifest = load_schema("manifest")["$defs"]
    for key, rule in spec.config_keys.items():
        assert provider[key] == dict(rule.schema), key
    for key, fragment in (spec.sequences.keys if spec.sequences else {}).items():
        assert manifest["sequence"]["properties"][key] == dict(fragment), key
    if spec.person_ids:
        assert manifest["contact"]["properties"][spec.person_ids.contact_key] == dict(spec.person_ids.contact_schema)
    assert name in provider["type"]["enum"]


def test_every_vendor_key_in_the_shipped_schemas_belongs_to_a_vendor():
    """A sequence or provider key of the files that no spec declares would be neutral: it must be read by the core."""
    neutral_sequence = {"id", "provider", "members", "members_where", "reenroll", "on_removal", "daily_cap"}
    neutral_provider = {"type", "api_key_env", "base_url", "rate_limit", "sandbox", "timeout_seconds",
                        "status_refresh_minutes"}
    declared_sequence = {k for s in vendors.specs() if s.sequences for k in s.sequences.keys}
    declared_provider = {k for s in vendors.specs() for k in s.config_keys}
    sequence = set(load_schema("manifest")["$defs"]["sequence"]["properties"])
    provider = set(load_schema("campaignctl")["$defs"]["provider"]["properties"])
    assert sequence == neutral_sequence | declared_sequence
    assert provider == neutral_provider | declared_provider
