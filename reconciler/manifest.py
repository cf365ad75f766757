"""Load a campaigns directory: the project file, every manifest and their CSV contact sources.

Everything that can go wrong with a file (unreadable, not UTF-8, empty, YAML syntax, a YAML bomb,
a schema violation, a bad CSV row) becomes a located `Problem`; all problems of all files are
collected before anything is raised, so a user fixes a directory in one pass. Reading one YAML file
is `located_yaml`, schema checks `schema_check`, CSV parsing `contacts_csv`, the secret scan
`secret_scan`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reconciler.confined import RefusedPath, read_confined
from reconciler.contacts_csv import CsvRows, parse_contacts_csv
from reconciler.errors import ConfigError, ManifestError, Problem
from reconciler.located_yaml import load_yaml_file, problem
from reconciler.schema_check import validate_schema
from reconciler.schema_vendors import manifest_schema as vendor_manifest_schema
from reconciler.schema_vendors import project_schema
from reconciler.secret_scan import secret_problems

PROJECT_FILE = "campaignctl.yaml"


@dataclass
class Document:
    """One loaded YAML file: its path (as shown in messages) and its data."""

    path: Path
    display: str
    data: Any


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
    csv_rows: list[tuple[Document, Any, CsvRows]]
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

    project = read(project_path, project_schema())
    manifest_schema = vendor_manifest_schema()
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


def read_csv_source(root: Path, doc: Document, source: Any) -> tuple[CsvRows, list[Problem], bytes]:
    """Rows of a `contact_sources` CSV, each with its line for error messages."""
    name = str(source["csv"])
    display = str(Path(doc.display).parent / name)
    if Path(name).is_absolute():
        return CsvRows(display), [problem(source, f"cannot read CSV {name}: an absolute path; write it relative to "
                                                  "this manifest, inside the campaigns directory", "csv")], b""
    try:
        raw = read_confined(root, doc.path.parent / name)
    except RefusedPath as exc:
        return CsvRows(display), [problem(source, f"cannot read CSV {name}: {exc}", "csv")], b""
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return CsvRows(display), [Problem(display, 1, 1, "CSV file is not valid UTF-8")], raw
    rows, problems = parse_contacts_csv(text, display)
    return rows, problems, raw


def raise_if_problems(problems: list[Problem]) -> None:
    """Raise one ManifestError carrying every problem, sorted."""
    if problems:
        raise ManifestError(problems)
