"""`campaignctl state migrate`: SQLite -> PostgreSQL -> SQLite on a state an apply wrote, journal
(with an in-doubt intent) intact, and the project keeps working on the copy."""

from __future__ import annotations

import re

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.model import Address
from reconciler.state import TABLES, StateStore
from reconciler.state_postgres import PostgresStore
from tests.apply._support import copy_example
from tests.postgres_support import pg_schema  # noqa: F401 - fixture

A = Address("clarky", "membership", "inbound-es", "maria-garcia")


def cli(*args: str, env: dict[str, str]):
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def everything(store) -> dict[str, list[tuple]]:
    return {table: store.dump(table) for table in TABLES}


def test_round_trip_sqlite_postgres_sqlite_keeps_every_row(tmp_path, pg_schema, monkeypatch):
    dsn, schema = pg_schema
    monkeypatch.chdir(tmp_path)
    root = copy_example(tmp_path)
    env = {"CAMPAIGNCTL_STATE_DSN": dsn}
    applied = cli("apply", str(root), "--auto-approve", env=env)
    assert applied.exit_code == 0, applied.output
    original = StateStore(root / ".campaignctl" / "state.db")
    seq = original.intent("crashed-apply", A, "enroll", attempt=2)  # an in-doubt write must travel too
    original.set_meta("drift.fingerprint", {"x": 1})
    before = everything(original)
    original.close()
    assert len(before["journal"]) > 20 and before["objects"]

    up = cli("state", "migrate", "--to", "postgres", "--schema", schema, "--project", "camp", "--dir", str(root),
             env=env)
    assert up.exit_code == 0, up.output
    assert f"{len(before['journal'])} journal rows" in up.output and "matches row by row" in up.output
    assert dsn not in up.output and dsn.split("@")[0].split(":")[-1] not in up.output  # no password
    pg = PostgresStore(dsn, schema=schema, project="camp")
    assert everything(pg) == before
    assert [e.seq for e in pg.in_doubt()] == [seq]
    pg.close()

    # the project switched to PostgreSQL plans from the copied cache and sees the in-doubt write
    project = root / "campaignctl.yaml"
    project.write_text(re.sub(r"state:\n(  .*\n)+", "", project.read_text())
                       + f"state: {{backend: postgres, schema: {schema}, project: camp}}\n")
    planned = cli("plan", str(root), env=env)
    assert planned.exit_code == 0, planned.output
    refused = cli("state", "migrate", "--to", "postgres", "--dir", str(root), env=env)
    assert refused.exit_code == 1 and "copies only into an empty one" in refused.output
    next_seq = PostgresStore(dsn, schema=schema, project="camp")
    assert next_seq.intent("later", A, "enroll") > max(r[0] for r in before["journal"])  # numbering continues
    mid = everything(next_seq)
    next_seq.close()

    back = tmp_path / "back" / "state.db"
    down = cli("state", "migrate", "--to", "sqlite", "--path", str(back), "--dir", str(root), env=env)
    assert down.exit_code == 0, down.output
    copy = StateStore(back)
    after = everything(copy)
    copy.close()
    assert after == mid  # every row of the PostgreSQL state, as it was
    assert after["journal"][: len(before["journal"])] == before["journal"]  # the original journal, intact
    assert after["journal"][-1][1] == "later" and len(after["journal"]) == len(before["journal"]) + 1
    assert after["meta"] == before["meta"]
    again = cli("state", "migrate", "--to", "sqlite", "--path", str(back), "--dir", str(root), env=env)
    assert again.exit_code == 1 and "already exists" in again.output
