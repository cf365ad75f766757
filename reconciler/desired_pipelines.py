"""Manifest pipelines -> Pipeline with one Card per contact, titles filled from contact fields."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from reconciler.contact_select import select_contacts
from reconciler.errors import Problem
from reconciler.located_yaml import problem
from reconciler.manifest_refs import check_provider, declared_once, loc_of
from reconciler.model import Address, Card, Contact, Pipeline, Project
from reconciler.providers import vendors

PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")

def _render(template: str, contact: Contact, node: Any, key: str, problems: list[Problem]) -> str | None:
    """Fill {field} placeholders from the contact; a missing field is a located problem."""
    names = _placeholders(template)
    values = [contact.value(n) for n in names]
    missing = [n for n, v in zip(names, values, strict=True) if not v]
    if missing:
        problems.append(problem(node, f"contact {contact.id!r} has no {missing[0]!r} for placeholder "
                                      f"{{{missing[0]}}} in {key}", key))
        return None
    if len(names) == 1 and template == f"{{{names[0]}}}":  # the field itself: its string, not a copy
        return str(values[0])
    filled = iter(values)
    return PLACEHOLDER.sub(lambda _: str(next(filled)), template)


@lru_cache(maxsize=256)
def _placeholders(template: str) -> tuple[str, ...]:
    """The field names a title or description template names, in order (templates repeat for every card)."""
    return tuple(PLACEHOLDER.findall(template))


def build_pipelines(docs: list[Any], project: Project, contacts: dict[str, Contact],
                     problems: list[Problem]) -> list[Pipeline]:
    out: list[Pipeline] = []
    for node in declared_once(docs, "pipelines", "pipeline", problems):
        ptype = check_provider(node, project, [s.name for s in vendors.specs() if s.pipelines], "pipelines",
                               problems)
        if ptype is None:
            continue
        cards: dict[str, Card] = {}
        for spec in node.get("cards") or []:
            if "contact" in spec:
                if spec["contact"] not in contacts:
                    problems.append(problem(spec, f"unknown contact {spec['contact']!r} in pipeline {node['id']!r}",
                                            "contact"))
                    continue
                targets = [contacts[spec["contact"]]]
            else:
                targets = select_contacts(contacts, spec["for_each"])
            loc = loc_of(spec)  # one for all the cards it declares
            tags = tuple(sorted(spec.get("tags") or ()))
            for contact in targets:
                title = _render(spec["title"], contact, spec, "title", problems)
                desc = (_render(spec["description"], contact, spec, "description", problems)
                        if spec.get("description") else None)
                if title is None:
                    continue
                if contact.id in cards:
                    problems.append(problem(spec, f"contact {contact.id!r} already has a card in pipeline "
                                                  f"{node['id']!r} (declared at {cards[contact.id].loc})"))
                    continue
                cards[contact.id] = Card(
                    address=Address(node["provider"], "card", node["id"], contact.id),
                    pipeline_id=node["id"], contact_id=contact.id, stage=spec["stage"], title=title,
                    description=desc, tags=tags, loc=loc,
                )
        out.append(Pipeline(
            id=node["id"], provider=node["provider"], provider_type=ptype, pipeline=node["pipeline"],
            stage_policy=node.get("stage_policy", "initial"), prune=node.get("prune", "none"),
            cards=tuple(cards[k] for k in sorted(cards)), loc=loc_of(node),
        ))
    return out
