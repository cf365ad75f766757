"""A real PostgreSQL server for the state tests: the DSN of a server is in CAMPAIGNCTL_TEST_POSTGRES_DSN
(`.ci/run` starts one with `.ci/postgres`). Without it the PostgreSQL cases skip, saying why; with
CAMPAIGNCTL_REQUIRE_POSTGRES=1 (as `.ci/run` sets) a missing server fails them instead.

Each test gets its own schema, dropped afterwards, so tests never see each other's rows."""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Callable, Iterator

import pytest

DSN_VAR = "CAMPAIGNCTL_TEST_POSTGRES_DSN"
REQUIRE_VAR = "CAMPAIGNCTL_REQUIRE_POSTGRES"
BACKENDS = ("sqlite", "postgres")


def server_dsn() -> str:
    """The test server's DSN, or skip (fail when CI requires the server)."""
    dsn = os.environ.get(DSN_VAR, "").strip()
    if not dsn:
        reason = f"no PostgreSQL server for the state tests: set {DSN_VAR} (`.ci/run` starts one with .ci/postgres)"
        if os.environ.get(REQUIRE_VAR) == "1":
            pytest.fail(reason + f"; {REQUIRE_VAR}=1 makes this a failure")
        pytest.skip(reason)
    return dsn


@pytest.fixture
def pg_schema() -> Iterator[tuple[str, str]]:
    """(dsn, a fresh schema name); the schema is dropped after the test."""
    import psycopg

    dsn = server_dsn()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    yield dsn, schema
    with psycopg.connect(dsn, autocommit=True) as db:
        db.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def project_state(backend: str, tmp_path: Path, request: pytest.FixtureRequest, project: str = "camp") -> str:
    """The `state:` block of a project file for `backend` (the DSN goes in env var CAMPAIGNCTL_STATE_DSN)."""
    if backend == "sqlite":
        return "state: {backend: sqlite}\n"
    _, schema = request.getfixturevalue("pg_schema")
    return f"state: {{backend: postgres, dsn_env: CAMPAIGNCTL_STATE_DSN, schema: {schema}, project: {project}}}\n"


def state_env(backend: str) -> dict[str, str]:
    """Environment entries a project using `backend` needs."""
    return {"CAMPAIGNCTL_STATE_DSN": server_dsn()} if backend == "postgres" else {}


@pytest.fixture(params=BACKENDS)
def open_state(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[..., object]]:
    """A function that opens (another connection to) one state, on the parametrised backend; every
    store it opened is closed after the test."""
    from reconciler.state import StateStore

    opened: list = []
    if request.param == "postgres":
        from reconciler.state_postgres import PostgresStore

        dsn, schema = request.getfixturevalue("pg_schema")

        def make(project: str = "camp"):
            opened.append(PostgresStore(dsn, schema=schema, project=project))
            return opened[-1]
    else:
        def make(project: str = "camp"):
            opened.append(StateStore(tmp_path / "state" / f"{project}.db"))
            return opened[-1]
    make.backend = request.param  # type: ignore[attr-defined]
    yield make
    for store in opened:
        try:
            store.close()
        except Exception:  # noqa: BLE001 - a test may have closed it already
            pass
