"""Manifest blueprints -> Blueprint, with the vendor's step rules (VendorSpec.blueprints) checked and
plain step data."""

from __future__ import annotations

from typing import Any

from reconciler.errors import Problem
from reconciler.located_yaml import problem
from reconciler.manifest_refs import check_provider, declared_once, loc_of
from reconciler.model import Address, Blueprint, Project, slug
from reconciler.providers import vendors


def build_blueprints(docs: list[Any], project: Project, problems: list[Problem]) -> list[Blueprint]:
    out: list[Blueprint] = []
    for node in declared_once(docs, "blueprints", "blueprint", problems):
        ptype = check_provider(node, project, [s.name for s in vendors.specs() if s.blueprints], "blueprints",
                               problems)
        if ptype is None:
            continue
        rules = vendors.spec(ptype).blueprints
        assert rules is not None
        steps = node["steps"]
        for index, fld, message in rules.step_problems(steps):
            problems.append(problem(steps[index], f"step {index + 1}: {message}", fld))
        out.append(Blueprint(
            address=Address(node["provider"], "blueprint", slug(node["sourcing"]), node["id"]),
            id=node["id"], provider=node["provider"], sourcing=node["sourcing"], name=node["name"],
            steps=tuple(_plain(s) for s in steps), loc=loc_of(node),
        ))
    return out


def _plain(value: Any) -> Any:
    """Strip location wrappers so the model holds plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
