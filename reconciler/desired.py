"""build_desired(): validated documents -> DesiredState, with the checks JSON Schema cannot make.

Duplicate ids and identities, dangling references, vendor/resource mismatches, email and E.164
syntax, Kalent step rules, placeholders: every problem is collected with its file:line and raised
once. The result is independent of file order (everything is sorted by key).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Iterable

from reconciler.contacts_csv import CSV_COLUMNS
from reconciler.errors import ManifestError, Problem
from reconciler.identity import canonical_email, canonical_phone, clean, is_e164, shown
from reconciler.kalent_rules import step_problems
from reconciler.located_yaml import problem, where
from reconciler.manifest import Loaded, load_directory, raise_if_problems
from reconciler.model import (
    DEFAULT_BASE_URLS,
    DEFAULT_RATE_LIMITS,
    Address,
    Blueprint,
    Card,
    Contact,
    DesiredState,
    Loc,
    Membership,
    Pipeline,
    Project,
    ProviderConfig,
    Safety,
    Sequence,
    StateSettings,
    slug,
)
from reconciler.state_file import state_file_problem
from reconciler.urls import url_problem

# Characters an address (`provider.kind[group][key]`, where a default contact id is its email) or a
# mail header cannot carry, besides '@' and whitespace: brackets, angle brackets, quotes, list
# separators, backslash and control characters. Non-ASCII letters are fine.
_NOT_IN_EMAIL = r"@\s\[\]<>()\",;:\\\x00-\x1f\x7f-\x9f"
EMAIL = re.compile(rf"^[^{_NOT_IN_EMAIL}]+@[^{_NOT_IN_EMAIL}]+\.[^{_NOT_IN_EMAIL}.]+$")
CANDIDATE_ID = re.compile(r"^[^\s\[\]\x00-\x1f\x7f-\x9f]+$")
PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def loc_of(node: Any, key: Any = None) -> Loc:
    return Loc(*where(node, key))


def load_desired(root: Path) -> DesiredState:
    """Load, validate and build the desired state of a campaigns directory."""
    loaded = load_directory(root)
    return build_desired(loaded)


def build_desired(loaded: Loaded) -> DesiredState:
    """Turn schema-valid documents into DesiredState; raises ManifestError with every problem."""
    problems = list(loaded.problems)
    if loaded.project is None or loaded.project.data is None:
        raise_if_problems(problems or [Problem("campaignctl.yaml", 1, 1, "project file is invalid")])
    project = _build_project(loaded.root, loaded.project.data, problems)
    contacts = _build_contacts(loaded, problems)
    docs = [d.data for d in loaded.manifests if isinstance(d.data, dict)]
    blueprints = _build_blueprints(docs, project, problems)
    sequences = _build_sequences(docs, project, contacts, {b.id: b for b in blueprints}, problems)
    _check_one_send_per_person(sequences, problems)
    pipelines = _build_pipelines(docs, project, contacts, problems)
    raise_if_problems(problems)
    return DesiredState(
        project=project,
        contacts=dict(sorted(contacts.items())),
        sequences=tuple(sorted(sequences, key=lambda s: s.id)),
        pipelines=tuple(sorted(pipelines, key=lambda p: p.id)),
        blueprints=tuple(sorted(blueprints, key=lambda b: b.id)),
        digest=loaded.digest,
    )


def _build_project(root: Path, data: dict[str, Any], problems: list[Problem]) -> Project:
    providers = {}
    for name, cfg in data["providers"].items():
        ptype = cfg["type"]
        limits = dict(DEFAULT_RATE_LIMITS[ptype])
        limits.update(cfg.get("rate_limit") or {})
        if ptype != "clarky" and "bot_id" in cfg:
            problems.append(problem(cfg, f"bot_id is a Clarky setting; provider {name!r} is {ptype}", "bot_id"))
        if ptype != "garyclub" and "client_id" in cfg:
            problems.append(problem(cfg, f"client_id is a Gary Club setting; provider {name!r} is {ptype}", "client_id"))
        if cfg.get("base_url") and url_problem(str(cfg["base_url"])):
            problems.append(problem(cfg, f"base_url {url_problem(str(cfg['base_url']))}", "base_url"))
        if not cfg.get("sandbox") and not cfg.get("api_key_env"):
            problems.append(problem(cfg, f"provider {name!r} needs api_key_env (or sandbox: true)"))
        providers[name] = ProviderConfig(
            name=name,
            type=ptype,
            api_key_env=cfg.get("api_key_env"),
            base_url=cfg.get("base_url") or DEFAULT_BASE_URLS[ptype],
            bot_id=cfg.get("bot_id"),
            client_id=cfg.get("client_id"),
            rate_limit=tuple(sorted(limits.items())),
            sandbox=bool(cfg.get("sandbox", False)),
            timeout_seconds=float(cfg.get("timeout_seconds", 30.0)),
            status_refresh_minutes=float(cfg.get("status_refresh_minutes", 15.0)),
            start_settle_minutes=float(cfg.get("start_settle_minutes", 10.0)),
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
        ),
    )


def _contact_from(raw: dict[str, Any], loc: Loc, problems: list[Problem], node: Any = None) -> Contact | None:
    """Check emails/phones and build a Contact; problems are located at `loc` or `node`."""

    def report(message: str, key: str | None = None) -> None:
        problems.append(problem(node, message, key) if node is not None else Problem(loc.file, loc.line, loc.col, message))

    # Zero-width characters, surrounding space and Unicode forms never make two addresses of one;
    # phones are kept in E.164 whatever separators were typed.
    emails = _unique(clean(e) for e in raw.get("emails") or () if clean(str(e)))
    phones = _unique(canonical_phone(p) for p in raw.get("phone_numbers") or () if clean(str(p)))
    ok = True
    for email in emails:
        if not EMAIL.match(email):
            report(f"invalid email address {email!r}", "emails")
            ok = False
    for phone in phones:
        if not is_e164(phone):
            report(f"phone number {phone!r} is not E.164 (like +34911234567)", "phone_numbers")
            ok = False
    if not emails and not phones:
        report("a contact needs at least one email or phone number")
        ok = False
    candidate = raw.get("kalent_candidate_id")
    if candidate and not CANDIDATE_ID.match(str(candidate)):
        report(f"candidate id {candidate!r} holds a space, bracket or control character", "kalent_candidate_id")
        ok = False
    if not ok:
        return None
    cid = raw.get("id") or (emails[0].lower() if emails else phones[0])
    return Contact(
        id=cid,
        first_name=raw.get("first_name") or None,
        last_name=raw.get("last_name") or None,
        emails=emails,
        phone_numbers=phones,
        company=raw.get("company") or None,
        job_title=raw.get("job_title") or None,
        notes=raw.get("notes") or None,
        tags=tuple(sorted(set(raw.get("tags") or ()))),
        kalent_candidate_id=clean(str(raw["kalent_candidate_id"])) or None if raw.get("kalent_candidate_id") else None,
        fields=tuple(sorted((k, str(v)) for k, v in (raw.get("fields") or {}).items())),
        loc=loc,
    )


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    """Values in order, each once by its canonical form (`A@x.com` after `a@x.com` is the same address)."""
    out: dict[str, str] = {}
    for value in values:
        out.setdefault(canonical_email(value) if "@" in value else value, value)
    return tuple(out.values())


def _csv_contact(row: dict[str, Any], source: dict[str, Any], problems: list[Problem]) -> Contact | None:
    loc = Loc(row["__file__"], row["__line__"], 1)

    def split(*names: str) -> list[str]:
        values: list[str] = []
        for name in names:
            values += [v.strip() for v in (row.get(name) or "").split(";") if v.strip()]
        return values

    raw = {k: v for k, v in row.items() if k in CSV_COLUMNS and v}
    raw["emails"] = split("email", "emails")
    raw["phone_numbers"] = split("phone", "phone_numbers")
    raw["tags"] = split("tags") + list(source.get("tags") or [])
    raw["fields"] = {k: v for k, v in row.items() if k not in CSV_COLUMNS and not k.startswith("__") and v}
    if raw.get("id") and not re.match(r"^[a-z0-9][a-z0-9._@+-]*$", raw["id"]):
        problems.append(Problem(loc.file, loc.line, 1, f"id {raw['id']!r} must be lower-case letters, digits, '-', '_', '.', '@', '+'"))
        return None
    return _contact_from(raw, loc, problems)


def _build_contacts(loaded: Loaded, problems: list[Problem]) -> dict[str, Contact]:
    found: list[Contact] = []
    for doc in loaded.manifests:
        if isinstance(doc.data, dict):
            for raw in doc.data.get("contacts") or []:
                contact = _contact_from(raw, loc_of(raw), problems, raw)
                if contact:
                    found.append(contact)
    for _doc, source, rows in loaded.csv_rows:
        for row in rows:
            contact = _csv_contact(row, source, problems)
            if contact:
                found.append(contact)
    by_id: dict[str, Contact] = {}
    by_identifier: dict[str, Contact] = {}
    for contact in sorted(found, key=lambda c: (c.loc.file, c.loc.line)):
        first = by_id.get(contact.id)
        if first is not None:
            _both(problems, contact, first, f"duplicate contact id {contact.id!r}")
            continue
        by_id[contact.id] = contact
        # A person is every identifier they have: one shared identifier makes two contacts one person,
        # whom vendors would enroll twice (Clarky upserts both starts onto one contact).
        for ident in contact.identifiers:
            first = by_identifier.setdefault(ident, contact)
            if first is not contact:
                _both(problems, contact, first, f"contacts {first.id!r} and {contact.id!r} share the {shown(ident)}; "
                                                "one person must be one contact")
    return by_id


def _both(problems: list[Problem], one: Contact, other: Contact, message: str) -> None:
    """The same problem at both places, each naming the other."""
    for here, there in ((one, other), (other, one)):
        problems.append(Problem(here.loc.file, here.loc.line, here.loc.col, f"{message} (also declared at {there.loc})"))


def _select(contacts: dict[str, Contact], selector: dict[str, Any]) -> list[Contact]:
    """Manifest contacts matching a tags selector."""
    all_ = set(selector.get("tags_all") or ())
    any_ = set(selector.get("tags_any") or ())
    none = set(selector.get("tags_none") or ())
    out = []
    for contact in contacts.values():
        tags = set(contact.tags)
        if all_ <= tags and (not any_ or tags & any_) and not (tags & none):
            out.append(contact)
    return out


def _check_provider(node: dict[str, Any], project: Project, allowed: Iterable[str], what: str,
                    problems: list[Problem]) -> str | None:
    """The provider type of node['provider'], or None after reporting why it cannot be used."""
    name = node["provider"]
    cfg = project.providers.get(name)
    if cfg is None:
        known = ", ".join(sorted(project.providers)) or "none"
        problems.append(problem(node, f"unknown provider {name!r} (providers in campaignctl.yaml: {known})", "provider"))
        return None
    if cfg.type not in allowed:
        problems.append(problem(node, f"provider {name!r} is {cfg.type}, which has no {what}", "provider"))
        return None
    return cfg.type


SEQUENCE_FIELDS = {
    "clarky": ({"template"}, {"sequence", "metadata", "blueprint", "sourcing", "candidates"}),
    "garyclub": ({"sequence"}, {"template", "auto_approve", "bot_id", "name", "blueprint", "sourcing", "candidates"}),
    "kalent": ({"blueprint"}, {"template", "auto_approve", "bot_id", "name", "sequence", "metadata"}),
}


def _build_sequences(docs: list[Any], project: Project, contacts: dict[str, Contact],
                     blueprints: dict[str, Blueprint], problems: list[Problem]) -> list[Sequence]:
    out: list[Sequence] = []
    seen: dict[str, Loc] = {}
    for data in docs:
        for node in data.get("sequences") or []:
            loc = loc_of(node)
            if node["id"] in seen:
                problems.append(problem(node, f"duplicate sequence id {node['id']!r} (also declared at {seen[node['id']]})", "id"))
                continue
            seen[node["id"]] = loc
            ptype = _check_provider(node, project, ("clarky", "garyclub", "kalent"), "sequences", problems)
            if ptype is None:
                continue
            required, forbidden = SEQUENCE_FIELDS[ptype]
            bad = False
            for key in sorted(required - set(node)):
                problems.append(problem(node, f"a {ptype} sequence needs {key}:"))
                bad = True
            for key in sorted(forbidden & set(node)):
                problems.append(problem(node, f"{key}: is not a {ptype} sequence setting", key))
                bad = True
            if bad:
                continue
            sourcing = node.get("sourcing")
            if ptype == "kalent":
                declared = blueprints.get(node["blueprint"])
                if declared:
                    if sourcing and sourcing != declared.sourcing:
                        problems.append(problem(node, f"sourcing {sourcing!r} differs from blueprint {declared.id!r}'s sourcing {declared.sourcing!r}", "sourcing"))
                    sourcing = declared.sourcing
                elif not sourcing:
                    problems.append(problem(node, "a kalent sequence needs sourcing: (or a blueprint declared in this project)"))
                    continue
            members = _resolve_members(node, ptype, contacts, problems)
            if members is None:
                continue
            out.append(Sequence(
                id=node["id"],
                provider=node["provider"],
                provider_type=ptype,
                target=node[{"clarky": "template", "garyclub": "sequence", "kalent": "blueprint"}[ptype]],
                sourcing=sourcing,
                bot_id=node.get("bot_id"),
                name=node.get("name"),
                auto_approve=bool(node.get("auto_approve", False)),
                reenroll=node.get("reenroll", "never"),
                on_removal=node.get("on_removal", "report"),
                daily_cap=node.get("daily_cap"),
                metadata=tuple(sorted((node.get("metadata") or {}).items())),
                members=tuple(Membership(Address(node["provider"], "membership", node["id"], key), node["id"], cid, cand)
                              for key, (cid, cand) in sorted(members.items())),
                loc=loc,
            ))
    return out


def _check_one_send_per_person(sequences: list[Sequence], problems: list[Problem]) -> None:
    """Two manifest sequences on one vendor sequence (Clarky template, Gary sequence, Kalent blueprint)
    must not share a person: the vendor would run its sequence for them twice."""
    seen: dict[tuple[str, str, str], Sequence] = {}
    for seq in sorted(sequences, key=lambda s: (s.loc.file, s.loc.line, s.id)):
        target = seq.target.casefold() if seq.provider_type == "garyclub" else seq.target
        for member in seq.members:
            person = f"kalent:{member.candidate_id}" if member.candidate_id else f"contact:{member.contact_id}"
            first = seen.setdefault((seq.provider, target, person), seq)
            if first is seq:
                continue
            who = (f"candidate {member.candidate_id!r}" if member.candidate_id and not member.contact_id
                   else f"contact {member.contact_id!r}")
            what = {"clarky": "template", "garyclub": "sequence", "kalent": "blueprint"}[seq.provider_type]
            for here, there in ((seq, first), (first, seq)):
                problems.append(Problem(here.loc.file, here.loc.line, here.loc.col,
                                        f"{who} is a member of sequences {first.id!r} and {seq.id!r}, which both run "
                                        f"{seq.provider} {what} {seq.target!r}: a person is enrolled once per vendor "
                                        f"sequence; keep it in one (also declared at {there.loc})"))


def _resolve_members(node: dict[str, Any], ptype: str, contacts: dict[str, Contact],
                     problems: list[Problem]) -> dict[str, tuple[str | None, str | None]] | None:
    """address key -> (contact id, candidate id); None when a reference is broken."""
    chosen: dict[str, Contact] = {}
    ok = True
    members = node.get("members") or []
    for i, cid in enumerate(members):
        if cid not in contacts:
            problems.append(problem(members, f"unknown contact {cid!r} in members of sequence {node['id']!r}", i))
            ok = False
        else:
            chosen[cid] = contacts[cid]
    if node.get("members_where"):
        for contact in _select(contacts, node["members_where"]):
            chosen[contact.id] = contact
    out: dict[str, tuple[str | None, str | None]] = {}
    by_candidate: dict[str, str] = {}
    for cid, contact in chosen.items():
        if ptype == "kalent":
            if not contact.kalent_candidate_id:
                key = "members" if cid in members else "members_where"
                problems.append(problem(node, f"contact {cid!r} has no kalent_candidate_id, so it cannot join kalent sequence {node['id']!r}", key))
                ok = False
                continue
            by_candidate[contact.kalent_candidate_id] = cid
        out[cid] = (cid, contact.kalent_candidate_id if ptype == "kalent" else None)
    candidates = node.get("candidates") or []
    for i, cand in enumerate(candidates):
        if not CANDIDATE_ID.match(cand):  # it would be the key of an address, which must read back
            problems.append(problem(candidates, f"candidate id {cand!r} holds a space, bracket or control character",
                                    i))
            ok = False
        elif cand not in by_candidate:  # a candidate also reached through a contact is one member
            out[cand] = (None, cand)
    return out if ok else None


def _render(template: str, contact: Contact, node: Any, key: str, problems: list[Problem]) -> str | None:
    """Fill {field} placeholders from the contact; a missing field is a located problem."""
    missing = [n for n in PLACEHOLDER.findall(template) if not contact.value(n)]
    if missing:
        problems.append(problem(node, f"contact {contact.id!r} has no {missing[0]!r} for placeholder {{{missing[0]}}} in {key}", key))
        return None
    return PLACEHOLDER.sub(lambda m: str(contact.value(m.group(1))), template)


def _build_pipelines(docs: list[Any], project: Project, contacts: dict[str, Contact],
                     problems: list[Problem]) -> list[Pipeline]:
    out: list[Pipeline] = []
    seen: dict[str, Loc] = {}
    for data in docs:
        for node in data.get("pipelines") or []:
            if node["id"] in seen:
                problems.append(problem(node, f"duplicate pipeline id {node['id']!r} (also declared at {seen[node['id']]})", "id"))
                continue
            seen[node["id"]] = loc_of(node)
            ptype = _check_provider(node, project, ("clarky", "garyclub"), "pipelines", problems)
            if ptype is None:
                continue
            cards: dict[str, Card] = {}
            for spec in node.get("cards") or []:
                if "contact" in spec:
                    if spec["contact"] not in contacts:
                        problems.append(problem(spec, f"unknown contact {spec['contact']!r} in pipeline {node['id']!r}", "contact"))
                        continue
                    targets = [contacts[spec["contact"]]]
                else:
                    targets = _select(contacts, spec["for_each"])
                for contact in targets:
                    title = _render(spec["title"], contact, spec, "title", problems)
                    desc = _render(spec["description"], contact, spec, "description", problems) if spec.get("description") else None
                    if title is None:
                        continue
                    loc = loc_of(spec)
                    if contact.id in cards:
                        problems.append(problem(spec, f"contact {contact.id!r} already has a card in pipeline {node['id']!r} (declared at {cards[contact.id].loc})"))
                        continue
                    cards[contact.id] = Card(
                        address=Address(node["provider"], "card", node["id"], contact.id),
                        pipeline_id=node["id"], contact_id=contact.id, stage=spec["stage"], title=title,
                        description=desc, tags=tuple(sorted(spec.get("tags") or ())), loc=loc,
                    )
            out.append(Pipeline(
                id=node["id"], provider=node["provider"], provider_type=ptype, pipeline=node["pipeline"],
                stage_policy=node.get("stage_policy", "initial"), prune=node.get("prune", "none"),
                cards=tuple(cards[k] for k in sorted(cards)), loc=loc_of(node),
            ))
    return out


def _build_blueprints(docs: list[Any], project: Project, problems: list[Problem]) -> list[Blueprint]:
    out: list[Blueprint] = []
    seen: dict[str, Loc] = {}
    for data in docs:
        for node in data.get("blueprints") or []:
            if node["id"] in seen:
                problems.append(problem(node, f"duplicate blueprint id {node['id']!r} (also declared at {seen[node['id']]})", "id"))
                continue
            seen[node["id"]] = loc_of(node)
            if _check_provider(node, project, ("kalent",), "blueprints", problems) is None:
                continue
            steps = node["steps"]
            for index, fld, message in step_problems(steps):
                problems.append(problem(steps[index], f"step {index + 1}: {message}", fld))
            out.append(Blueprint(
                address=Address(node["provider"], "blueprint", slug(node["sourcing"]), node["id"]),
                id=node["id"], provider=node["provider"], sourcing=node["sourcing"], name=node["name"],
                steps=tuple(_plain(s) for s in steps), loc=loc_of(node),
            ))
    return out


def _plain(value: Any) -> Any:
    """Strip location wrappers so the model holds plain dicts and lists."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


__all__ = ["build_desired", "load_desired", "ManifestError"]
