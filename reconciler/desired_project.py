"""campaignctl.yaml -> Project: providers with their defaults, state backend and safety limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reconciler.contact_policy.config import build_contact_policy
from reconciler.errors import Problem
from reconciler.located_yaml import problem
from reconciler.model import Project, Safety, StateSettings
from reconciler.providers import vendors
from reconciler.state_file import state_file_problem
from reconciler.urls import url_problem


def build_project(root: Path, data: dict[str, Any], problems: list[Problem]) -> Project:
    providers = {}
    for name, cfg in data["providers"].items():
        ptype = cfg["type"]
        spec = vendors.spec(ptype)
        limits = dict(spec.rate_limits)
        limits.update(cfg.get("rate_limit") or {})
        for other in vendors.specs():
            for key, rule in other.config_keys.items():
                if other is not spec and rule.exclusive and key in cfg and key not in spec.config_keys:
                    problems.append(problem(cfg, f"{key} is a {other.title} setting; provider {name!r} is {ptype}",
                                            key))
        if cfg.get("base_url") and url_problem(str(cfg["base_url"])):
            problems.append(problem(cfg, f"base_url {url_problem(str(cfg['base_url']))}", "base_url"))
        if not cfg.get("sandbox") and not cfg.get("api_key_env"):
            problems.append(problem(cfg, f"provider {name!r} needs api_key_env (or sandbox: true)"))
        providers[name] = spec.config(
            cfg,
            name=name,
            type=ptype,
            api_key_env=cfg.get("api_key_env"),
            base_url=cfg.get("base_url") or spec.base_url,
            rate_limit=tuple(sorted(limits.items())),
            sandbox=bool(cfg.get("sandbox", False)),
            timeout_seconds=float(cfg.get("timeout_seconds", 30.0)),
            status_refresh_minutes=float(cfg.get("status_refresh_minutes", 15.0)),
        )
    state = data.get("state") or {}
    safety = data.get("safety") or {}
    state_path = root / (state.get("path") or ".campaignctl/state.db")
    backend = state.get("backend", "sqlite")
    refused = state_file_problem(state_path) if backend == "sqlite" else None
    if refused:
        shown = state.get("path") or ".campaignctl/state.db"
        problems.append(problem(state, f"state.path {shown!r} {refused}", "path") if state.get("path")
                        else problem(data, f"state.path {shown!r} (the default) {refused}"))
    if backend == "postgres" and not state.get("project"):
        problems.append(problem(state, "state: backend postgres needs a `project` key (it keeps several campaigns "
                                       "directories in one database apart)"))
    settings = StateSettings(backend=backend, path=state_path, dsn_env=state.get("dsn_env", "CAMPAIGNCTL_STATE_DSN"),
                             schema=state.get("schema", "campaignctl"), project=state.get("project"))
    return Project(
        root=root,
        state=settings,
        state_path=state_path,
        providers=providers,
        ownership_tag=data.get("ownership_tag", "campaignctl"),
        safety=Safety(
            max_new_memberships_per_apply=safety.get("max_new_memberships_per_apply", 200),
            max_removal_fraction=safety.get("max_removal_fraction", 0.3),
            max_messages_per_day=safety.get("max_messages_per_day"),
        ),
        policy=build_contact_policy(root, data.get("policy"), problems),
    )
