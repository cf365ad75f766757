"""The shipped JSON Schemas completed with what every registered vendor accepts.

The files in schemas/ describe the built-in vendors (editors use them); a VendorSpec holds the
schema fragments of its own keys. Validation uses the file with each registered vendor's type
added to the provider `type` enum and its keys added where the file has none, so a vendor
registered at run time is validated like a built-in one. A test keeps the files and the built-in
specs in step.
"""

from __future__ import annotations

import copy
from typing import Any

from reconciler.providers import vendors
from reconciler.schema_check import load_schema


def project_schema() -> dict[str, Any]:
    """campaignctl.schema.json, with every registered vendor's type and provider keys."""
    schema = copy.deepcopy(load_schema("campaignctl"))
    provider = schema["$defs"]["provider"]["properties"]
    provider["type"]["enum"] = list(vendors.names())
    for spec in vendors.specs():
        for key, rule in spec.config_keys.items():
            provider.setdefault(key, dict(rule.schema))
    return schema


def manifest_schema() -> dict[str, Any]:
    """manifest.schema.json, with every registered vendor's sequence keys and contact person-id key."""
    schema = copy.deepcopy(load_schema("manifest"))
    sequence = schema["$defs"]["sequence"]["properties"]
    contact = schema["$defs"]["contact"]["properties"]
    for spec in vendors.specs():
        for key, fragment in (spec.sequences.keys if spec.sequences else {}).items():
            sequence.setdefault(key, dict(fragment))
        if spec.person_ids:
            contact.setdefault(spec.person_ids.contact_key, dict(spec.person_ids.contact_schema))
    return schema
