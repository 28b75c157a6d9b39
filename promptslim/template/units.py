"""Split a prompt's literal text into instruction units, and remove any set of them safely.

Units are whole lines (bullets with what is nested under them, `{% if/for %}` blocks, code fences, JSON, YAML,
tables, few-shot examples, author groups) or character spans (sentences of prose). No unit crosses a Jinja tag, a
code fence, a bracket or XML tag pair, or a table (see layout.py, pairs.py), so removing any subset of units
leaves the template compiling and every fence, bracket, tag and table balanced. A unit's spans are exactly what
its removal deletes: a sentence holding one end of a pair whose other end lies elsewhere is fixed, never holed.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, replace

from promptslim.template import blocks, pairs
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
    kind: str  # bullet | sentence | block | group | code | json | yaml | example | table | line
    spans: tuple[tuple[int, int], ...]
    pinned: bool = False
    lead: tuple[int, int] | None = None
    lead_size: int = 0


@dataclass(frozen=True)
class Fixed:
    """Text that is never removed: headings, variable lines, role markers, statements, XML tags."""

    line: int
    text: str
    kind: str  # heading | variable | role | statement | tag | fence | text


def _collapse(text: str) -> str:
    return " ".join(text.split())



LARGE_SHARE = 0.25  # a unit holding more of the prompt's tokens than this is worth a warning
LARGE_FLOOR = 100  # below this many tokens a quarter is one sentence: no warning
_WHY = {
    "code": "a code fence is one unit, its content is never cut (a fence of prose — ```text, ```md or no language — "
            "is cut into units)",
    "json": "a JSON value is one unit", "yaml": "a YAML block is one unit", "table": "a table is one unit",
    "example": "a few-shot example (Input/Output, Q/A, User/Assistant, Example N:) is one unit",
    "block": "a {% if %} or {% for %} block is one unit",
    "group": "your {# promptslim: unit #} … {# promptslim: end #} markers make it one unit",
    "bullet": "a list item is one unit with its wrapped lines and what is nested under it",
    "sentence": "it is one sentence: only . ! ? before a capital letter (or 。！？) end one",
    "line": "a one-line XML element is one unit",
}


def large_units(rel: str, units: list[Unit] | tuple[Unit, ...], tokens: list[int], total: int) -> list[str]:
    """A warning for each unit holding more than a quarter of the prompt's tokens, saying why it is one unit."""
    if total < LARGE_FLOOR:
        return []
    return [f"{rel}:{u.line}: unit {u.id} holds {n / total:.0%} of the prompt's {total} tokens — "
            f"{_WHY.get(u.kind, 'it is one unit')}; the ablation can only keep or drop it whole"
            for u, n in zip(units, tokens) if n > LARGE_SHARE * total]


def segment(source: str, rel: str, plain: bool = False) -> tuple[list[Unit], list[Fixed]]:
    """Units and fixed parts of a template (or, with `plain`, a prompt with no template language)."""
    return _Segmenter(source, rel, plain).run()


@dataclass(frozen=True)
class _Chunk:
    """Lines [first, last] joined by layout.joins, with the views of them every rule reads."""

    first: int
    last: int
    text: str
    stripped: str
    mstripped: str  # stripped, with Jinja markup masked
    literal: str  # mstripped without its Jinja markup: the text a reader sees
    whole: list[tuple[int, int]]  # the span removing the chunk deletes (its line ends too)
    marker: re.Match[str] | None  # a `{# promptslim: … #}` marker alone on the chunk


class _Segmenter:
    def __init__(self, source: str, rel: str, plain: bool) -> None:
        self.source, self.rel = source, rel
        self.lines = Lines(source)
        self.scan = scan(source, rel, plain)
        self.layout = joins(source, self.lines, self.scan, rel)
        self.partner = pairs.bracket_partners(self.layout.paired)
        self.paired = sorted(self.partner)
        self.tags = pairs.tag_partners(self.layout.paired)
        self.tagged = sorted(self.tags)
        self.frames = {f.open: f.close for f in self.layout.fences if f.container}
        self.frames.update({c: o for o, c in list(self.frames.items())})
        self.units: list[Unit] = []
        self.fixed: list[Fixed] = []
        self.pending_keep = False
        self.paragraph: list[tuple[int, int]] = []
        self.lead: tuple[int, int] | None = None
        self.members: list[int] = []
        self.group_start: int | None = None  # the line after an open `promptslim: unit` marker
        self.group_lines: tuple[int, int] | None = None  # the group's lines so far
        self._last_letter: dict[int, int] = {}

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
        """Each chunk of joined lines in order: inside a marker group it joins the group, else it is a marker, a
        line of template markup only, or a line with literal text."""
        for first, last in closure(self.layout.join):
            chunk = self.chunk(first, last)
            if self.group_start is not None and not (chunk.marker and chunk.marker.group(1) == "end"):
                self.group_lines = (self.group_start if self.group_lines is None else self.group_lines[0], last)
            elif not chunk.stripped:
                self.close_lead()
            elif chunk.marker:
                self.marker(chunk)
            elif not chunk.literal:
                self.markup(chunk)
            else:
                self.content(chunk)
        self.close_lead()
        if self.group_start is not None:
            raise InputError(f"{self.rel}:{self.group_start}: 'promptslim: unit' is never closed with "
                             "'promptslim: end'")
        return self.units, self.fixed

    def chunk(self, first: int, last: int) -> _Chunk:
        """Lines [first, last] with the views every rule reads: the text, its masked form, and its literal part."""
        lines = self.lines
        text = self.source[lines.starts[first]:lines.ends[last]]
        stripped = text.strip()
        mstripped = self.scan.masked[lines.starts[first]:lines.ends[last]].strip()
        literal = mstripped.replace(JINJA, "").replace(STATEMENT, "").strip()
        return _Chunk(first, last, text, stripped, mstripped, literal, [(lines.starts[first], lines.full[last])],
                      MARKER.fullmatch(stripped) if not literal else None)

    def marker(self, c: _Chunk) -> None:
        """A `{# promptslim: keep|unit|end #}` line: pin the next unit, or open or close an author group."""
        self.flush()
        kind = c.marker.group(1)
        if kind == "keep":
            self.pending_keep = True
        elif kind == "unit":
            self.group_start, self.group_lines = c.first + 1, None
        elif kind == "end":
            if self.group_start is None:
                raise InputError(f"{self.rel}:{c.first + 1}: 'promptslim: end' without 'promptslim: unit'")
            if self.group_lines is not None:
                lines, (a, b) = self.lines, self.group_lines
                self.add("group", a, [(lines.starts[a], lines.full[b])], self.source[lines.starts[a]:lines.ends[b]])
            self.group_start, self.group_lines = None, None
        else:
            raise InputError(f"{self.rel}:{c.first + 1}: unknown marker 'promptslim: {kind}' "
                             "(known: keep, unit, end)")

    def markup(self, c: _Chunk) -> None:
        """A line of template markup with no literal text: a role, an {% if/for %} block, a statement, a variable,
        or a comment (which renders nothing)."""
        stripped = c.stripped
        if ROLE.match(stripped):
            self.add_fixed(c.first, stripped, "role")
        elif c.mstripped.startswith(STATEMENT) and TAG.match(stripped) and TAG.match(stripped).group(1) in UNIT_BLOCKS:
            self.flush()
            self.add("block", c.first, c.whole, c.text)
        elif c.mstripped.startswith(STATEMENT) or stripped.startswith("{%"):
            self.add_fixed(c.first, _collapse(stripped), "statement")
        elif stripped.startswith("{{"):
            self.add_fixed(c.first, _collapse(stripped), "variable")
        else:
            self.flush()  # comment-only lines render nothing

    def content(self, c: _Chunk) -> None:
        """A line with literal text: a statement, a whole-line unit (fence, table, example, bullet, JSON, element),
        a variable line, a heading, letterless text, or prose that joins the paragraph."""
        first, last, text, stripped, mstripped = c.first, c.last, c.text, c.stripped, c.mstripped
        if mstripped.startswith(STATEMENT):
            self.flush()
            tag = TAG.match(stripped)
            if tag and tag.group(1) in UNIT_BLOCKS:
                self.add("block", first, c.whole, text)
            else:
                self.add_fixed(first, _collapse(stripped), "statement")
            return
        kind = self.layout.cls[first]
        if kind == "fencemark" or (kind == "fence" and first == last) or self.unframed(first, last):
            self.add_fixed(first, _collapse(stripped), "fence")  # a container's frame, or a fence never closed
        elif kind == "fence":
            self.line_unit("code", first, c.whole, text, fenced=True)
        elif kind == "table":
            self.line_unit("table", first, c.whole, text)
        elif first in self.layout.kinds:
            self.line_unit(self.layout.kinds[first], first, c.whole, text)
        elif JINJA in mstripped and (not re.search(r"[A-Za-z]", c.literal) or
                                      (c.literal.endswith(":") and len(c.literal.split()) <= 6)):
            self.add_fixed(first, _collapse(stripped), "variable")
        elif kind == "head" and first == last and self.heading(c):
            pass  # fixed as a heading or tag line; a bold sentence falls through: it is an instruction
        elif kind == "bullet":
            self.line_unit("bullet", first, c.whole, text)
        elif mstripped[:1] in "{[" and mstripped.rstrip(",")[-1:] in "}]":
            self.line_unit("json", first, c.whole, text)
        elif ELEMENT_LINE.match(mstripped):
            self.line_unit("line", first, c.whole, text)
        elif not LETTER.search(c.literal):
            self.add_fixed(first, _collapse(stripped), "text")  # "2." or "); }" alone: no instruction
        elif first == last and blocks.code_like(mstripped):
            self.flush()  # a line of code ("namespace functions {") is no part of the prose around it
            self.paragraph.append((first, last))
            self.flush()
        else:
            self.paragraph.append((first, last))

    def heading(self, c: _Chunk) -> bool:
        """Fix a one-line heading (or tag line) and open a lead-in when it ends in a colon; False for a bold
        sentence, which is an instruction, not a heading."""
        bold = BOLD_HEADING.match(c.mstripped)
        if bold and bold.group("inner").rstrip().endswith((".", "!", "?")):
            return False
        if TAG_LINE.match(c.mstripped):
            self.add_fixed(c.first, _collapse(c.stripped), "tag")
            return True
        self.add_fixed(c.first, _collapse(c.stripped), "heading")
        lead_in = c.mstripped.endswith((":", "：")) or (bold and bold.group("colon")) or \
            (bold and bold.group("inner").rstrip().endswith(":"))
        begin, stop = c.whole[0][0], c.whole[0][0] + len(c.text)
        if lead_in and not self.far(begin, stop) and not self.far(begin, stop, self.tags, self.tagged):
            self.lead = c.whole[0]  # (a lead-in holding one end of a pair never goes with its units)
        return True

    def unframed(self, first: int, last: int) -> bool:
        """Does the chunk hold one fence line of a container whose other fence line lies outside it?"""
        return any(not first <= self.frames[k] <= last for k in range(first, last + 1) if k in self.frames)

    def line_unit(self, kind: str, first: int, whole: list[tuple[int, int]], text: str, fenced: bool = False) -> None:
        """Whole lines as one unit; without a letter they are no instruction, so they stay fixed. Lines that hold
        one side of an XML tag pair (`- <rules>` closed lines later) frame a section: fixed, as a tag line is.
        A fenced block's content is code: nothing in it pairs with anything outside."""
        self.flush()
        begin, stop = whole[0][0], whole[0][0] + len(text)
        if not fenced and self.far(begin, stop, self.tags, self.tagged):
            self.add_fixed(first, _collapse(text), "tag")
        elif not fenced and self.far(begin, stop):
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
        """Each sentence of a prose paragraph is a unit; a paragraph with a {% tag %} stays whole.

        No cut falls inside a pair (brackets, tags, inline code, bold, raw). A sentence holding a bracket whose
        partner lies in another paragraph is fixed text; a tag whose partner lies elsewhere may stay behind only
        at a sentence's edge (`<rules>Be brief.`), as a fixed tag; anywhere else the sentence is fixed.
        """
        lines = self.lines
        first, last = paragraph[0][0], paragraph[-1][1]
        begin, stop = lines.starts[first], lines.ends[last]
        text, masked = self.source[begin:stop], self.scan.masked[begin:stop]
        if STATEMENT in masked:
            self.add("block", first, [(begin, lines.full[last])], text)
            return
        keep = [(oa - begin, cb - begin) for oa, _, _, cb in self._raws(begin, stop)]
        keep += [(a - begin, b - begin) for a, b in self._inline(begin, stop)]
        for partner, positions, width in ((self.partner, self.paired, None), (self.tags, self.tagged, "tag")):
            i = bisect.bisect_left(positions, begin)
            while i < len(positions) and positions[i] < stop:
                p, q = positions[i], partner[positions[i]]
                if p < q < stop:
                    keep.append((p - begin, q + (1 if width is None else self._tag_end(q) - q) - begin))
                i += 1
        intervals = sent.protected(masked, keep)
        lead = len(masked) - len(masked.lstrip())
        cuts = [lead] + [c for c in sent.allowed(sent.sentence_cuts(masked), intervals)
                         if c > lead and self._lettered(begin + c)] + [len(text)]
        pieces: list[tuple[int, int]] = []
        carry: int | None = None
        for a, b in zip(cuts, cuts[1:]):
            a = a if carry is None else carry
            if not LETTER.search(text, a, b):
                carry = a  # "2." or "); }" alone is no instruction: it goes with the next sentence
                continue
            carry = None
            pieces.append((a, b))
        if carry is not None:
            if pieces:
                pieces[-1] = (pieces[-1][0], len(text))
            elif text[carry:].strip():
                self.add_fixed(first, _collapse(text), "text")
                return
        for a, b in pieces:
            self.piece(begin, a, b)

    def piece(self, begin: int, a: int, b: int) -> None:
        """One sentence [a, b) of the paragraph starting at `begin`: a unit, or fixed text when it holds a pair end
        whose other end lies outside it."""
        text = self.source
        a, b = begin + a, begin + b
        tags = self.far(a, b, self.tags, self.tagged) if self.tagged else []
        peeled = False
        while tags:  # a tag framing a section from the sentence's edge stays behind, as a fixed tag
            body = text[a:b]
            start, end = a + len(body) - len(body.lstrip()), a + len(body.rstrip())
            if tags[0] == start:
                stop = self._tag_end(start)
                self.fixed.append(Fixed(self.lines.of(start) + 1, text[start:stop], "tag"))
                a = stop
            elif self._tag_end(tags[-1]) == end:
                self.fixed.append(Fixed(self.lines.of(tags[-1]) + 1, text[tags[-1]:end], "tag"))
                b = tags[-1]
            else:
                break
            peeled = True
            tags = self.far(a, b, self.tags, self.tagged)
        body = text[a:b]
        if peeled and not body.strip():
            return
        if tags or (self.paired and self.far(a, b)) or (peeled and not LETTER.search(body)):
            self.fixed.append(Fixed(self.lines.of(a) + 1, _collapse(body), "text"))
            return
        self.add("sentence", self.lines.of(a), [(a, b)], body)

    def _lettered(self, at: int) -> bool:
        """Does a letter follow `at` on its line? A cut before a letterless rest ("你好。{~~~") would leave that rest
        alone on its line once the sentence before it goes, where it reads as a fixed line, not this unit."""
        line = self.lines.of(at)
        if line not in self._last_letter:
            a, b = self.lines.starts[line], self.lines.ends[line]
            k = b - 1
            while k >= a and not LETTER.match(self.source, k):
                k -= 1
            self._last_letter[line] = k
        return at <= self._last_letter[line]

    def _tag_end(self, at: int) -> int:
        return pairs.XML_TAG.match(self.layout.paired, at).end()

    def _raws(self, begin: int, stop: int) -> list[tuple[int, int, int, int]]:
        raws, i = [], bisect.bisect_left(self.scan.raws, (begin,))
        while i < len(self.scan.raws) and self.scan.raws[i][0] < stop:
            if self.scan.raws[i][3] <= stop:
                raws.append(self.scan.raws[i])
            i += 1
        return raws

    def _inline(self, begin: int, stop: int) -> list[tuple[int, int]]:
        spans = self.layout.inline
        i = bisect.bisect_left(spans, (begin,))
        out = []
        while i < len(spans) and spans[i][0] < stop:
            out.append(spans[i])
            i += 1
        return out


_GROUP_LINE = re.compile(r"[ \t]*\{#-?\s*promptslim:\s*(unit|end)\s*-?#\}[ \t]*\r?\n?")


def _emptied_frames(texts: list[str], gone: list[bool]) -> None:
    """Mark as gone each `promptslim: unit` … `end` pair and each fence whose content all went (blank lines aside):
    an empty pair or fence left in a slim prompt is noise. Inner frames first, so an outer one can empty too."""
    frames: list[tuple[int, int]] = []
    opened = None
    for i, text in enumerate(texts):
        group = _GROUP_LINE.fullmatch(text)
        if group and group.group(1) == "unit":
            opened = i
        elif group and opened is not None:
            frames.append((opened, i))
            opened = None
    fences = blocks.find_fences([t.rstrip("\r\n") for t in texts])
    frames += [(f.open, f.close) for f in reversed(fences) if f.close >= 0]
    for first, last in frames:
        inside = range(first + 1, last)
        if not gone[first] and not gone[last] and any(gone[k] for k in inside) and \
                all(gone[k] or not texts[k].strip() for k in inside):
            for k in range(first, last + 1):
                gone[k] = True


def remove_units(source: str, units: list[Unit]) -> str:
    """Remove the units' spans (and a lead-in whose units all go); emptied lines go, no new blank-line runs, and a
    `promptslim: unit` … `end` pair or a fence whose content all went goes too (noise in a slim prompt)."""
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
    texts = source.splitlines(keepends=True)
    starts = [0]
    for text in texts:
        starts.append(starts[-1] + len(text))
    kept_text = []
    for i, text in enumerate(texts):
        mask = removed[starts[i]:starts[i + 1]]
        body = text.rstrip("\r\n")
        kept_text.append(None if not any(mask) else "".join(ch for ch, g in zip(body, mask) if not g))
    gone = [k is not None and not k.strip() for k in kept_text]
    _emptied_frames(texts, gone)
    out: list[str] = []
    dropped_since_kept = False
    split_tables = False  # dropped lines that were no table rows: two tables they separated must stay two
    for line, kept, dropped in zip(texts, kept_text, gone):
        if dropped:
            dropped_since_kept = True
            split_tables = split_tables or not line.lstrip().startswith("|")
            continue
        if kept is None:
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
        out.append(kept.rstrip(" \t") + line[len(line.rstrip("\r\n")):])
        dropped_since_kept = False
        split_tables = False
    return "".join(out)
