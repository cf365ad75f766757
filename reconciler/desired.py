"""build_desired(): validated documents -> DesiredState, with the checks JSON Schema cannot make.

Duplicate ids and identities, dangling references, vendor/resource mismatches, email and E.164
syntax, each vendor's rules (its VendorSpec), placeholders: every problem is collected with its file:line and raised
once. The result is independent of file order (everything is sorted by key). Each kind of
document is built in its own module; this one assembles them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from reconciler.collector import collector_paused
from reconciler.contact_policy.config import check_sequence_references
from reconciler.contact_syntax import CANDIDATE_ID, EMAIL
from reconciler.desired_blueprints import build_blueprints
from reconciler.desired_contacts import build_contacts
from reconciler.desired_pipelines import PLACEHOLDER, build_pipelines
from reconciler.desired_project import build_project
from reconciler.desired_sequences import build_sequences
from reconciler.errors import ManifestError, Problem
from reconciler.manifest import Loaded, load_directory, raise_if_problems
from reconciler.manifest_refs import loc_of
from reconciler.model import DesiredState
from reconciler.one_send_per_person import check_one_send_per_person


def load_desired(root: Path) -> DesiredState:
    """Load, validate and build the desired state of a campaigns directory."""
    with collector_paused():
        loaded = load_directory(root)
        return build_desired(loaded)


def build_desired(loaded: Loaded) -> DesiredState:
    """Turn schema-valid documents into DesiredState; raises ManifestError with every problem."""
    problems = list(loaded.problems)
    if loaded.project is None or loaded.project.data is None:
        raise ManifestError(problems or [Problem("campaignctl.yaml", 1, 1, "project file is invalid")])
    project = build_project(loaded.root, loaded.project.data, problems)
    contacts = build_contacts(loaded, problems)
    docs = [d.data for d in loaded.manifests if isinstance(d.data, dict)]
    blueprints = build_blueprints(docs, project, problems)
    sequences = build_sequences(docs, project, contacts, {b.id: b for b in blueprints}, problems)
    check_one_send_per_person(sequences, problems)
    policy_node = loaded.project.data.get("policy")
    check_sequence_references(policy_node, {s.id for s in sequences}, problems)
    pipelines = build_pipelines(docs, project, contacts, problems)
    raise_if_problems(problems)
    return DesiredState(
        project=project,
        contacts={cid: contacts[cid] for cid in sorted(contacts)},  # no (id, contact) pair per contact
        sequences=tuple(sorted(sequences, key=lambda s: s.id)),
        pipelines=tuple(sorted(pipelines, key=lambda p: p.id)),
        blueprints=tuple(sorted(blueprints, key=lambda b: b.id)),
        # the suppression CSVs decide who is sent to: a saved plan is stale once they change
        digest=loaded.digest if not project.policy.digest else
        "sha256:" + hashlib.sha256(f"{loaded.digest}:{project.policy.digest}".encode()).hexdigest(),
    )


# EMAIL, CANDIDATE_ID, PLACEHOLDER and loc_of moved out; kept importable from here.
__all__ = [
    "CANDIDATE_ID",
    "EMAIL",
    "PLACEHOLDER",
    "ManifestError",
    "build_desired",
    "load_desired",
    "loc_of",
]
