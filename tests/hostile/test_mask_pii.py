"""`plan --mask-pii` masks every email, non-ASCII ones included (a PR comment is public to the repo)."""

from __future__ import annotations

from click.testing import CliRunner

from reconciler.cli import main
from reconciler.render import mask_text

EMAILS = ["josé.núñez@correo.es", "ñandú@example.com", "ana@exämple.de", "müller@müller.de", "何@例え.jp",
          "o'brien@example.ie", "maria.garcia@example.com"]


def test_plan_markdown_masks_non_ascii_emails(make_project):
    contacts = "".join(f'  - {{emails: ["{e}"], first_name: F{i}, tags: [x]}}\n' for i, e in enumerate(EMAILS))
    root = make_project({"m.yaml": "contacts:\n" + contacts +
                         "sequences:\n  - {id: s, provider: clarky, template: tpl_01HABC,"
                         " members_where: {tags_any: [x]}}\n"
                         "pipelines:\n  - id: sales\n    provider: clarky\n    pipeline: Sales Pipeline\n    cards:\n"
                         "      - {for_each: {tags_any: [x]}, stage: Lead, title: 'Card for {email}'}\n"})
    result = CliRunner().invoke(main, ["plan", str(root), "--format", "markdown", "--mask-pii"])
    assert result.exit_code == 0, result.stderr
    for email in EMAILS:
        local = email.split("@")[0]
        assert f"{local}@" not in result.stdout, email
        assert f"{local[0]}***@{email.split('@')[1]}" in result.stdout


def test_masking_is_idempotent_and_keeps_the_surrounding_text():
    text = "clarky.membership[s][josé.núñez@correo.es] (maria@example.com), see ana@exämple.de."
    masked = mask_text(text)
    assert masked == "clarky.membership[s][j***@correo.es] (m***@example.com), see a***@exämple.de."
    assert mask_text(masked) == masked
