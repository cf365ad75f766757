"""Refuse secrets written into manifests: a literal API key, or an `api_key:`-like key, anywhere."""

from __future__ import annotations

import re
from typing import Any

from reconciler.errors import Problem
from reconciler.located_yaml import problem

SECRET = re.compile(r"\b(ck|gc|cl|agent)_live_[A-Za-z0-9_]{4,}")


def secret_problems(node: Any, parent: Any = None, key: Any = None, seen: set[int] | None = None) -> list[Problem]:
    """A literal API key (ck_live_..., gc_live_..., ...) or an `api_key:` key anywhere is an error.

    A mapping or list shared through YAML aliases is scanned once (`seen`): walking the alias graph as
    a tree costs the expanded size, which a small file can make astronomically large."""
    seen = set() if seen is None else seen
    found: list[Problem] = []
    if isinstance(node, (dict, list)):
        if id(node) in seen:
            return found
        seen.add(id(node))
    if isinstance(node, dict):
        for k, v in node.items():
            if str(k).lower() in ("api_key", "apikey", "api-key", "token", "secret"):
                found.append(problem(node, f"{k}: secrets must not be written in files; set api_key_env to the name "
                                           "of an environment variable", k))
            else:
                found.extend(secret_problems(v, node, k, seen))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(secret_problems(v, node, i, seen))
    elif isinstance(node, str) and SECRET.search(node):
        found.append(problem(parent, "this value looks like a literal API key; secrets come from the environment "
                                     "only (api_key_env)", key))
    return found
