"""README "Contact policy" -> "A worked example": the commands run as written (on a copy of
examples/contact-policy/) and do what their comments say."""

from __future__ import annotations

import re
import shlex
import shutil

from click.testing import CliRunner

from reconciler.cli import main
from tests.conftest import REPO

EXAMPLE = REPO / "examples" / "contact-policy"


def tour_commands() -> list[str]:
    readme = (REPO / "README.md").read_text()
    section = readme.split("### A worked example", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S).group(1)
    return [line.split(" #")[0].strip() for line in block.splitlines() if line.strip()]


def test_the_worked_example_does_what_the_readme_says(tmp_path, monkeypatch):
    root = tmp_path / "examples" / "contact-policy"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns(".campaignctl"))
    monkeypatch.chdir(tmp_path)
    outputs = []
    for line in tour_commands():
        argv = shlex.split(line)
        if argv[0] == "rm":
            shutil.rmtree(tmp_path / argv[-1])
            continue
        assert argv[0] == "campaignctl", line
        result = CliRunner().invoke(main, argv[1:], catch_exceptions=False)
        assert result.exit_code in (0, 2), (line, result.output)
        outputs.append(result.output)
    first, applied, unsubscribed, after_unsubscribe, replied, cooling, advanced, after = outputs
    assert "Plan: 2 to enroll, 4 to create, 5 skipped, 2 deferred; 0 unchanged." in first
    assert "✓ enroll    clarky.membership[inbound][maria-garcia]" in applied
    assert "✓ enroll    clarky.membership[inbound][john-smith]" in applied
    assert "gary.membership" not in "".join(line for line in applied.splitlines(True) if line.startswith("✓"))
    assert "maria@example.com unsubscribed; stopped 1 enrollment" in unsubscribed
    assert re.search(r"! skip +gary\.membership\[nurture\]\[maria-garcia\]  suppressed: unsubscribed in "
                     r"clarky/inbound on \d{4}-\d\d-\d\d \(policy\.vendor_opt_outs\)", after_unsubscribe)
    assert "john.smith@example.com replied; stopped 1 enrollment" in replied
    assert re.search(r"> defer +gary\.membership\[nurture\]\[john-smith\]  cooldown_days 14: an enrollment in "
                     r"clarky/inbound ended \d{4}-\d\d-\d\d; enrolled by an apply from ", cooling)
    assert "advanced by 15d" in advanced
    assert re.search(r"(\+ enroll|> defer) +gary\.membership\[nurture\]\[john-smith\]  "
                     r"(sends messages|outside the send windows)", after)
    assert "Forecast:" in after or "outside the send windows" in after
    assert not (root / ".campaignctl").exists()
