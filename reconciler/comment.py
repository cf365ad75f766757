"""Markdown that fits a pull-request comment: a character budget, and PII masking fast enough for it.

GitHub refuses a comment body over 65,536 characters, so the Markdown plan and drift report are
built line by line against a budget (`DEFAULT_BUDGET`, which leaves room for a marker or a footer
a workflow adds). Sizes are counted the way GitHub and JavaScript count a string's length, in
UTF-16 code units, never fewer than Python's characters, so an emoji in a name cannot tip a body
that measured in budget over the limit.

Lines that must appear (totals, refusals, warnings) are always added; the rest is offered with
`offer`, which adds a line only if it still leaves room for what must follow (`reserve`).
Masking happens per line, before measuring, so the budget holds for the masked text.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterable

COMMENT_LIMIT = 65_536
DEFAULT_BUDGET = 64_000   # 1,536 characters to spare for what a workflow adds around the body

# Any letters, not only ASCII (josé.núñez@correo.es, 何@例え.jp): everything but what delimits an
# email in our output. '*' is excluded so that a masked m***@example.com is never masked again.
_EMAIL_CHAR = r"[^\s@<>()\[\]{}\"`|,;:*\\]"
EMAIL = re.compile(rf"({_EMAIL_CHAR}){_EMAIL_CHAR}*@((?:[^\W_]|[.-])+\.[^\W\d_]{{2,}})")
PHONE = re.compile(r"\+\d{6,14}(\d{2})")
_STARTS = re.compile(r"(?<![\w*])(?=[^\s*])")


def size(text: str) -> int:
    """The length of `text` as GitHub counts it (UTF-16 code units)."""
    return len(text.encode("utf-16-le")) // 2


def tally(actions: Iterable[str]) -> str:
    """'98,000 enroll, 2,000 move' (alphabetical)."""
    counts = Counter(actions)
    return ", ".join(f"{n:,} {action}" for action, n in sorted(counts.items()))


class Masker:
    """Masks emails (m***@example.com), phones (+*******67) and the given names (M***) in one pass.

    Names are looked up in a set, one lookup per distinct name length at each word start, so masking
    a line costs the same whatever the number of contacts (a regex per name made a 100,000-contact
    plan take minutes). Longer names win where several start at the same place."""

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names = {n for n in names if n and len(n) > 1}
        self._lengths = sorted({len(n) for n in self._names}, reverse=True)

    def __call__(self, text: str) -> str:
        text = EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
        text = PHONE.sub(lambda m: "+" + "*" * 7 + m.group(1), text)
        if not self._names:
            return text
        out: list[str] = []
        done = 0
        for start in _STARTS.finditer(text):
            at = start.start()
            if at < done:
                continue
            for length in self._lengths:
                end = at + length
                if end <= len(text) and text[at:end] in self._names and not (end < len(text) and _word(text[end])):
                    out += [text[done:at], text[at], "***"]
                    done = end
                    break
        out.append(text[done:])
        return "".join(out)


def _word(char: str) -> bool:
    return char.isalnum() or char == "_"


class Page:
    """Lines of Markdown under a budget of `budget` characters (masked first when `mask` is given)."""

    def __init__(self, budget: int, mask: Callable[[str], str] | None = None) -> None:
        self.budget = budget
        self._mask = mask or (lambda text: text)
        self.lines: list[str] = []
        self.used = 0

    def cost(self, lines: Iterable[str]) -> int:
        """What adding `lines` would cost (masked, one newline each)."""
        return sum(size(self._mask(line)) + 1 for line in lines)

    def add(self, *lines: str) -> None:
        """Add lines that must appear, budget or not."""
        for line in lines:
            masked = self._mask(line)
            self.lines.append(masked)
            self.used += size(masked) + 1

    def offer(self, lines: list[str], reserve: int = 0) -> bool:
        """Add `lines` together if they fit and still leave `reserve` characters; else add nothing."""
        masked = [self._mask(line) for line in lines]
        cost = sum(size(line) + 1 for line in masked)
        if self.used + cost + reserve > self.budget:
            return False
        self.lines.extend(masked)
        self.used += cost
        return True

    def room(self) -> int:
        return self.budget - self.used

    def text(self) -> str:
        return "\n".join(self.lines).rstrip() + "\n"


def left_out(left: int, what: str) -> str:
    """The line that stands for items a list had to leave out."""
    return f"- … and {left:,} more {what}, too many for this comment: every one is in the full plan"


def keep_all(page: Page, header: list[str], items: list[str], reserve: int, what: str) -> None:
    """`header`, then every item if they fit with `reserve` to spare, then a blank line. Otherwise each
    item is shortened to 300 characters, and only if even that cannot fit, as many as fit are added
    with a line saying how many were left out: the one case where the budget wins over a list that
    must be complete (the full plan has it)."""
    page.add(*header)
    reserve += 1  # the closing blank line
    if page.used + page.cost(items) + reserve > page.budget:
        items = [item if len(item) <= 300 else item[:299] + "…" for item in items]
    if page.used + page.cost(items) + reserve <= page.budget:
        page.add(*items)
    else:
        for i, item in enumerate(items):
            note = left_out(len(items) - i, what)
            if not page.offer([item], reserve + page.cost([note])):
                page.add(note)
                break
    page.add("")
