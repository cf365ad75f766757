"""Refuse one person in two manifest sequences that run the same vendor sequence."""

from __future__ import annotations

from reconciler.errors import Problem
from reconciler.model import Sequence


def check_one_send_per_person(sequences: list[Sequence], problems: list[Problem]) -> None:
    """Two manifest sequences on one vendor sequence (Clarky template, Gary sequence, Kalent blueprint)
    must not share a person: the vendor would run its sequence for them twice."""
    seen: dict[tuple[str, str, str], Sequence] = {}
    for seq in sorted(sequences, key=lambda s: (s.loc.file, s.loc.line, s.id)):
        target = seq.target.casefold() if seq.provider_type == "garyclub" else seq.target
        for member in seq.members:
            person = f"kalent:{member.candidate_id}" if member.candidate_id else f"contact:{member.contact_id}"
            first = seen.setdefault((seq.provider, target, person), seq)
            if first is seq:
                continue
            who = (f"candidate {member.candidate_id!r}" if member.candidate_id and not member.contact_id
                   else f"contact {member.contact_id!r}")
            what = {"clarky": "template", "garyclub": "sequence", "kalent": "blueprint"}[seq.provider_type]
            for here, there in ((seq, first), (first, seq)):
                problems.append(Problem(here.loc.file, here.loc.line, here.loc.col,
                                        f"{who} is a member of sequences {first.id!r} and {seq.id!r}, which both run "
                                        f"{seq.provider} {what} {seq.target!r}: a person is enrolled once per vendor "
                                        f"sequence; keep it in one (also declared at {there.loc})"))
