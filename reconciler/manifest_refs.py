"""Where a manifest node was declared, and which configured provider it names (or why it cannot)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from reconciler.errors import Problem
from reconciler.located_yaml import problem, where
from reconciler.model import Loc, Project


def loc_of(node: Any, key: Any = None) -> Loc:
    return Loc(*where(node, key))

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
