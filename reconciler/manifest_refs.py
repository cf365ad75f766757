"""Where a manifest node was declared, and which configured provider it names (or why it cannot)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from reconciler.errors import Problem
from reconciler.located_yaml import problem, where
from reconciler.model import Loc, Project


def loc_of(node: Any, key: Any = None) -> Loc:
    return Loc(*where(node, key))

def declared_once(docs: list[Any], section: str, noun: str, problems: list[Problem]) -> Iterator[dict[str, Any]]:
    """Each node of `section` across the manifest documents, in order; a second node with an id
    already declared is reported (naming where the first one is) and skipped."""
    seen: dict[str, Loc] = {}
    for data in docs:
        for node in data.get(section) or []:
            if node["id"] in seen:
                problems.append(problem(node, f"duplicate {noun} id {node['id']!r} "
                                              f"(also declared at {seen[node['id']]})", "id"))
                continue
            seen[node["id"]] = loc_of(node)
            yield node


def check_provider(node: dict[str, Any], project: Project, allowed: Iterable[str], what: str,
                    problems: list[Problem]) -> str | None:
    """The provider type of node['provider'], or None after reporting why it cannot be used."""
    name = node["provider"]
    cfg = project.providers.get(name)
    if cfg is None:
        known = ", ".join(sorted(project.providers)) or "none"
        problems.append(problem(node, f"unknown provider {name!r} (providers in campaignctl.yaml: {known})",
                                "provider"))
        return None
    if cfg.type not in allowed:
        problems.append(problem(node, f"provider {name!r} is {cfg.type}, which has no {what}", "provider"))
        return None
    return cfg.type
