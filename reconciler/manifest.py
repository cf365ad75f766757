"""Load manifests: YAML with file:line:col on every node, JSON Schema validation, CSV contact sources.

Everything that can go wrong with a file (unreadable, not UTF-8, empty, YAML syntax, a YAML bomb,
a schema violation, a bad CSV row) becomes a located `Problem`; all problems of all files are
collected before anything is raised, so a user fixes a directory in one pass.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import jsonschema
import yaml

from reconciler.confined import RefusedPath, read_confined
from reconciler.errors import ConfigError, ManifestError, Problem

PROJECT_FILE = "campaignctl.yaml"
MAX_ALIASES = 100  # more alias uses than this in one file is treated as a YAML bomb
MAX_DEPTH = 64
MAX_MESSAGE = 300  # characters of a schema message before the offending value is shortened
MAX_ALIAS_EXPANSION = 100_000  # nodes aliases may add to a file once expanded; past it, a YAML bomb
CSV_COLUMN_ORDER = ("id", "first_name", "last_name", "email", "emails", "phone", "phone_numbers", "company",
                    "job_title", "notes", "tags", "kalent_candidate_id")
CSV_COLUMNS = frozenset(CSV_COLUMN_ORDER)
CSV_FREE_TEXT = frozenset({"notes"})  # the only column whose quoted value may span lines
FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")  # what a {placeholder} can name
SECRET = re.compile(r"\b(ck|gc|cl|agent)_live_[A-Za-z0-9_]{4,}")


class Located:
    """Mixin: where a mapping or list came from, and where each of its keys/items sits."""

    file: str
    line: int
    col: int
    positions: dict[Any, tuple[int, int]]


class LocDict(dict, Located):  # type: ignore[type-arg]
    """A YAML mapping that remembers its own position and each key's position."""


class LocList(list, Located):  # type: ignore[type-arg]
    """A YAML sequence that remembers its own position and each item's position."""


class _BombError(yaml.YAMLError):
    pass


class _LocLoader(yaml.SafeLoader):
    """SafeLoader that builds LocDict/LocList and refuses alias bombs and absurd nesting."""

    def __init__(self, stream: str, filename: str) -> None:
        super().__init__(stream)
        self.filename = filename
        self._aliases = 0
        self._depth = 0

    def compose_node(self, parent: Any, index: Any) -> Any:  # noqa: D401 - PyYAML hook
        if self.check_event(yaml.AliasEvent):
            self._aliases += 1
            if self._aliases > MAX_ALIASES:
                mark = self.peek_event().start_mark
                raise _BombError(f"more than {MAX_ALIASES} YAML aliases at line {mark.line + 1} (refusing a possible YAML bomb)")
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise _BombError(f"nesting deeper than {MAX_DEPTH} levels at line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def get_single_data(self) -> Any:
        node = self.get_single_node()
        if node is None:
            return None
        check_expansion(node)  # before constructing: what is built, and walked later, is bounded
        return self.construct_document(node)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> LocDict:  # type: ignore[override]
        self.flatten_mapping(node)
        result = LocDict()
        result.file, result.line, result.col = self.filename, node.start_mark.line + 1, node.start_mark.column + 1
        result.positions = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, yaml.ScalarNode):
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain name, not a list or mapping (a '?' complex key)",
                    key_node.start_mark)
            key = self.construct_object(key_node, deep=True)
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"mapping key {key_node.value!r} must be a string (quote it)", key_node.start_mark)
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            result[key] = self.construct_object(value_node, deep=True)
            result.positions[key] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        return result

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        """PyYAML's constructors raise plain ValueError/TypeError for some values (`2026-11-31`,
        `!!int x`): made located errors here, at the innermost node that failed."""
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as exc:
            raise yaml.constructor.ConstructorError(
                None, None, f"cannot read {node.value if isinstance(node, yaml.ScalarNode) else 'this value'!r} as "
                f"{node.tag.rsplit(':', 1)[-1]}: {exc}", node.start_mark
            ) from None

    def construct_checked_timestamp(self, node: yaml.ScalarNode) -> Any:
        """PyYAML assumes an explicit `!!timestamp` matches its pattern (AttributeError otherwise):
        checked first, so `!!timestamp x` is a located error."""
        if self.timestamp_regexp.match(str(self.construct_scalar(node))) is None:
            raise ValueError("not a YAML timestamp")
        return self.construct_yaml_timestamp(node)

    def construct_finite_float(self, node: yaml.ScalarNode) -> float:
        """.nan and .inf are refused: a NaN safety limit compares false with everything (it would
        never refuse), an infinite timeout never fires."""
        value = self.construct_yaml_float(node)
        if math.isnan(value) or math.isinf(value):
            raise yaml.constructor.ConstructorError(None, None, f"{node.value!r} is not a finite number",
                                                    node.start_mark)
        return value

    def construct_sequence(self, node: yaml.SequenceNode, deep: bool = False) -> LocList:  # type: ignore[override]
        result = LocList(self.construct_object(child, deep=True) for child in node.value)
        result.file, result.line, result.col = self.filename, node.start_mark.line + 1, node.start_mark.column + 1
        result.positions = {i: (c.start_mark.line + 1, c.start_mark.column + 1) for i, c in enumerate(node.value)}
        return result


def check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand it by more than MAX_ALIAS_EXPANSION nodes, nest it
    deeper than MAX_DEPTH once expanded, or make it recursive. Each shared node is visited once
    (sizes memoised), without recursion, so the check itself costs the file's size, not the bomb's."""
    measured: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded size, expanded depth)
    on_path = {id(root)}
    stack = [(root, iter(_children(root)))]
    while stack:
        node, pending = stack[-1]
        child = next(pending, None)
        if child is None:
            sizes = [measured[id(c)] for c in _children(node)]
            size = 1 + sum(s for s, _ in sizes)
            depth = 1 + max((d for _, d in sizes), default=0)
            line = node.start_mark.line + 1
            if depth > MAX_DEPTH:
                raise _BombError(f"nesting deeper than {MAX_DEPTH} levels once aliases are expanded (line {line})")
            if size - len(measured) > MAX_ALIAS_EXPANSION:
                raise _BombError(f"YAML aliases expand this file by more than {MAX_ALIAS_EXPANSION:,} values "
                                 f"(line {line}; refusing a possible YAML bomb)")
            measured[id(node)] = (size, depth)
            on_path.discard(id(node))
            stack.pop()
            continue
        if id(child) in measured:
            continue
        if id(child) in on_path:
            raise _BombError(f"a YAML alias refers to a node that contains it (line {child.start_mark.line + 1})")
        on_path.add(id(child))
        stack.append((child, iter(_children(child))))


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.MappingNode):
        return [n for pair in node.value for n in pair]
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    return []


_LocLoader.add_constructor("tag:yaml.org,2002:map", _LocLoader.construct_mapping)
_LocLoader.add_constructor("tag:yaml.org,2002:float", _LocLoader.construct_finite_float)
_LocLoader.add_constructor("tag:yaml.org,2002:timestamp", _LocLoader.construct_checked_timestamp)
_LocLoader.add_constructor("tag:yaml.org,2002:seq", _LocLoader.construct_sequence)


@dataclass
class Document:
    """One loaded YAML file: its path (as shown in messages) and its data."""

    path: Path
    display: str
    data: Any


def where(node: Any, key: Any = None) -> tuple[str, int, int]:
    """file, line, col of `node` (or of `node[key]`'s key) for error messages."""
    if isinstance(node, Located):
        if key is not None and key in node.positions:
            line, col = node.positions[key]
            return node.file, line, col
        return node.file, node.line, node.col
    return "?", 0, 0


def problem(node: Any, message: str, key: Any = None) -> Problem:
    """A Problem located at `node` (or its key)."""
    file, line, col = where(node, key)
    return Problem(file, line, col, message)


def load_yaml_file(path: Path, display: str, raw: bytes | None = None) -> tuple[Any, list[Problem]]:
    """Parse one YAML file (its bytes `raw`, or read from `path`); every failure is a located Problem."""
    if raw is None:
        try:
            raw = path.read_bytes()
        except OSError as exc:
            return None, [Problem(display, 1, 1, f"cannot read file: {exc.strerror or exc}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, [Problem(display, line, 1, f"file is not valid UTF-8 (byte 0x{raw[exc.start]:02x})")]
    if not text.strip() or all(ln.strip().startswith("#") or not ln.strip() for ln in text.splitlines()):
        return None, [Problem(display, 1, 1, "file is empty")]
    try:
        loader = _LocLoader(text, display)  # the reader refuses control characters here, before parsing
    except yaml.reader.ReaderError as exc:
        at = exc.position if isinstance(exc.position, int) else 0
        line = text.count("\n", 0, at) + 1
        col = at - (text.rfind("\n", 0, at) + 1) + 1
        return None, [Problem(display, line, col, f"YAML error: character U+{exc.character:04X} is not allowed "
                              "in YAML (a control character)" if isinstance(exc.character, int) else f"YAML error: {exc}")]
    try:
        data = loader.get_single_data()
    except _BombError as exc:
        return None, [Problem(display, 1, 1, str(exc))]
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        msg = exc.problem or str(exc)
        if exc.context:
            msg = f"{exc.context}: {msg}" if exc.problem else exc.context
        return None, [Problem(display, line, col, f"YAML syntax error: {msg}")]
    except yaml.YAMLError as exc:
        return None, [Problem(display, 1, 1, f"YAML error: {exc}")]
    except RecursionError:
        return None, [Problem(display, 1, 1, "YAML nesting too deep")]
    finally:
        loader.dispose()
    if data is None:
        return None, [Problem(display, 1, 1, "file is empty")]
    return data, []


def schema_dir() -> Path:
    """Where the JSON Schemas are: inside the package in any built install (setup.py copies them
    there), else the checkout's top-level schemas/ (an editable install, where editors use them)."""
    here = Path(__file__).resolve().parent
    shipped = here / "schemas"
    return shipped if shipped.is_dir() else here.parent / "schemas"


def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped with campaignctl (campaignctl or manifest)."""
    return json.loads((schema_dir() / f"{name}.schema.json").read_text(encoding="utf-8"))


def _node_at(doc: Any, path: Iterator[Any] | list[Any]) -> tuple[Any, Any]:
    """Walk `path` from `doc`; return (deepest located container, last key inside it)."""
    node, key = doc, None
    for part in path:
        if isinstance(node, (dict, list)):
            try:
                child = node[part]
            except (KeyError, IndexError, TypeError):
                break
            if isinstance(child, Located):
                node, key = child, None
            else:
                key = part
                break
    return node, key


def _schema_message(err: jsonschema.ValidationError) -> str:
    path = ".".join(str(p) for p in err.absolute_path)
    message = err.message
    if len(message) > MAX_MESSAGE:  # jsonschema quotes the whole offending value; a list can be megabytes
        shown = repr(err.instance)
        message = message.replace(shown, shown[:60] + "…") if shown in message else message[:MAX_MESSAGE] + "…"
    if err.validator == "additionalProperties":
        extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
        return f"{path + ': ' if path else ''}unknown key {', '.join(repr(e) for e in extra)}"
    if err.validator == "required":
        return f"{path + ': ' if path else ''}{message}"
    return f"{path}: {message}" if path else message


def validate_schema(doc: Any, schema: dict[str, Any], display: str) -> list[Problem]:
    """All schema violations of `doc`, each located at the offending key."""
    validator = jsonschema.Draft202012Validator(schema)
    problems = []
    for err in validator.iter_errors(doc):
        node, key = _node_at(doc, list(err.absolute_path))
        if key is None and err.absolute_path and isinstance(node, Located):
            key = err.absolute_path[-1] if err.absolute_path[-1] in node.positions else None
        if err.validator == "additionalProperties" and isinstance(node, Located):
            extra = sorted(set(err.instance) - set(err.schema.get("properties", {})))
            key = extra[0] if extra else None
        file, line, col = where(node, key) if isinstance(node, Located) else (display, 1, 1)
        problems.append(Problem(file, line, col, _schema_message(err)))
    return problems


def discover(root: Path) -> tuple[Path, list[Path]]:
    """The project file and every manifest under `root`, sorted; dot-directories are skipped."""
    if not root.is_dir():
        raise ConfigError(f"{root}: not a directory (expected a campaigns directory with {PROJECT_FILE})")
    project = root / PROJECT_FILE
    if not (project.exists() or project.is_symlink()):
        raise ConfigError(f"{root}: no {PROJECT_FILE} here (is this the campaigns directory?)")
    manifests = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        # Links and special files are listed too, so that reading them reports why they are refused.
        if path.suffix in (".yaml", ".yml") and (path.is_symlink() or not path.is_dir()) and path != project:
            manifests.append(path)
    return project, manifests


@dataclass
class Loaded:
    """Everything read from a campaigns directory, validated against the schemas."""

    root: Path
    project: Document | None
    manifests: list[Document]
    csv_rows: list[tuple[Document, Any, list[dict[str, Any]]]]
    problems: list[Problem]
    digest: str


def load_directory(root: Path) -> Loaded:
    """Read the project file, manifests and CSV sources; schema-validate; collect all problems."""
    root = root.resolve() if not root.is_absolute() else root
    project_path, manifest_paths = discover(root)
    hasher = hashlib.sha256()
    problems: list[Problem] = []

    def disp(p: Path) -> str:
        try:
            return str(p.relative_to(Path.cwd()))
        except ValueError:
            return str(p)

    def read(path: Path, schema: dict[str, Any]) -> Document | None:
        display = disp(path)
        hasher.update(str(path.relative_to(root)).encode() + b"\0")
        try:
            raw = read_confined(root, path)
        except RefusedPath as exc:
            problems.append(Problem(display, 1, 1, f"cannot read file: {exc}"))
            return None
        hasher.update(raw + b"\0")
        data, errs = load_yaml_file(path, display, raw)
        problems.extend(errs)
        if data is None:
            return None
        secrets = secret_problems(data)
        problems.extend(secrets)
        errs = validate_schema(data, schema, display)
        problems.extend(errs)
        return Document(path, display, data) if not errs else Document(path, display, None)

    project = read(project_path, load_schema("campaignctl"))
    manifest_schema = load_schema("manifest")
    manifests = [d for d in (read(p, manifest_schema) for p in manifest_paths) if d is not None]
    csv_rows = []
    for doc in manifests:
        if not isinstance(doc.data, dict):
            continue
        for source in doc.data.get("contact_sources") or []:
            rows, errs, raw = read_csv_source(root, doc, source)
            problems.extend(errs)
            hasher.update(raw + b"\0")
            csv_rows.append((doc, source, rows))
    return Loaded(root, project, manifests, csv_rows, problems, "sha256:" + hasher.hexdigest())


def read_csv_source(root: Path, doc: Document, source: Any) -> tuple[list[dict[str, Any]], list[Problem], bytes]:
    """Rows of a `contact_sources` CSV, each with `__file__`/`__line__` for error messages."""
    name = str(source["csv"])
    if Path(name).is_absolute():
        return [], [problem(source, f"cannot read CSV {name}: an absolute path; write it relative to this "
                                    "manifest, inside the campaigns directory", "csv")], b""
    display = str(Path(doc.display).parent / name)
    try:
        raw = read_confined(root, doc.path.parent / name)
    except RefusedPath as exc:
        return [], [problem(source, f"cannot read CSV {name}: {exc}", "csv")], b""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return [], [Problem(display, 1, 1, "CSV file is not valid UTF-8")], raw
    rows, problems = parse_contacts_csv(text, display)
    return rows, problems, raw


def parse_contacts_csv(text: str, display: str) -> tuple[list[dict[str, Any]], list[Problem]]:
    """Rows of a contacts CSV keyed by its header, each with `__file__`/`__line__`; or located problems.

    Strict on purpose: one unclosed quote otherwise swallows every later row into one field (the
    'missing' contacts would then be planned for removal), so a line break is accepted only inside a
    free-text column, and a quoting error stops the file with its line."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next((r for r in reader if r), None)
    except csv.Error as exc:
        return [], [Problem(display, reader.line_num or 1, 1, f"CSV syntax error in the header row: {exc}")]
    if header is None:
        return [], [Problem(display, 1, 1, "CSV file is empty (expected a header row)")]
    header_line = reader.line_num
    names = [h.strip() for h in header]
    problems = _header_problems(names, display, header_line)
    if problems:
        return [], problems
    rows: list[dict[str, Any]] = []
    while True:
        start = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            problems.append(Problem(display, start, 1, f"CSV syntax error: {exc} (an unclosed quote?); "
                                                       "rows from here on are not read"))
            break
        if not row:
            continue
        if len(row) > len(names):
            problems.append(Problem(display, start, 1, "row has more fields than the header"))
            continue
        values = dict(zip(names, (v.strip() for v in row)))
        if reader.line_num > start:
            spans = _spanning_problem(values, len(names), start, reader.line_num)
            if spans:
                problems.append(Problem(display, start, 1, spans))
                continue
        values.update({"__file__": display, "__line__": start})
        rows.append(values)
    return rows, problems


def _header_problems(names: list[str], display: str, line: int) -> list[Problem]:
    """A missing header, unnamed, duplicate or unknown columns: each at the header's line."""
    def at(col: int, message: str) -> Problem:
        return Problem(display, line, col, message)

    if not {"email", "emails", "phone", "phone_numbers"} & set(names):
        return [at(1, "the header row names no email or phone column (is the header row missing? the first "
                      f"row must name the columns: {', '.join(CSV_COLUMN_ORDER)})")]
    problems = []
    first: dict[str, int] = {}
    for index, name in enumerate(names, start=1):
        if not name:
            problems.append(at(index, f"column {index} has no name in the header row"))
        elif name in first:
            problems.append(at(index, f"duplicate column {name!r} in the header row "
                                      f"(columns {first[name]} and {index})"))
        elif name not in CSV_COLUMNS and (not FIELD_NAME.match(name) or name.lower() in CSV_COLUMNS
                                          or name.startswith("__")):
            problems.append(at(index, f"unknown column {name!r}: known columns are {', '.join(CSV_COLUMN_ORDER)}; "
                                      "any other column is a {placeholder} field named with letters, digits and _"))
        first.setdefault(name, index)
    return problems


def _spanning_problem(values: dict[str, str], width: int, start: int, end: int) -> str | None:
    """Why a row whose quoted field spans lines `start`..`end` is refused, or None when it may."""
    for column, value in values.items():
        if "\n" not in value and "\r" not in value:
            continue
        if column not in CSV_FREE_TEXT:
            return (f"a quoted field in column {column!r} spans lines {start}-{end} (an unclosed quote?); "
                    f"only {', '.join(sorted(CSV_FREE_TEXT))} may hold line breaks")
        if any(line.count(",") >= width - 1 for line in value.splitlines()[1:]):
            return (f"column {column!r} spans lines {start}-{end} and holds what look like other rows "
                    "(an unclosed quote?)")
    return None


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
                found.append(problem(node, f"{k}: secrets must not be written in files; set api_key_env to the name of an environment variable", k))
            else:
                found.extend(secret_problems(v, node, k, seen))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            found.extend(secret_problems(v, node, i, seen))
    elif isinstance(node, str) and SECRET.search(node):
        found.append(problem(parent, "this value looks like a literal API key; secrets come from the environment only (api_key_env)", key))
    return found


def raise_if_problems(problems: list[Problem]) -> None:
    """Raise one ManifestError carrying every problem, sorted."""
    if problems:
        raise ManifestError(problems)
