"""API keys from the environment: surrounding whitespace stripped, inner control characters a clear
error naming the variable (never the value), and no rendering of a key in any output."""

from __future__ import annotations

import shutil
import urllib.parse
from pathlib import Path

import pytest

from reconciler.secrets import redact, register, renderings
from tests.drift._support import EXAMPLE, KEYS

CONTACTS = {"contacts.yaml": "contacts:\n  - {id: ana, first_name: Ana, emails: [ana@example.com]}\n",
            "seq.yaml": "sequences:\n  - {id: s, provider: gary, sequence: Post-call nurture, members: [ana]}\n"}
# A sequence on the provider of each key: only the keys of providers in use are read.
USING = {"CLARKY_API_KEY": "sequences:\n  - {id: s, provider: clarky, template: tpl_01HABC, members: [ana]}\n",
         "GARY_API_KEY": CONTACTS["seq.yaml"],
         "KALENT_API_KEY": "sequences:\n  - {id: s, provider: kalent, blueprint: bp_example, "
                           "sourcing: Senior Backend Engineer, candidates: [cand_123]}\n"}


def example_manifests(served) -> Path:
    """The example project's manifests (all three vendors in use) on the served sandbox."""
    root = served.write({})
    for path in EXAMPLE.rglob("*"):
        rel = path.relative_to(EXAMPLE)
        if path.is_file() and rel.name != "campaignctl.yaml" and not rel.parts[0].startswith("."):
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(path, root / rel)
    return root


@pytest.mark.parametrize("tail", ["\n", "\r\n", "\r", "\t", " "])
@pytest.mark.parametrize("var", sorted(KEYS))
def test_surrounding_whitespace_of_a_key_is_stripped(served, var, tail):
    root = example_manifests(served)
    served.env[var] = "  " + KEYS[var] + tail
    result = served.run("plan", str(root))
    assert result.code == 0, result.stderr
    assert KEYS[var] not in result.stdout + result.stderr
    vendor = {"CLARKY_API_KEY": "clarky", "GARY_API_KEY": "garyclub", "KALENT_API_KEY": "kalent"}[var]
    assert any(r["vendor"] == vendor for r in served.hub.store.requests())  # the key was used


@pytest.mark.parametrize("var", sorted(KEYS))
def test_inner_control_character_is_an_error_naming_the_variable_not_the_value(served, var):
    root = served.write({**CONTACTS, "seq.yaml": USING[var]})
    secret = KEYS[var][:6] + "\x01SECRETPART" + KEYS[var][6:]
    served.env[var] = secret
    before = len(served.hub.store.requests())
    for command in ("plan", "apply"):
        result = served.run(command, str(root), *(["--auto-approve"] if command == "apply" else []))
        out = result.stdout + result.stderr
        assert result.code == 1
        assert var in out and "control character" in out
        assert "SECRETPART" not in out and "internal error" not in out
    assert len(served.hub.store.requests()) == before  # refused before any request


def test_every_rendering_of_a_registered_secret_is_redacted():
    secret = "sk+live/Zz9=\"'é"
    register(secret)
    texts = [secret, repr(secret), repr(secret.encode()), urllib.parse.quote(secret, safe=""),
             urllib.parse.quote_plus(secret), "Bearer " + secret.encode("unicode_escape").decode()]
    for text in texts:
        assert "Zz9" not in redact(f"error: {text} end"), text
    assert all(r for r in renderings(secret))
    assert redact("nothing secret here") == "nothing secret here"


def test_internal_error_paths_redact_registered_keys(served, monkeypatch):
    """Even an unexpected exception that carries the key prints it redacted (with and without -v)."""
    root = served.write(CONTACTS)

    def boom(*args, **kwargs):
        raise RuntimeError(f"broken with {KEYS['GARY_API_KEY']!r} and {urllib.parse.quote(KEYS['GARY_API_KEY'])}")

    monkeypatch.setattr("reconciler.engine.compute_plan", boom)
    for args in (("plan", str(root)), ("-v", "plan", str(root))):
        result = served.run(*args)
        assert result.code == 1
        assert KEYS["GARY_API_KEY"] not in result.stdout + result.stderr
        assert "[REDACTED]" in result.stderr


TOKEN = "T0SECRET/B0SECRET/xoxSECRET"


@pytest.mark.parametrize("url", [
    f"hooks.slack.com/services/{TOKEN}",                  # no scheme
    f"https://hooks.slack.com/services/T0 B0/{TOKEN}",     # a space
    f"https://hooks.slack.com/services/\n{TOKEN}",         # a control character
    f"https://[::1/services/{TOKEN}",                     # unparseable host
    f"https://hooks.slack.com:99999/services/{TOKEN}",    # port out of range
    f"http://hooks.slack.com/services/{TOKEN}",           # clear text off this machine
    f"ftp://hooks.slack.com/services/{TOKEN}",            # not http at all
])
def test_a_bad_notify_url_is_refused_before_any_read_showing_scheme_and_host_at_most(served, url):
    root = served.write(CONTACTS)
    before = len(served.hub.store.requests())
    for args in (("drift", str(root), "--notify", url), ("-v", "drift", str(root), "--notify", url)):
        result = served.run(*args)
        out = result.stdout + result.stderr
        assert result.code == 1, out
        assert "SECRET" not in out and "internal error" not in out
        assert "--notify" in out
        assert args[0] == "-v" or "Traceback" not in out  # -v shows tracebacks, still without the token
    assert len(served.hub.store.requests()) == before


def test_a_failing_notify_post_names_the_host_only(served):
    """A loopback URL nobody listens on: the retries run out and the message has no path."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root = served.write(CONTACTS)
    served.run("apply", str(root), "--auto-approve")
    served.hub.event("garyclub", "reply", contact="ana@example.com")
    result = served.run("drift", str(root), "--notify", f"http://127.0.0.1:{port}/services/{TOKEN}")
    assert result.code == 1
    assert f"http://127.0.0.1:{port}" in result.stderr and "SECRET" not in result.stderr


@pytest.mark.parametrize("dsn", [
    "postgresql://user:SECRETPW@127.0.0.1:99999/db",          # bad port
    "SECRETPW garbage",                                        # not a connection string at all
    "postgresql://user:SECRET PW@127.0.0.1:1/db",             # a space: the driver quotes the fragment
    "postgresql://user:SECRETPW@127.0.0.1:1/db?sslmode=bogus",
    "postgresql://user:SECRETPW@[::1/db",
])
def test_a_state_dsn_shows_scheme_and_host_at_most(make_project, dsn):
    """No server needed: each of these fails before or at connecting, on every error path, -v included."""
    from click.testing import CliRunner

    from reconciler.cli import main

    project = ("version: 1\nstate: {backend: postgres, project: p1}\n"
               "providers:\n  clarky: {type: clarky, api_key_env: K, sandbox: true}\n")
    root = make_project({"m.yaml": CONTACTS["contacts.yaml"]}, project=project)
    for args in (["plan", str(root)], ["-v", "plan", str(root)], ["state", "list", "--dir", str(root)]):
        result = CliRunner().invoke(main, args, env={"CAMPAIGNCTL_STATE_DSN": dsn})
        out = result.stdout + result.stderr
        assert result.exit_code == 1, out
        assert "SECRET" not in out and "user" not in out.split("Traceback")[0] and "internal error" not in out
