"""Manifest pipelines -> Pipeline with one Card per contact, titles filled from contact fields."""

from __future__ import annotations

import re
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
    missing = [n for n in PLACEHOLDER.findall(template) if not contact.value(n)]
    if missing:
        problems.append(problem(node, f"contact {contact.id!r} has no {missing[0]!r} for placeholder "
                                      f"{{{missing[0]}}} in {key}", key))
        return None
    return PLACEHOLDER.sub(lambda m: str(contact.value(m.group(1))), template)


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
            for contact in targets:
                title = _render(spec["title"], contact, spec, "title", problems)
                desc = (_render(spec["description"], contact, spec, "description", problems)
                        if spec.get("description") else None)
                if title is None:
                    continue
                loc = loc_of(spec)
                if contact.id in cards:
                    problems.append(problem(spec, f"contact {contact.id!r} already has a card in pipeline "
                                                  f"{node['id']!r} (declared at {cards[contact.id].loc})"))
                    continue
                cards[contact.id] = Card(
                    address=Address(node["provider"], "card", node["id"], contact.id),
                    pipeline_id=node["id"], contact_id=contact.id, stage=spec["stage"], title=title,
                    description=desc, tags=tuple(sorted(spec.get("tags") or ())), loc=loc,
                )
        out.append(Pipeline(
            id=node["id"], provider=node["provider"], provider_type=ptype, pipeline=node["pipeline"],
            stage_policy=node.get("stage_policy", "initial"), prune=node.get("prune", "none"),
            cards=tuple(cards[k] for k in sorted(cards)), loc=loc_of(node),
        ))
    return out
