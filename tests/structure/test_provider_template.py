"""Every vendor package follows one template, and modules keep to each other's public names.

    providers/<vendor>/__init__.py   re-exports the public names, nothing else
    providers/<vendor>/provider.py   the adapter class, on providers/base.py's BaseProvider
    providers/<vendor>/_client.py    every request the vendor gets (Catalog: lookups, Writer: writes) and every
                                     request path, through _paths.seg; provider.py never uses the HTTP client
    providers/<vendor>/_mapping.py   vendor JSON -> neutral records: to_status, to_membership, to_card...
    providers/<vendor>/_read.py      the read of one run
    providers/<vendor>/discover.py   read-only discovery for `campaignctl import` (typed: test_import_is_typed.py)
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from reconciler.providers import registry
from reconciler.providers.base import BaseProvider

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "reconciler"
PROVIDERS = PACKAGE / "providers"
TEMPLATE = {"__init__.py", "provider.py", "_client.py", "_mapping.py", "_read.py", "discover.py"}
VENDORS = sorted(registry())


def _module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


@pytest.mark.parametrize("vendor", VENDORS)
def test_each_vendor_package_has_the_template_modules(vendor: str) -> None:
    files = {p.name for p in (PROVIDERS / vendor).glob("*.py")}
    assert files >= TEMPLATE, f"{vendor} lacks {sorted(TEMPLATE - files)}"


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_package_init_only_reexports(vendor: str) -> None:
    path = PROVIDERS / vendor / "__init__.py"
    tree = ast.parse(path.read_text())
    imported: set[str] = set()
    exported: list[str] | None = None
    for i, node in enumerate(tree.body):
        if i == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(f"reconciler.providers.{vendor}."):
            imported.update(alias.asname or alias.name for alias in node.names)
        elif isinstance(node, ast.Assign) and [ast.unparse(t) for t in node.targets] == ["__all__"]:
            exported = list(ast.literal_eval(node.value))
        else:
            pytest.fail(f"{path}:{node.lineno}: an __init__ only re-exports ({ast.unparse(node)[:60]!r})")
    assert exported is not None and set(exported) == imported and not any(map(_private, exported))


@pytest.mark.parametrize("vendor", VENDORS)
def test_each_adapter_is_a_base_provider_with_the_same_names_for_the_same_jobs(vendor: str) -> None:
    cls = registry()[vendor]
    assert issubclass(cls, BaseProvider) and cls.__module__ == f"reconciler.providers.{vendor}.provider"
    assert "auth_headers" in vars(cls) and "capabilities" in vars(cls)
    mapping = importlib.import_module(f"reconciler.providers.{vendor}._mapping")
    wanted = {"to_status", "to_membership", "listed_total"}
    if cls.capabilities.card_kind is not None:
        wanted |= {"to_card", "normalize_phone", "vendor_identifiers"}
    if cls.capabilities.supports_blueprints:
        wanted.add("to_blueprint")
    assert wanted <= set(vars(mapping)), f"{vendor}/_mapping.py lacks {sorted(wanted - set(vars(mapping)))}"
    assert callable(getattr(importlib.import_module(f"reconciler.providers.{vendor}._read"), "read", None))
    assert isinstance(importlib.import_module(f"reconciler.providers.{vendor}._client").Catalog, type)


def _path_fstrings(tree: ast.AST) -> list[ast.JoinedStr]:
    """f-strings that build a request path: they start with '/' or with a path constant then '/'."""
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.JoinedStr) or not node.values:
            continue
        parts = node.values
        first = parts[0]
        starts_with_slash = isinstance(first, ast.Constant) and str(first.value).startswith("/")
        starts_with_constant = (isinstance(first, ast.FormattedValue) and isinstance(first.value, ast.Name)
                                and first.value.id.isupper() and len(parts) > 1 and isinstance(parts[1], ast.Constant)
                                and str(parts[1].value).startswith("/"))
        if starts_with_slash or starts_with_constant:
            found.append(node)
    return found


def _escaped(value: ast.FormattedValue) -> bool:
    """`{seg(...)}`, or a path constant such as `{CARDS}`."""
    inner = value.value
    if isinstance(inner, ast.Name):
        return inner.id.isupper()
    return isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "seg"


def test_the_path_check_tells_an_escaped_path_from_an_unescaped_one() -> None:
    good, bad = (_path_fstrings(ast.parse(src)) for src in ('f"/a/{seg(x)}/b"; f"{CARDS}/{seg(y)}"',
                                                             'f"/candidates/{candidate_id}/dynamic-sequence"'))
    assert len(good) == 2 and all(_escaped(v) for s in good for v in s.values if isinstance(v, ast.FormattedValue))
    assert len(bad) == 1 and not all(_escaped(v) for v in bad[0].values if isinstance(v, ast.FormattedValue))


def test_every_request_path_is_built_in_a_client_module_escaping_each_value_through_seg() -> None:
    unescaped, elsewhere = [], []
    paths = 0
    for path in sorted(PROVIDERS.rglob("*.py")):
        for node in _path_fstrings(ast.parse(path.read_text(), str(path))):
            paths += 1
            where = f"{path.relative_to(REPO)}:{node.lineno}: {ast.unparse(node)}"
            if path.name != "_client.py":
                elsewhere.append(where)
            if not all(_escaped(v) for v in node.values if isinstance(v, ast.FormattedValue)):
                unescaped.append(where)
    assert paths >= 8  # the walk does see the adapters' paths
    assert unescaped == []
    assert elsewhere == []


SENDERS = ("reconciler.providers._http", "reconciler.providers._paging")  # what sends with a client in hand


def _client_calls(source: str, vendor: str) -> list[str]:
    """Where an adapter module sends a request itself: any use of a `.client` attribute other than
    handing it to a class of its vendor's `_client.py` (`Catalog(self.client)`), and any import of the
    modules that send with a client in hand."""
    tree = ast.parse(source)
    own = f"reconciler.providers.{vendor}._client"
    makers = {alias.asname or alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
              and node.module == own for alias in node.names if alias.name[:1].isupper()}
    handed = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id in makers for arg in node.args}
    found = [f"{node.lineno}: {ast.unparse(node)}" for node in ast.walk(tree)
             if isinstance(node, ast.Attribute) and node.attr == "client" and id(node) not in handed]
    found += [f"{node.lineno}: from {node.module}" for node in ast.walk(tree)
              if isinstance(node, ast.ImportFrom) and node.module in SENDERS and
              any(alias.name != "Reply" for alias in node.names)]
    return found


def test_the_client_check_finds_a_request_sent_from_an_adapter() -> None:
    head = "from reconciler.providers.v._client import Catalog, Writer\n"
    fine = head + "self.catalog = Catalog(self.client)\nself.writer = Writer(self.client)\n"
    assert _client_calls(fine, "v") == []
    sends = [head + 'self.client.write("POST", "/x", json={}, idempotent=False)\n',
             head + 'reply = self.client.get("/x")\n',
             head + "pages = list(pages_numbered(self.client, CARDS, {}))\n",
             head + "from reconciler.providers._paging import pages_numbered\n",
             "from reconciler.providers.w._client import Catalog\nself.catalog = Catalog(self.client)\n"]
    assert [len(_client_calls(src, "v")) for src in sends] == [1, 1, 1, 1, 1]


@pytest.mark.parametrize("vendor", VENDORS)
def test_the_adapter_sends_no_request_itself_its_client_module_does(vendor: str) -> None:
    path = PROVIDERS / vendor / "provider.py"
    assert _client_calls(path.read_text(), vendor) == [], f"{path.relative_to(REPO)} uses the HTTP client"


ALLOWED = {"os._exit"}  # the standard library's documented exit without cleanup (cli/signals.py)


def _reaches(name: str, path: Path) -> list[str]:
    """Where module `name` uses another module's or object's private member."""
    found = []
    tree = ast.parse(path.read_text(), str(path))
    own_classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}  # its own business
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            segments = node.module.split(".")
            for i, segment in enumerate(segments):  # a private module is its package's own business
                if _private(segment) and not (name + ".").startswith(".".join(segments[:i]) + "."):
                    found.append(f"{name}:{node.lineno}: from {node.module}")
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                # a private module or name is shared inside its package (a module's own siblings), not outside
                package = node.module if full in MODULES else node.module.rpartition(".")[0]
                if _private(alias.name) and not (name + ".").startswith(package + "."):
                    found.append(f"{name}:{node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.Attribute) and _private(node.attr):
            owner = node.value
            if isinstance(owner, ast.Name) and (owner.id in ("self", "cls") or owner.id in own_classes):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue
            if ast.unparse(node) not in ALLOWED:
                found.append(f"{name}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_the_reach_check_finds_a_reach(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("from reconciler.providers.garyclub import _map\nx = provider._contacts\nself._ok = 1\n"
                      "class Own:\n    def _m(self): ...\nhandler = Own._m\n")
    assert len(_reaches("reconciler.importer.garyclub", sample)) == 2


def test_no_module_reaches_into_another_modules_private_members() -> None:
    found = [hit for name, path in MODULES.items() for hit in _reaches(name, path)]
    assert found == []
