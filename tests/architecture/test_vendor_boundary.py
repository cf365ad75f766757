"""The vendor boundary: outside `providers/<vendor>/` and `sandbox/<vendor>/`, no module of the
package names a vendor or one of its own fields. Everything the core needs to know about a vendor
it gets from the vendor's VendorSpec, through the registry (`reconciler.providers.vendors`)."""

from __future__ import annotations

import re
from pathlib import Path

import reconciler

PACKAGE = Path(reconciler.__file__).resolve().parent
VENDOR_DIRS = ("clarky", "garyclub", "kalent")
# Vendor names (any case, inside identifiers too: `GaryClubProvider`, `kalent_rules`), and fields,
# headers and id prefixes that only one vendor has.
VENDOR_WORDS = re.compile(
    r"clarky|gary|kalent"
    r"|bot_id|client_id|start_settle|linkedin|debugtracking"
    r"|\bpc_|\btpl_",
    re.IGNORECASE,
)
# (module, what it may name, why). Keep this list tiny: every entry is vendor knowledge in the core.
EXCEPTIONS = [
    ("providers/vendors.py", "clarky|gary|kalent", "the registry lists the built-in vendors' packages by name"),
]


def _outside_vendor_packages() -> list[Path]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).parts
        if rel[0] in ("providers", "sandbox") and len(rel) > 2 and rel[1] in VENDOR_DIRS:
            continue
        out.append(path)
    return out


def _hits(path: Path) -> list[str]:
    rel = path.relative_to(PACKAGE).as_posix()
    allowed = [re.compile(words, re.IGNORECASE) for module, words, _ in EXCEPTIONS if module == rel]
    hits = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        for match in VENDOR_WORDS.finditer(line):
            word = match.group(0)
            if any(a.fullmatch(word) for a in allowed):
                continue
            hits.append(f"{rel}:{number}: {word!r} in {line.strip()[:100]}")
    return hits


def test_the_scan_covers_the_core_and_skips_only_vendor_packages():
    scanned = {p.relative_to(PACKAGE).as_posix() for p in _outside_vendor_packages()}
    assert {"model.py", "plan.py", "apply.py", "drift.py", "engine.py", "desired_sequences.py", "providers/_http.py",
            "providers/_limits.py", "sandbox/hub.py", "cli/admin_cmds.py", "importer/__init__.py"} <= scanned
    assert not any(p.startswith(("providers/kalent/", "sandbox/clarky/")) for p in scanned)


def test_the_pattern_finds_vendor_words_where_they_are():
    """The scan is not vacuous: it finds the vendors in their own packages."""
    kalent = (PACKAGE / "providers" / "kalent" / "spec.py").read_text(encoding="utf-8")
    clarky = (PACKAGE / "providers" / "clarky" / "spec.py").read_text(encoding="utf-8")
    assert VENDOR_WORDS.search(kalent) and "bot_id" in VENDOR_WORDS.findall(clarky)


def test_no_vendor_name_or_field_outside_the_vendor_packages():
    hits = [hit for path in _outside_vendor_packages() for hit in _hits(path)]
    assert not hits, "vendor knowledge in the neutral core (move it into the vendor's VendorSpec):\n" + "\n".join(hits)


def test_every_exception_is_still_needed():
    for module, words, why in EXCEPTIONS:
        text = (PACKAGE / module).read_text(encoding="utf-8")
        assert re.search(words, text, re.IGNORECASE), f"{module} no longer names {words!r}: drop the exception ({why})"
