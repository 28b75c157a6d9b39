"""Which bracket and XML tag pairs with which, across the whole prompt: what no removal may split.

Pairs are found on a copy of the masked text where inline code spans and code fences are blanked (a backticked
`<notes>` or a `(` in code pairs with nothing) and each fence that only wraps prose is a scope of its own. Every
pass is one left-to-right scan, linear in the text.
"""

from __future__ import annotations

import re
from collections import defaultdict

from promptslim.template.blocks import Fence

XML_TAG = re.compile(r"<(/?)([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?(/?)>")
SCOPE_OPEN, SCOPE_CLOSE = "\x1c", "\x1d"
_TICKS = re.compile(r"`+")
_BRACKETS = re.compile(rf"[()\[\]{{}}{SCOPE_OPEN}{SCOPE_CLOSE}]")
_TAGS = re.compile(rf"{XML_TAG.pattern}|[{SCOPE_OPEN}{SCOPE_CLOSE}]")
_OPENS = {")": "(", "]": "[", "}": "{"}


def inline_code(masked: str, starts: list[int], ends: list[int], skip: set[int]) -> list[tuple[int, int]]:
    """Inline code spans, one line each: a backtick run closed by the next run of the same length (CommonMark)."""
    spans: list[tuple[int, int]] = []
    for i, (a, b) in enumerate(zip(starts, ends)):
        if i in skip or "`" not in masked[a:b]:
            continue
        runs = [(m.start(), m.end()) for m in _TICKS.finditer(masked, a, b)]
        following: list[int | None] = [None] * len(runs)
        last: dict[int, int] = {}
        for k in range(len(runs) - 1, -1, -1):
            size = runs[k][1] - runs[k][0]
            following[k], last[size] = last.get(size), k
        k = 0
        while k < len(runs):
            j = following[k]
            if j is None:
                k += 1
                continue
            spans.append((runs[k][0], runs[j][1]))
            k = j + 1
    return spans


def pairing_text(masked: str, starts: list[int], ends: list[int], fences: list[Fence],
                 inline: list[tuple[int, int]]) -> str:
    """The masked text with code (fenced or inline) blanked and containers marked as scopes; same length."""
    edits: list[tuple[int, int, str]] = []
    for f in fences:
        if f.container:
            edits.append((starts[f.open], ends[f.open], SCOPE_OPEN))
            edits.append((starts[f.close], ends[f.close], SCOPE_CLOSE))
        elif f.close >= 0:
            edits.append((starts[f.open] + f.mark_at, ends[f.close], ""))
    edits.extend((a, b, "") for a, b in inline)
    out, pos = [], 0
    for a, b, mark in sorted(edits):
        out.append(masked[pos:a])
        out.append(mark + re.sub(r"[^\n]", " ", masked[a + len(mark):b]))
        pos = b
    out.append(masked[pos:])
    return "".join(out)


def bracket_partners(text: str) -> dict[int, int]:
    """Each bracket's partner (both ways); a closer that does not match the innermost open bracket pairs with none."""
    out: dict[int, int] = {}
    stack: list[tuple[str, int]] = []
    outer: list[list[tuple[str, int]]] = []
    for m in _BRACKETS.finditer(text):
        ch, at = m.group(0), m.start()
        if ch == SCOPE_OPEN:
            outer.append(stack)
            stack = []
        elif ch == SCOPE_CLOSE:
            stack = outer.pop() if outer else []
        elif ch in "([{":
            stack.append((ch, at))
        elif stack and stack[-1][0] == _OPENS[ch]:
            a = stack.pop()[1]
            out[a], out[at] = at, a
    return out


def tag_partners(text: str) -> dict[int, int]:
    """Each XML tag's partner by the tags' starts (both ways). A closing tag pairs with the nearest open tag of its
    name; the tags it closes over are mentions ("Wrap claims in <cite> tags."), text of their sentence."""
    out: dict[int, int] = {}
    stack: list[tuple[str, int]] = []
    where: dict[str, int] = defaultdict(int)  # how many open tags of each name the stack holds
    outer: list[tuple[list[tuple[str, int]], dict[str, int]]] = []
    for m in _TAGS.finditer(text):
        at = m.start()
        if m.group(2) is None:
            if m.group(0) == SCOPE_OPEN:
                outer.append((stack, where))
                stack, where = [], defaultdict(int)
            else:
                stack, where = outer.pop() if outer else ([], defaultdict(int))
            continue
        closing, name, selfclosing = m.group(1), m.group(2), m.group(3)
        if selfclosing:
            continue
        if not closing:
            stack.append((name, at))
            where[name] += 1
        elif where[name]:
            while stack[-1][0] != name:
                where[stack.pop()[0]] -= 1
            where[name] -= 1
            a = stack.pop()[1]
            out[a], out[at] = at, a
    return out
