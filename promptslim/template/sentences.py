"""Where a prose paragraph may be cut into sentences, in linear time and for more than English.

A cut never falls inside a matched bracket, inline-code, bold or XML pair, so removing any
sentence leaves every pair that was balanced still balanced; an XML tag whose partner lies in
another paragraph is a hole no sentence owns, so it stays in place whatever is removed.
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
_PAIRS = {")": "(", "]": "[", "}": "{"}
_BRACKET = re.compile(r"[()\[\]{}]")
_INLINE = re.compile(r"`[^`\n]+`|\*\*[^*\n]+?\*\*")
XML_TAG = re.compile(r"<(/?)([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?(/?)>")


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
    if masked.startswith(("```", "~~~", "#", "|"), at):
        return True
    stop = masked.find("\n", at, at + 100)
    if stop < 0 and len(masked) - at > 100:
        return False
    rest = masked[at:stop if stop >= 0 else len(masked)].strip()
    return bool(HEADING.match(rest) or BOLD_HEADING.match(rest) or TAG_LINE.match(rest))


def protected(masked: str, extra: list[tuple[int, int]] = ()) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(intervals no cut may fall strictly inside, holes: unpaired XML tags that no sentence owns)."""
    intervals = list(extra)
    stack: list[tuple[str, int]] = []
    for m in _BRACKET.finditer(masked):
        ch = m.group(0)
        if ch in "([{":
            stack.append((ch, m.start()))
        elif stack and stack[-1][0] == _PAIRS[ch]:
            intervals.append((stack.pop()[1], m.end()))
    intervals.extend((m.start(), m.end()) for m in _INLINE.finditer(masked))
    tags: list[tuple[str, int, int]] = []
    holes: list[tuple[int, int]] = []
    closers: list[tuple[int, int]] = []  # unpaired closing tags: a section's end even when glued to a word
    for m in XML_TAG.finditer(masked):
        closing, name, selfclosing = m.group(1), m.group(2), m.group(3)
        if selfclosing:
            continue
        if not closing:
            tags.append((name, m.start(), m.end()))
            continue
        idx = next((i for i in range(len(tags) - 1, max(-1, len(tags) - 9), -1) if tags[i][0] == name), None)
        if idx is None:
            closers.append((m.start(), m.end()))
            continue
        for _, a, b in tags[idx + 1:]:
            holes.append((a, b))
        intervals.append((tags[idx][1], m.end()))
        del tags[idx:]
    holes.extend((a, b) for _, a, b in tags)
    # An opening tag glued to a word (List<String>) is text of its sentence; any other unpaired tag, and every
    # unpaired closing tag (`1</rules>` ends the section opened on an earlier line), frames a section.
    holes = [(a, b) for a, b in holes if a == 0 or not masked[a - 1].isalnum()] + closers
    return _merge(intervals), sorted(holes)


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


def minus_holes(ranges: list[tuple[int, int]], holes: list[tuple[int, int]]) -> list[list[tuple[int, int]]]:
    """Each [a, b) of `ranges` (sorted, disjoint) without the holes inside it (sorted; linear)."""
    out, i = [], 0
    for a, b in ranges:
        while i < len(holes) and holes[i][1] <= a:
            i += 1
        pieces, pos, j = [], a, i
        while j < len(holes) and holes[j][0] < b:
            if holes[j][0] > pos:
                pieces.append((pos, holes[j][0]))
            pos = max(pos, holes[j][1])
            j += 1
        if pos < b:
            pieces.append((pos, b))
        out.append(pieces)
    return out
