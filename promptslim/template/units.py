"""Split a prompt's literal text into instruction units, and remove any set of them safely.

Units are whole lines (bullets, `{% if/for %}` blocks, code fences, JSON, tables, author groups)
or character spans (sentences of prose). No unit crosses a Jinja tag, a code fence, a bracket
pair spanning lines, a table or an XML tag on its own line (see layout.py), so removing any
subset of units leaves the template parsing and every fence, bracket, tag and table balanced.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, replace

from promptslim.template import sentences as sent
from promptslim.errors import InputError
from promptslim.template.layout import (
    BOLD_HEADING,
    ELEMENT_LINE,
    JINJA,
    LETTER,
    MARKER,
    ROLE,
    STATEMENT,
    TAG,
    TAG_LINE,
    UNIT_BLOCKS,
    Lines,
    closure,
    joins,
    scan,
)


@dataclass(frozen=True)
class Unit:
    """One removable instruction: its 1-based id, first source line, text, and where it lies in the source.

    `lead` is the span of a lead-in line ("Examples:") that introduces this unit and `lead_size`
    other units with it; removing all of them removes the lead-in too, so it never dangles.
    """

    id: int
    line: int
    text: str
    kind: str  # bullet | sentence | block | group | code | json | table | line
    spans: tuple[tuple[int, int], ...]
    pinned: bool = False
    lead: tuple[int, int] | None = None
    lead_size: int = 0


@dataclass(frozen=True)
class Fixed:
    """Text that is never removed: headings, variable lines, role markers, statements, XML tags."""

    line: int
    text: str
    kind: str  # heading | variable | role | statement | tag | text


def _collapse(text: str) -> str:
    return " ".join(text.split())



_BRACKETS = re.compile(r"[()\[\]{}]")
_OPENS = {")": "(", "]": "[", "}": "{"}


def partners(masked: str) -> dict[int, int]:
    """Each bracket's partner across the whole template (they nest document-wide), for brackets that pair at all.

    Why: a sentence or line that holds one end of a pair whose other end lies outside it (`Be brief.(`, a blank
    line, `)`) would leave the other end unmatched when removed; that end stays behind as fixed text instead.
    """
    out: dict[int, int] = {}
    stack: list[tuple[str, int]] = []
    for m in _BRACKETS.finditer(masked):
        ch, at = m.group(0), m.start()
        if ch in "([{":
            stack.append((ch, at))
        elif stack and stack[-1][0] == _OPENS[ch]:
            a = stack.pop()[1]
            out[a], out[at] = at, a
    return out


def tag_partners(masked: str) -> dict[int, int]:
    """Each XML tag's partner across the whole template (`<rules>` … `</rules>`, nesting), by the tags' starts.

    A placeholder that never closes (`ORDER-<n>`) has none: a line holding it is an instruction like any other.
    """
    out: dict[int, int] = {}
    stack: list[tuple[str, int]] = []
    for m in sent.XML_TAG.finditer(masked):
        closing, name, selfclosing = m.group(1), m.group(2), m.group(3)
        if selfclosing:
            continue
        if not closing:
            stack.append((name, m.start()))
        elif stack and stack[-1][0] == name:
            a = stack.pop()[1]
            out[a], out[m.start()] = m.start(), a
    return out


def segment(source: str, rel: str, plain: bool = False) -> tuple[list[Unit], list[Fixed]]:
    """Units and fixed parts of a template (or, with `plain`, a prompt with no template language)."""
    return _Segmenter(source, rel, plain).run()


class _Segmenter:
    def __init__(self, source: str, rel: str, plain: bool) -> None:
        self.source, self.rel = source, rel
        self.lines = Lines(source)
        self.scan = scan(source, rel, plain)
        self.partner = partners(self.scan.masked)
        self.paired = sorted(self.partner)
        self.tags = tag_partners(self.scan.masked)
        self.tagged = sorted(self.tags)
        self.units: list[Unit] = []
        self.fixed: list[Fixed] = []
        self.pending_keep = False
        self.paragraph: list[tuple[int, int]] = []
        self.lead: tuple[int, int] | None = None
        self.members: list[int] = []

    def add(self, kind: str, first_line: int, spans: list[tuple[int, int]], text: str) -> None:
        self.units.append(Unit(id=len(self.units) + 1, line=first_line + 1, text=_collapse(text), kind=kind,
                               spans=tuple(spans), pinned=self.pending_keep))
        self.pending_keep = False
        if self.lead is not None:
            self.members.append(len(self.units) - 1)

    def add_fixed(self, line: int, text: str, kind: str) -> None:
        self.close_lead()
        self.fixed.append(Fixed(line + 1, text, kind))

    def close_lead(self) -> None:
        self.flush()
        if self.lead is not None:
            for i in self.members:
                self.units[i] = replace(self.units[i], lead=self.lead, lead_size=len(self.members))
        self.lead, self.members = None, []

    def flush(self) -> None:
        if self.paragraph:
            paragraph, self.paragraph = self.paragraph, []
            self.sentences(paragraph)

    def run(self) -> tuple[list[Unit], list[Fixed]]:
        source, lines, masked = self.source, self.lines, self.scan.masked
        join, cls = joins(source, lines, self.scan, self.rel)
        group_start: int | None = None
        group_lines: tuple[int, int] | None = None
        for first, last in closure(join):
            text = source[lines.starts[first]:lines.ends[last]]
            mtext = masked[lines.starts[first]:lines.ends[last]]
            stripped, mstripped = text.strip(), mtext.strip()
            literal = mstripped.replace(JINJA, "").replace(STATEMENT, "").strip()
            whole = [(lines.starts[first], lines.full[last])]
            marker = MARKER.fullmatch(stripped) if not literal else None
            if group_start is not None and not (marker and marker.group(1) == "end"):
                group_lines = (group_start if group_lines is None else group_lines[0], last)
                continue
            if not stripped:
                self.close_lead()
                continue
            if marker:
                self.flush()
                kind = marker.group(1)
                if kind == "keep":
                    self.pending_keep = True
                elif kind == "unit":
                    group_start, group_lines = first + 1, None
                elif kind == "end":
                    if group_start is None:
                        raise InputError(f"{self.rel}:{first + 1}: 'promptslim: end' without 'promptslim: unit'")
                    if group_lines is not None:
                        a, b = group_lines
                        self.add("group", a, [(lines.starts[a], lines.full[b])],
                                 source[lines.starts[a]:lines.ends[b]])
                    group_start, group_lines = None, None
                else:
                    raise InputError(f"{self.rel}:{first + 1}: unknown marker 'promptslim: {kind}' "
                                     "(known: keep, unit, end)")
                continue
            if not literal:
                if ROLE.match(stripped):
                    self.add_fixed(first, stripped, "role")
                elif mstripped.startswith(STATEMENT) and TAG.match(stripped) \
                        and TAG.match(stripped).group(1) in UNIT_BLOCKS:
                    self.flush()
                    self.add("block", first, whole, text)
                elif mstripped.startswith(STATEMENT) or stripped.startswith("{%"):
                    self.add_fixed(first, _collapse(stripped), "statement")
                elif stripped.startswith("{{"):
                    self.add_fixed(first, _collapse(stripped), "variable")
                else:
                    self.flush()  # comment-only lines render nothing
                continue
            if mstripped.startswith(STATEMENT):
                self.flush()
                tag = TAG.match(stripped)
                if tag and tag.group(1) in UNIT_BLOCKS:
                    self.add("block", first, whole, text)
                else:
                    self.add_fixed(first, _collapse(stripped), "statement")
                continue
            kind = cls[first]
            if kind == "fence" and first < last:
                self.line_unit("code", first, whole, text)
                continue
            if kind == "table":
                self.line_unit("table", first, whole, text)
                continue
            if JINJA in mstripped and (not re.search(r"[A-Za-z]", literal) or
                                        (literal.endswith(":") and len(literal.split()) <= 6)):
                self.add_fixed(first, _collapse(stripped), "variable")
                continue
            if kind == "head" and first == last:
                bold = BOLD_HEADING.match(mstripped)
                if bold and bold.group("inner").rstrip().endswith((".", "!", "?")):
                    pass  # a bold sentence is an instruction, not a heading
                elif TAG_LINE.match(mstripped):
                    self.add_fixed(first, _collapse(stripped), "tag")
                    continue
                else:
                    self.add_fixed(first, _collapse(stripped), "heading")
                    if mstripped.endswith(":") or (bold and bold.group("colon")) or \
                            (bold and bold.group("inner").rstrip().endswith(":")):
                        self.lead = whole[0]
                    continue
            if kind == "bullet":
                self.line_unit("bullet", first, whole, text)
                continue
            if mstripped[:1] in "{[" and mstripped.rstrip(",")[-1:] in "}]":
                self.line_unit("json", first, whole, text)
                continue
            if ELEMENT_LINE.match(mstripped) or kind == "fence":
                self.line_unit("line", first, whole, text)
                continue
            if not LETTER.search(literal):
                self.add_fixed(first, _collapse(stripped), "text")  # "2." or "); }" alone: no instruction
                continue
            self.paragraph.append((first, last))
        self.close_lead()
        if group_start is not None:
            raise InputError(f"{self.rel}:{group_start}: 'promptslim: unit' is never closed with 'promptslim: end'")
        return self.units, self.fixed

    def line_unit(self, kind: str, first: int, whole: list[tuple[int, int]], text: str) -> None:
        """Whole lines as one unit; without a letter they are no instruction, so they stay fixed. Lines that hold
        one side of an XML tag pair (`- <rules>` closed lines later) frame a section: fixed, as a tag line is."""
        self.flush()
        begin, stop = whole[0][0], whole[0][0] + len(text)
        if kind != "code" and self.far(begin, stop, self.tags, self.tagged):
            self.add_fixed(first, _collapse(text), "tag")
        elif kind != "code" and self.far(begin, stop):
            self.add_fixed(first, _collapse(text), "text")
        elif LETTER.search(text):
            self.add(kind, first, whole, text)
        else:
            self.add_fixed(first, _collapse(text), "text")

    def far(self, begin: int, stop: int, partner: dict[int, int] | None = None,
            positions: list[int] | None = None) -> list[int]:
        """Positions in [begin, stop) of brackets (or, given, tags) whose partner lies outside it."""
        partner = self.partner if partner is None else partner
        positions = self.paired if positions is None else positions
        i, j = bisect.bisect_left(positions, begin), bisect.bisect_left(positions, stop)
        return [p for p in positions[i:j] if not begin <= partner[p] < stop]

    def sentences(self, paragraph: list[tuple[int, int]]) -> None:
        """Each sentence of a prose paragraph is a unit; a paragraph with a {% tag %} stays whole."""
        lines = self.lines
        first, last = paragraph[0][0], paragraph[-1][1]
        begin, stop = lines.starts[first], lines.ends[last]
        text, masked = self.source[begin:stop], self.scan.masked[begin:stop]
        if STATEMENT in masked:
            self.add("block", first, [(begin, lines.full[last])], text)
            return
        raws, i = [], bisect.bisect_left(self.scan.raws, (begin,))
        while i < len(self.scan.raws) and self.scan.raws[i][0] < stop:
            oa, _, _, cb = self.scan.raws[i]
            if cb <= stop:
                raws.append((oa - begin, cb - begin))
            i += 1
        intervals, holes = sent.protected(masked, raws)
        far = [(p - begin, p - begin + 1) for p in self.far(begin, stop)]  # its partner is elsewhere: it stays
        holes = sorted(set(holes + far))
        lead = len(masked) - len(masked.lstrip())
        cuts = [lead] + [c for c in sent.allowed(sent.sentence_cuts(masked), intervals) if c > lead] + [len(text)]
        ranges = list(zip(cuts, cuts[1:]))
        pieces = sent.minus_holes(ranges, holes)
        carry: list[tuple[int, int]] = []
        out: list[list[tuple[int, int]]] = []
        for spans in pieces:
            spans = carry + spans
            body = "".join(text[a:b] for a, b in spans)
            if not LETTER.search(body):
                carry = spans  # "2." or "); }" alone is no instruction: it goes with the next sentence
                continue
            carry = []
            out.append(spans)
        if carry and out:
            out[-1] = out[-1] + carry
        elif carry and "".join(text[a:b] for a, b in carry).strip():
            self.add_fixed(first, _collapse(text), "text")
            return
        for spans in out:
            spans = [(a, b) for a, b in spans if a < b]
            line = lines.of(begin + spans[0][0])
            self.add("sentence", line, [(begin + a, begin + b) for a, b in spans],
                     " ".join(text[a:b] for a, b in spans))



def remove_units(source: str, units: list[Unit]) -> str:
    """Remove the units' spans (and a lead-in whose units all go); emptied lines go, no new blank-line runs."""
    if not units:
        return source
    units = list({u.id: u for u in units}.values())
    sizes = {u.lead: u.lead_size for u in units if u.lead is not None}
    removed = bytearray(len(source))
    for unit in units:
        for a, b in unit.spans:
            removed[a:b] = b"\x01" * (b - a)
    for lead, count in Counter(u.lead for u in units if u.lead is not None).items():
        if count >= sizes[lead]:
            removed[lead[0]:lead[1]] = b"\x01" * (lead[1] - lead[0])
    out: list[str] = []
    dropped_since_kept = False
    split_tables = False  # dropped lines that were no table rows: two tables they separated must stay two
    pos = 0
    for line in source.splitlines(keepends=True):
        a, b = pos, pos + len(line)
        pos = b
        mask = removed[a:b]
        if not any(mask):
            if dropped_since_kept and not line.strip() and (not out or not out[-1].strip()):
                dropped_since_kept = False
                continue  # would double a blank line
            if split_tables and line.lstrip().startswith("|") and out and out[-1].lstrip().startswith("|"):
                out.append(line[len(line.rstrip("\r\n")):] or "\n")  # a blank line keeps the tables apart
            split_tables = False
            out.append(line)
            if line.strip():
                dropped_since_kept = False
            continue
        body = line.rstrip("\r\n")
        newline = line[len(body):]
        kept = "".join(ch for ch, gone in zip(body, mask) if not gone)
        if not kept.strip():
            dropped_since_kept = True
            split_tables = split_tables or not body.lstrip().startswith("|")
            continue
        out.append(kept.rstrip(" \t") + newline)
        dropped_since_kept = False
        split_tables = False
    return "".join(out)
