"""Split a template's literal text into instruction units, and remove any set of them safely.

Units are whole lines (bullets, `{% if/for %}` blocks, author groups) or character spans
(sentences of prose). Every span lies outside any Jinja tag, expression or comment and whole
blocks are removed together, so any subset can be removed and the template still parses.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from promptslim.errors import InputError

_SPAN = re.compile(r"\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_TAG = re.compile(r"\{%-?\s*([A-Za-z_]+)(.*?)-?%\}", re.S)
_MARKER = re.compile(r"\{#-?\s*promptslim:\s*([A-Za-z_-]*)\s*-?#\}")
_ROLE = re.compile(r"\{#-?\s*role:")
_BULLET = re.compile(r"^(\s*)([-*•+]|\d{1,3}[.)])\s+\S")
_HEADING = re.compile(r"^\s*(#{1,6}\s+\S.*|[^.!?{}]{1,60}:|[=\-*_]{3,}|</?[A-Za-z_][\w-]*>)\s*$")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+(?=[A-Z0-9\"'(\[{])")
_ABBREVIATIONS = re.compile(r"(?:\b(?:e\.g|i\.e|etc|vs|cf|approx|incl|Dr|Mr|Mrs|Ms|Prof|St|No|Inc|Ltd|Co)\.|\b[A-Z]\.)[\"')\]]*\s+$")
_BLOCKS = {"if", "for", "macro", "call", "filter", "with", "block", "raw", "autoescape", "trans"}
_UNIT_BLOCKS = {"if", "for"}


@dataclass(frozen=True)
class Unit:
    """One removable instruction: its 1-based id, first source line, text, and where it lies in the source."""

    id: int
    line: int
    text: str
    kind: str  # bullet | sentence | block | group
    spans: tuple[tuple[int, int], ...]
    pinned: bool = False


@dataclass(frozen=True)
class Fixed:
    """Text that is never removed: headings, variable lines, role markers, statements."""

    line: int
    text: str
    kind: str  # heading | variable | role | statement


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _line_starts(source: str) -> list[int]:
    starts = [0]
    for match in re.finditer("\n", source):
        starts.append(match.end())
    if starts[-1] == len(source) and len(starts) > 1:
        starts.pop()
    return starts


def _chunks(source: str, starts: list[int], rel: str) -> list[tuple[int, int]]:
    """Group lines so that no Jinja span and no block statement crosses a chunk border."""
    n = len(starts)
    line_of = _line_index(starts)
    join_to = list(range(n))  # join_to[i] = last line that must stay with line i
    for match in _SPAN.finditer(source):
        a, b = line_of(match.start()), line_of(match.end() - 1)
        join_to[a] = max(join_to[a], b)
    stack: list[tuple[str, int]] = []
    for match in _TAG.finditer(source):
        if match.group(0).startswith("{#"):
            continue
        name = match.group(1)
        line = line_of(match.start())
        if name in _BLOCKS or (name == "set" and "=" not in match.group(2)):
            stack.append((name, line))
        elif name.startswith("end"):
            if not stack or stack[-1][0] != name[3:]:
                raise InputError(f"{rel}:{line + 1}: unexpected '{{% {name} %}}'")
            _, opened = stack.pop()
            join_to[opened] = max(join_to[opened], line)
    if stack:
        name, line = stack[-1]
        raise InputError(f"{rel}:{line + 1}: '{{% {name} %}}' is never closed")
    chunks, i = [], 0
    while i < n:
        end, j = join_to[i], i
        while j <= end:
            end = max(end, join_to[j])
            j += 1
        chunks.append((i, end))
        i = end + 1
    return chunks


def _line_index(starts: list[int]):
    return lambda offset: bisect.bisect_right(starts, offset) - 1


def _without_spans(text: str) -> str:
    return _SPAN.sub("", text)


def segment(source: str, rel: str) -> tuple[list[Unit], list[Fixed]]:
    """Units and fixed parts of a template, in document order."""
    starts = _line_starts(source) if source else []
    # ends[i]: offset just past line i's text, without its newline
    ends = [starts[i + 1] - 1 if i + 1 < len(starts) else len(source) - source.endswith("\n")
            for i in range(len(starts))]
    full_end = [starts[i + 1] if i + 1 < len(starts) else len(source) for i in range(len(starts))]
    units: list[Unit] = []
    fixed: list[Fixed] = []
    pending_keep = False
    group_start: int | None = None
    group_lines: tuple[int, int] | None = None
    paragraph: list[tuple[int, int]] = []

    def add(kind: str, first_line: int, spans: list[tuple[int, int]], text: str) -> None:
        nonlocal pending_keep
        units.append(Unit(id=len(units) + 1, line=first_line + 1, text=_collapse(text), kind=kind,
                          spans=tuple(spans), pinned=pending_keep))
        pending_keep = False

    def flush_paragraph() -> None:
        if paragraph:
            _sentences(source, paragraph, starts, ends, add)
            paragraph.clear()

    for first, last in _chunks(source, starts, rel):
        text = source[starts[first]:ends[last]]
        stripped = text.strip()
        whole = (starts[first], full_end[last])
        marker = _MARKER.fullmatch(stripped)
        if group_start is not None and not (marker and marker.group(1) == "end"):
            group_lines = (group_start if group_lines is None else group_lines[0], last)
            continue
        if not stripped:
            flush_paragraph()
            continue
        if marker:
            flush_paragraph()
            kind = marker.group(1)
            if kind == "keep":
                pending_keep = True
            elif kind == "unit":
                group_start, group_lines = first + 1, None
            elif kind == "end":
                if group_start is None:
                    raise InputError(f"{rel}:{first + 1}: 'promptslim: end' without 'promptslim: unit'")
                if group_lines is not None:
                    a, b = group_lines
                    add("group", a, [(starts[a], full_end[b])], source[starts[a]:ends[b]])
                group_start, group_lines = None, None
            else:
                raise InputError(f"{rel}:{first + 1}: unknown marker 'promptslim: {kind}' (known: keep, unit, end)")
            continue
        if not _without_spans(stripped).strip():
            flush_paragraph()
            if _ROLE.match(stripped):
                fixed.append(Fixed(first + 1, stripped, "role"))
            elif stripped.startswith("{%"):
                fixed.append(Fixed(first + 1, _collapse(stripped), "statement"))
            elif stripped.startswith("{{"):
                fixed.append(Fixed(first + 1, _collapse(stripped), "variable"))
            continue  # comment-only lines render nothing
        tag = _TAG.match(stripped)
        if tag and stripped.startswith("{%"):
            flush_paragraph()
            if tag.group(1) in _UNIT_BLOCKS:
                add("block", first, [whole], text)
            else:
                fixed.append(Fixed(first + 1, _collapse(stripped), "statement"))
            continue
        literal = _without_spans(stripped).strip()
        if "{{" in stripped and (not re.search(r"[A-Za-z]", literal) or
                                 (literal.endswith(":") and len(literal.split()) <= 6)):
            flush_paragraph()
            fixed.append(Fixed(first + 1, _collapse(stripped), "variable"))
            continue
        if "{{" not in stripped and "{%" not in stripped and _HEADING.match(stripped):
            flush_paragraph()
            fixed.append(Fixed(first + 1, _collapse(stripped), "heading"))
            continue
        bullet = _BULLET.match(text)
        if bullet:
            flush_paragraph()
            add("bullet", first, [whole], text)
            continue
        if units and units[-1].kind == "bullet" and not paragraph and _continues(units[-1], starts, text, source):
            prev = units.pop()
            a, _ = prev.spans[0]
            units.append(Unit(prev.id, prev.line, _collapse(prev.text + " " + text), "bullet",
                              ((a, whole[1]),), prev.pinned))
            continue
        paragraph.append((first, last))
    flush_paragraph()
    if group_start is not None:
        raise InputError(f"{rel}:{group_start}: 'promptslim: unit' is never closed with 'promptslim: end'")
    return units, fixed


def _continues(prev: Unit, starts: list[int], text: str, source: str) -> bool:
    """An indented line right after a bullet continues it."""
    a, b = prev.spans[0]
    indent = len(text) - len(text.lstrip())
    bullet_indent = len(source[a:b]) - len(source[a:b].lstrip())
    return indent > bullet_indent and source[b:b + len(text)] == text


def _sentences(source: str, paragraph: list[tuple[int, int]], starts: list[int], ends: list[int], add) -> None:
    """Each sentence of a prose paragraph is a unit; a paragraph with a {% tag %} stays whole."""
    first, last = paragraph[0][0], paragraph[-1][1]
    begin, stop = starts[first], ends[last]
    text = source[begin:stop]
    if "{%" in text:
        end = starts[last + 1] if last + 1 < len(starts) else len(source)
        add("block", first, [(begin, end)], text)
        return
    masked = _SPAN.sub(lambda m: "x" * len(m.group(0)), text)
    lead = len(masked) - len(masked.lstrip())
    ends = [m.end() for m in _SENTENCE_END.finditer(masked) if not _ABBREVIATIONS.search(masked[:m.end()])]
    cuts = [lead] + ends + [len(text)]
    for a, b in zip(cuts, cuts[1:]):
        sentence = text[a:b]
        if sentence.strip():
            line = bisect.bisect_right(starts, begin + a) - 1
            add("sentence", line, [(begin + a, begin + b)], sentence)


def remove_units(source: str, units: list[Unit]) -> str:
    """Remove the units' spans; lines left empty by a removal go, and no new blank-line runs appear."""
    if not units:
        return source
    removed = bytearray(len(source))
    for unit in units:
        for a, b in unit.spans:
            removed[a:b] = b"\x01" * (b - a)
    out: list[str] = []
    dropped_since_kept = False
    pos = 0
    for line in source.splitlines(keepends=True):
        a, b = pos, pos + len(line)
        pos = b
        mask = removed[a:b]
        if not any(mask):
            if dropped_since_kept and not line.strip() and (not out or not out[-1].strip()):
                dropped_since_kept = False
                continue  # would double a blank line
            out.append(line)
            if line.strip():
                dropped_since_kept = False
            continue
        body = line.rstrip("\r\n")
        newline = line[len(body):]
        kept = "".join(ch for ch, gone in zip(body, mask) if not gone)
        if not kept.strip():
            dropped_since_kept = True
            continue
        out.append(kept.rstrip(" \t") + newline)
        dropped_since_kept = False
    return "".join(out)
