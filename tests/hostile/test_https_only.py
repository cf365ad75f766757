"""Keys travel over https only: an http:// base_url off this machine is refused by `validate`,
with file:line, before any connection; loopback (the sandbox, tests) stays allowed."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from reconciler.cli import main

PROJECT = """\
version: 1
providers:
  clarky: {{type: clarky, api_key_env: CLARKY_API_KEY, bot_id: b_01HDEF, base_url: "{url}"}}
"""
SEQ = "contacts:\n  - {id: ana, emails: [ana@example.com]}\n" \
      "sequences:\n  - {id: s, provider: clarky, template: tpl_1, members: [ana]}\n"


@pytest.mark.parametrize("url", ["http://clarky.ai/api/v1", "http://10.0.0.7:8080/api", "http://[2001:db8::1]/api",
                                 "http://127.0.0.1.nip.io/api", "http://localhost.evil.com/api"])
@pytest.mark.parametrize("command", ["validate", "plan", "apply", "drift"])
def test_plain_http_off_loopback_is_refused_with_file_and_line(make_project, url, command):
    root = make_project({"m.yaml": SEQ}, project=PROJECT.format(url=url))
    args = [command, str(root)] + (["--auto-approve"] if command == "apply" else [])
    result = CliRunner().invoke(main, args, env={"CLARKY_API_KEY": "ck_live_abcdefgh"})
    assert result.exit_code == 1
    assert "camp/campaignctl.yaml:3:" in result.stderr
    assert "https://" in result.stderr and "internal error" not in result.stderr


@pytest.mark.parametrize("url", ["http://127.0.0.1:8799/clarky/api/v1", "http://[::1]:8799/api", "http://localhost/api",
                                 "https://clarky.example/api/v1"])
def test_https_and_loopback_http_are_allowed(make_project, url):
    root = make_project({"m.yaml": SEQ}, project=PROJECT.format(url=url))
    result = CliRunner().invoke(main, ["validate", str(root)])
    assert result.exit_code == 0, result.stderr


def test_the_http_client_refuses_clear_text_even_without_validate():
    from reconciler.errors import ConfigError
    from reconciler.model import ProviderConfig
    from reconciler.providers._http import VendorClient

    config = ProviderConfig(name="c", type="clarky", base_url="http://clarky.ai/api/v1")
    with pytest.raises(ConfigError, match="https://"):
        VendorClient.for_provider(config, "ck_live_abcdefgh", headers={})
