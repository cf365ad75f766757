"""The factory that builds configured providers (real or sandbox) from the vendor registry."""

from __future__ import annotations

import dataclasses
import os
import threading
from collections.abc import Collection, Iterator, Mapping
from typing import Any

from reconciler.errors import ConfigError
from reconciler.model import Project, ProviderConfig
from reconciler.providers import vendors
from reconciler.providers._limits import least_seconds as least_seconds  # re-exported: apply's progress floor
from reconciler.providers.base import Provider
from reconciler.secrets import clean_key


class _SandboxKeys(Mapping[str, str]):
    """Vendor type -> the key its in-process sandbox accepts (reaches no vendor); follows the registry."""

    def __getitem__(self, vendor_type: str) -> str:
        spec = vendors.find(vendor_type)
        if spec is None:
            raise KeyError(vendor_type)
        return spec.sandbox_key

    def __iter__(self) -> Iterator[str]:
        return iter(vendors.names())

    def __len__(self) -> int:
        return len(vendors.names())


SANDBOX_KEYS: Mapping[str, str] = _SandboxKeys()


def registry() -> dict[str, type]:
    """vendor type -> adapter class."""
    return {spec.name: spec.provider() for spec in vendors.specs()}


def uses_sandbox(config: ProviderConfig, env: Mapping[str, str]) -> bool:
    """sandbox: true on the provider, or CAMPAIGNCTL_SANDBOX=1 for all."""
    return config.sandbox or env.get("CAMPAIGNCTL_SANDBOX", "") in ("1", "true", "yes")


def api_key(config: ProviderConfig, env: Mapping[str, str], sandbox: bool) -> str:
    """The key from the environment variable the project names; a clear error when it is missing."""
    if config.api_key_env and env.get(config.api_key_env, "").strip():
        try:
            return clean_key(config.api_key_env, env[config.api_key_env])
        except ValueError as exc:
            raise ConfigError(f"provider {config.name!r}: {exc}") from None
    if sandbox:
        return vendors.spec(config.type).sandbox_key  # the in-process sandbox's: it reaches no vendor
    if not config.api_key_env:
        raise ConfigError(f"provider {config.name!r}: no api_key_env is configured in campaignctl.yaml")
    raise ConfigError(f"provider {config.name!r}: environment variable {config.api_key_env} is not set "
                      f"(export it with the {config.type} API key)")


def unpaced(config: ProviderConfig) -> ProviderConfig:
    """The config with a budget no run can exhaust and that no vendor header narrows (in-process sandbox
    with rate limits off: it answers with its documented limit as if unused, which adopted would pace
    every run at that limit)."""
    return dataclasses.replace(config, rate_limit=(("reads_per_minute", 10**9), ("writes_per_minute", 10**9)),
                               paced=False)


def build_providers(project: Project, *, env: Mapping[str, str] | None = None, hub: Any = None,
                    transports: Mapping[str, Any] | None = None,
                    stop: threading.Event | None = None,
                    only: Collection[str] | None = None) -> tuple[dict[str, Provider], Any]:
    """Providers by name, and the in-process sandbox hub if any of them uses it (opened on demand).
    `stop`, once set, keeps every provider from sending anything more (an interrupted apply).
    `only`: build just these (the ones in use), so a configured provider nothing uses needs no key."""
    env = os.environ if env is None else env
    classes = registry()
    providers: dict[str, Provider] = {}
    for name, config in sorted(project.providers.items()):
        if only is not None and name not in only:
            continue
        sandbox = uses_sandbox(config, env)
        transport = (transports or {}).get(name)
        if sandbox and transport is None:
            if hub is None:
                from reconciler.sandbox.hub import open_project_hub

                hub = open_project_hub(project.root)
            from reconciler.sandbox.transport import SandboxTransport

            transport = SandboxTransport(hub, config.type)
            # The simulator serves the vendor's documented paths; a gateway prefix in base_url is not its.
            config = dataclasses.replace(config, base_url=vendors.spec(config.type).base_url)
            if not hub.simulators[config.type].rate_limits:
                config = unpaced(config)  # the simulator enforces no limit: do not wait for one either
        providers[name] = classes[config.type](config, api_key(config, env, sandbox), transport=transport, stop=stop)
    return providers, hub
