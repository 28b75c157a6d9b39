"""Where a prose paragraph may be cut into sentences, in linear time and for more than English.

A cut never falls inside a protected interval (the segmenter passes matched brackets, XML pairs, inline code and
raw blocks; bold is found here), so removing any sentence leaves every pair that was balanced still balanced.
"""

from __future__ import annotations

import re

from promptslim.template.layout import BOLD_HEADING, HEADING, TAG_LINE

_CLOSERS = "\"'\u201d\u2019)\\]\u00bb\u300d\u300f\uff09\u3011"
# Western ends need whitespace after them; CJK and full-width ends do not.
_END = re.compile(rf"(?:[.!?\u2026]+|[\u061f\u06d4\u0964])[{_CLOSERS}]*(?P<ws>\s+)"
                  rf"|[\u3002\uff01\uff1f\uff0e\uff61]+[{_CLOSERS}]*\s*")
_OPENERS = "\"'\u201c\u2018([{\u00bf\u00a1\u00ab\u300c\u300e\uff08\u3010*`<\x1a"
# Checked on a short window ending at the cut, so each check is O(1) (the old whole-prefix rescan was O(n^2)).
_ABBREVIATIONS = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|incl|Dr|Mr|Mrs|Ms|Prof|St|No|Inc|Ltd|Co)\."
                            r"|\b[A-Z]\.)[\"')\]]*\s+$")
_WINDOW = 16
_ITEM = re.compile(r"(?:[-*+•]|\d{1,3}[.)])(?:\s|$)")  # would read as a list item (or a fence on one)
_BOLD = re.compile(r"\*\*[^*\n]+?\*\*")


def sentence_cuts(masked: str) -> list[int]:
    """Offsets where a new sentence starts (after an end mark), before protection is applied."""
    cuts = []
    for m in _END.finditer(masked):
        end = m.end()
        if end >= len(masked):
            continue
        if m.group("ws") is not None:
            nxt = masked[end]
            if nxt.islower() or not (nxt.isupper() or nxt.isdigit() or nxt in _OPENERS
                                     or (nxt.isalpha() and not nxt.islower())):
                continue
            if _ABBREVIATIONS.search(masked[max(0, m.start() - _WINDOW):end]):
                continue
        if _starts_structure(masked, end):
            continue
        cuts.append(end)
    return cuts


def _starts_structure(masked: str, at: int) -> bool:
    """Would the sentence starting here, once its line-mates are removed, read as a fence, table or heading?

    Then it is no sentence of its own (its text would turn into structure or vanish into a fixed line).
    Only a bounded look-ahead, so splitting stays linear.
    """
    if masked.startswith(("```", "~~~", "#", "|", "{#"), at):  # "{#": a plain prompt's marker, once alone
        return True
    stop = masked.find("\n", at, at + 100)
    if stop < 0 and len(masked) - at > 100:
        return False
    rest = masked[at:stop if stop >= 0 else len(masked)].strip()
    return bool(HEADING.match(rest) or BOLD_HEADING.match(rest) or TAG_LINE.match(rest) or _ITEM.match(rest))


def protected(masked: str, extra: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The intervals no cut may fall strictly inside: the given pairs, and bold text, merged and sorted."""
    return _merge(list(extra) + [(m.start(), m.end()) for m in _BOLD.finditer(masked)])


def _merge(intervals: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for a, b in sorted(intervals):
        if out and a < out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def allowed(cuts: list[int], intervals: list[tuple[int, int]]) -> list[int]:
    """The cuts that fall inside no protected interval (both lists sorted; linear)."""
    out, i = [], 0
    for c in cuts:
        while i < len(intervals) and intervals[i][1] <= c:
            i += 1
        if i < len(intervals) and intervals[i][0] < c < intervals[i][1]:
            continue
        out.append(c)
    return out
