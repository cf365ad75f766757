"""Build DesiredState from manifest text and LiveSnapshot objects directly, for pure planner tests."""

from __future__ import annotations

import textwrap
from pathlib import Path

from reconciler.desired import load_desired
from reconciler.model import Address, DesiredState
from reconciler.snapshot import LiveCard, LiveMembership
from tests.conftest import PROJECT

CONTACTS = """
contacts:
  - {id: ana, emails: [ana@example.com], tags: [t], kalent_candidate_id: cand_1}
  - {id: bob, emails: [bob@example.com], tags: [t], kalent_candidate_id: cand_2}
  - {id: cy, emails: [cy@example.com], tags: [t], kalent_candidate_id: cand_3}
"""


def desired_from(tmp: Path, manifest: str, project: str = PROJECT) -> DesiredState:
    root = tmp / "camp"
    root.mkdir(exist_ok=True)
    (root / "campaignctl.yaml").write_text(project)
    (root / "m.yaml").write_text(textwrap.dedent(CONTACTS) + textwrap.dedent(manifest))
    return load_desired(root)


def member(seq: str, key: str, status: str, vendor: str = "", *, provider: str = "clarky", **kw) -> LiveMembership:
    addr = Address(provider, "membership", seq, key)
    return LiveMembership(address=addr, remote_id=f"enr_{key}", status=status, vendor_status=vendor or status, **kw)


def card(pipe: str, key: str, stage: str = "Lead", title: str = "T", *, tags=("campaignctl",), archived=False,
         managed=True, description=None, provider: str = "clarky") -> LiveCard:
    return LiveCard(address=Address(provider, "card", pipe, key), remote_id=f"pc_{key}", stage=stage, title=title,
                    description=description, tags=tuple(tags), archived=archived, managed=managed)
