"""Streaming manifest YAML for `campaignctl import`: sections and list items are written as they
are discovered, so a large import never holds the document in memory.

Choices: block style with flow-style short lists (tags, emails), keys in manifest order, unicode
kept as is, no line wrapping (titles stay one line). Comments start with `# `.
"""

from __future__ import annotations

from typing import Any, TextIO

import yaml


class _Dumper(yaml.SafeDumper):
    """Short string lists inline; everything else block style."""


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> yaml.Node:
    flow = all(isinstance(v, str) for v in data) and sum(len(v) for v in data) < 60
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dump_item(item: dict[str, Any], indent: int) -> str:
    """One `- key: value ...` list item, indented by `indent` spaces."""
    text = yaml.dump([item], Dumper=_Dumper, default_flow_style=False, allow_unicode=True, sort_keys=False,
                     width=10_000)
    pad = " " * indent
    return "".join(pad + line if line.strip() else line for line in text.splitlines(keepends=True))


class ManifestWriter:
    """Writes one manifest document section by section."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self.items = 0

    def comment(self, text: str, indent: int = 0) -> None:
        for line in text.splitlines() or [""]:
            self.out.write(" " * indent + ("# " + line).rstrip() + "\n")

    def section(self, key: str) -> None:
        self.out.write(f"{key}:\n")

    def item(self, data: dict[str, Any], indent: int = 2) -> None:
        self.out.write(dump_item(data, indent))
        self.items += 1

    def open_item(self, head: dict[str, Any], list_key: str, indent: int = 2) -> None:
        """A list item whose last key is a list written item by item afterwards (cards, members)."""
        self.out.write(dump_item(head, indent))
        self.out.write(" " * (indent + 2) + f"{list_key}:\n")

    def value(self, value: str, indent: int = 4) -> None:
        """One scalar list item (a member id) under an open item."""
        self.out.write(" " * indent + "- " + yaml.safe_dump(value, default_style=None).split("\n")[0] + "\n")
        self.items += 1

    def flush(self) -> None:
        self.out.flush()
