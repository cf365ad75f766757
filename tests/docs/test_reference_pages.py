"""docs/ stays true: every key of the project-file and manifest JSON Schemas is described in
docs/manifest.md, every page the index lists exists, every relative link resolves, and every
`campaignctl …` command in README.md and docs/ parses as written (a removed flag or command fails)."""

from __future__ import annotations

import json
import re
import shlex
import warnings
from pathlib import Path

import click
import pytest

from reconciler.cli import main
from tests.conftest import REPO

DOCS = REPO / "docs"
PAGES = sorted(DOCS.glob("*.md"))


def _property_names(node) -> set[str]:
    names: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "properties" and isinstance(value, dict):
                names.update(value)
            names |= _property_names(value)
    elif isinstance(node, list):
        for item in node:
            names |= _property_names(item)
    return names


@pytest.mark.parametrize("schema", ["campaignctl", "manifest"])
def test_the_manifest_reference_describes_every_key(schema):
    keys = _property_names(json.loads((REPO / "schemas" / f"{schema}.schema.json").read_text()))
    text = (DOCS / "manifest.md").read_text()
    missing = sorted(k for k in keys if not re.search(rf"`(?:[\w.]+\.)?{re.escape(k)}`", text))
    assert not missing, f"docs/manifest.md does not describe {missing}"


def test_the_index_lists_pages_that_exist_and_links_resolve():
    index = (DOCS / "README.md").read_text()
    for page in PAGES:
        if page.name != "README.md":
            assert f"({page.name})" in index, f"docs/README.md does not list {page.name}"
    for page in [*PAGES, REPO / "README.md"]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if not re.match(r"[a-z]+:", target):
                assert (page.parent / target).exists(), f"{page.name}: broken link {target}"


def _commands(text: str):
    """`campaignctl …` lines of fenced sh blocks, and `campaignctl …` in inline code."""
    for lang, block in re.findall(r"```(\w*)\n(.*?)```", text, re.S):   # fences pair up left to right
        if lang not in ("", "sh", "bash", "console"):
            continue
        for line in block.splitlines():
            line = line.split(" #")[0].strip().removeprefix("$ ")
            if line.startswith("campaignctl "):
                yield line
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for span in re.findall(r"`([^`]*)`", prose):       # code spans pair up left to right
        span = " ".join(span.split())
        if span.startswith("campaignctl "):
            yield span


def _parses(line: str) -> None:
    argv = shlex.split(line)[1:]
    if all(re.fullmatch(r"[a-z]+(-[a-z]+)*", a) for a in argv):   # a command's name in prose, e.g. `campaignctl import`
        group = main
        for word in argv:
            assert isinstance(group, click.Group) and word in group.commands, f"no command {line!r}"
            group = group.commands[word]
        return
    argv = [a for a in argv if a not in ("...", "…")]
    if any(re.fullmatch(r"\[.*|.*\]|\||[A-Z_]+\]?|\.\.\.", a) for a in argv):
        return   # a usage synopsis ([DIR], PROVIDER, …), not a command
    ctx = main.make_context("campaignctl", list(argv), resilient_parsing=False)
    while isinstance(ctx.command, click.Group):
        with warnings.catch_warnings():   # click 8.2 deprecates protected_args (older ones need it)
            warnings.simplefilter("ignore", DeprecationWarning)
            remaining = [*ctx.protected_args, *ctx.args]
        if not remaining:
            break
        name, cmd, rest = ctx.command.resolve_command(ctx, remaining)
        ctx = cmd.make_context(name, rest, parent=ctx)


@pytest.mark.parametrize("page", [REPO / "README.md", *PAGES], ids=lambda p: str(p.relative_to(REPO)))
def test_every_command_on_the_page_parses(page):
    found = list(_commands(page.read_text()))
    for line in found:
        try:
            _parses(line)
        except click.exceptions.Exit:
            pass
        except click.ClickException as exc:
            pytest.fail(f"{page.name}: `{line}` does not parse: {exc.format_message()}")


def test_code_cites_only_what_the_repository_holds():
    """Docstrings and comments point into docs/, not at documents outside the repository."""
    outside = re.compile(r"SPEC §|SPEC\.md|vendor_apis\.md|ARCHITECTURE\.md")
    hits = [f"{path.relative_to(REPO)}:{n}" for folder in ("reconciler", "tests", "bench")
            for path in sorted((REPO / folder).rglob("*.py")) if path != Path(__file__)
            for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1) if outside.search(line)]
    assert not hits, f"citations of documents that are not in the repository: {hits}"
