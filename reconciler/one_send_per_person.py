"""Refuse one person in two manifest sequences that run the same vendor sequence."""

from __future__ import annotations

from reconciler.errors import Problem
from reconciler.model import Sequence
from reconciler.providers import vendors


def check_one_send_per_person(sequences: list[Sequence], problems: list[Problem]) -> None:
    """Two manifest sequences on one vendor sequence (what its VendorSpec's sequence target names) must
    not share a person: the vendor would run its sequence for them twice."""
    seen: dict[tuple[str, str, str], Sequence] = {}
    for seq in sorted(sequences, key=lambda s: (s.loc.file, s.loc.line, s.id)):
        rules = vendors.spec(seq.provider_type).sequences
        people = vendors.spec(seq.provider_type).person_ids
        assert rules is not None
        target = seq.target.casefold() if rules.fold_target else seq.target
        for member in seq.members:
            person = (f"{people.scheme}:{member.candidate_id}" if people and member.candidate_id
                      else f"contact:{member.contact_id}")
            first = seen.setdefault((seq.provider, target, person), seq)
            if first is seq:
                continue
            who = (f"candidate {member.candidate_id!r}" if member.candidate_id and not member.contact_id
                   else f"contact {member.contact_id!r}")
            what = rules.target_noun
            for here, there in ((seq, first), (first, seq)):
                problems.append(Problem(here.loc.file, here.loc.line, here.loc.col,
                                        f"{who} is a member of sequences {first.id!r} and {seq.id!r}, which both run "
                                        f"{seq.provider} {what} {seq.target!r}: a person is enrolled once per vendor "
                                        f"sequence; keep it in one (also declared at {there.loc})"))
