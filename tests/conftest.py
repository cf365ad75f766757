"""Shared fixtures: a scratch campaigns directory builder."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

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
