"""Shared fixtures: a scratch campaigns directory builder; a sandbox served on 127.0.0.1 (`served`) and a
webhook receiver (`receiver`) for the tests that drive the CLI over loopback HTTP (tests/drift/_support.py).
A module that needs another kind of served sandbox defines its own `served` (pytest's override)."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.drift._support import Receiver, Served, serve_sandbox

PROJECT = """\
version: 1
providers:
  clarky: {type: clarky, api_key_env: CLARKY_API_KEY, bot_id: b_01HDEF, sandbox: true}
  gary: {type: garyclub, api_key_env: GARY_API_KEY, sandbox: true}
  kalent: {type: kalent, api_key_env: KALENT_API_KEY, sandbox: true}
"""

REPO = Path(__file__).resolve().parent.parent
EXAMPLE = REPO / "campaigns"


@pytest.fixture
def make_project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """Write files into a fresh campaigns dir (cwd = its parent, so paths print as camp/x.yaml)."""
    monkeypatch.chdir(tmp_path)

    def make(files: dict[str, str | bytes], project: str | None = PROJECT) -> Path:
        root = tmp_path / "camp"
        root.mkdir(exist_ok=True)
        if project is not None:
            (root / "campaignctl.yaml").write_text(project)
        for name, content in files.items():
            path = root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                path.write_bytes(content)
            else:
                path.write_text(textwrap.dedent(content))
        return root

    return make


@pytest.fixture
def served(tmp_path: Path) -> Iterator[Served]:
    """The example's three simulators served on 127.0.0.1; `served.write(files)` makes a project on them."""
    s = serve_sandbox(tmp_path)
    yield s
    s.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on 127.0.0.1 that records what `drift --notify` posts."""
    r = Receiver()
    yield r
    r.close()
