"""Split a prompt's literal text into instruction units, and remove any set of them safely.

Units are whole lines (bullets, `{% if/for %}` blocks, code fences, JSON, tables, author groups)
or character spans (sentences of prose). No unit crosses a Jinja tag, a code fence, a bracket
pair spanning lines, a table or an XML tag on its own line, so removing any subset of units
leaves the template parsing and every fence, bracket, tag and table balanced.
"""

from __future__ import annotations

import bisect
import re
from collections import Counter
from dataclasses import dataclass, replace

from promptslim import sentences as sent
from promptslim.errors import InputError

_SCAN = re.compile(r"(?P<raw>\{%-?\s*raw\s*-?%\})|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")
_TAG = re.compile(r"\{%-?\s*([A-Za-z_]+)(.*?)-?%\}", re.S)
_MARKER = re.compile(r"\{#-?\s*promptslim:\s*([A-Za-z_-]*)\s*-?#\}")
_ROLE = re.compile(r"\{#-?\s*role:")
# In a plain-text prompt only a whole line `{# role: x #}` or `{# promptslim: … #}` is markup.
PLAIN_MARK = re.compile(r"^[ \t]*\{#-?[ \t]*(?:role|promptslim):[^#\n]*?-?#\}[ \t]*(?=\r?$)", re.M)
_BULLET = re.compile(r"^(\s*)([-*•+]|\d{1,3}[.)])\s+\S")
_HEADING = re.compile(r"^\s*(#{1,6}\s+\S.*|[^.!?{}]{1,60}:|[=\-*_]{3,})\s*$")
_BOLD_HEADING = re.compile(r"^\s*(\*\*|__)(?P<inner>[^*_\n]{1,80}?)(\*\*|__)(?P<colon>:?)\s*$")
_TAG_LINE = re.compile(r"^\s*</?[A-Za-z_][\w.:-]*(\s[^<>]*)?/?>\s*$")
_ELEMENT_LINE = re.compile(r"^\s*<([A-Za-z_][\w.:-]*)(\s[^<>]*)?>.*</\1>\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_JSON_TOKEN = re.compile(r'\\.|[{}\[\]"\n]')
_LETTER = re.compile(r"[^\W\d_]")
_BLOCKS = {"if", "for", "macro", "call", "filter", "with", "block", "autoescape", "trans"}
_UNIT_BLOCKS = {"if", "for"}
_JINJA = "\x1a"  # masks {{ }}, {# #} and raw tags
_STATEMENT = "\x1b"  # masks {% %} statements


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


@dataclass(frozen=True)
class _Scan:
    masked: str  # the source with Jinja spans masked, same length and newlines
    statements: list[tuple[int, int, str, str]]  # start, end, tag name, rest
    spans: list[tuple[int, int]]  # every Jinja span, raw tags included
    raws: list[tuple[int, int, int, int]]  # raw open start/end, endraw start/end


def _mask(text: str, ch: str) -> str:
    return re.sub(r"[^\n]", ch, text)


def _scan(source: str, rel: str, plain: bool) -> _Scan:
    """One left-to-right pass: Jinja spans outside {% raw %}, whose content stays literal text."""
    pieces: list[str] = []
    statements, spans, raws = [], [], []
    pos = 0
    if plain:
        for m in PLAIN_MARK.finditer(source):
            pieces += [source[pos:m.start()], _mask(m.group(0), _JINJA)]
            spans.append((m.start(), m.end()))
            pos = m.end()
        pieces.append(source[pos:])
        return _Scan("".join(pieces), statements, spans, raws)
    while (m := _SCAN.search(source, pos)) is not None:
        pieces.append(source[pos:m.start()])
        if m.group("raw"):
            close = _ENDRAW.search(source, m.end())
            if close is None:
                line = source.count("\n", 0, m.start()) + 1
                raise InputError(f"{rel}:{line}: '{{% raw %}}' is never closed — add {{% endraw %}}")
            pieces += [_mask(m.group(0), _JINJA), source[m.end():close.start()], _mask(close.group(0), _JINJA)]
            spans += [(m.start(), m.end()), (close.start(), close.end())]
            raws.append((m.start(), m.end(), close.start(), close.end()))
            pos = close.end()
            continue
        token = m.group(0)
        if token.startswith("{%"):
            tag = _TAG.match(token)
            if tag:
                statements.append((m.start(), m.end(), tag.group(1), tag.group(2)))
            pieces.append(_mask(token, _STATEMENT))
        else:
            pieces.append(_mask(token, _JINJA))
        spans.append((m.start(), m.end()))
        pos = m.end()
    pieces.append(source[pos:])
    return _Scan("".join(pieces), statements, spans, raws)


class _Lines:
    """Line offsets: starts, ends (before the line break) and full ends (after it)."""

    def __init__(self, source: str) -> None:
        starts = [0] + [m.end() for m in re.finditer("\n", source)] if source else []
        if starts and starts[-1] == len(source) and len(starts) > 1:
            starts.pop()
        self.starts = starts
        self.full = [starts[i + 1] if i + 1 < len(starts) else len(source) for i in range(len(starts))]
        self.ends = [self.full[i] - (2 if source[self.full[i] - 2:self.full[i]] == "\r\n" else
                                     1 if source[self.full[i] - 1:self.full[i]] == "\n" else 0)
                     for i in range(len(starts))]

    def of(self, offset: int) -> int:
        return bisect.bisect_right(self.starts, offset) - 1


def _line_class(m: str) -> str:
    s = m.strip()
    if not s:
        return "blank"
    if _FENCE.match(m):
        return "fence"
    if s[0] in (_JINJA, _STATEMENT):
        return "jinja"
    if s.startswith("|"):
        return "table"
    if _HEADING.match(s) or _BOLD_HEADING.match(s) or _TAG_LINE.match(s):
        return "head"
    if _BULLET.match(m):
        return "bullet"
    return "text"


def _joins(source: str, lines: _Lines, scan: _Scan, rel: str) -> tuple[list[int], list[str]]:
    """join_to[i]: the last line that must stay in one chunk with line i; and each line's class."""
    n = len(lines.starts)
    masked = scan.masked
    mlines = [masked[lines.starts[i]:lines.ends[i]] for i in range(n)]
    cls = [_line_class(m) for m in mlines]
    join = list(range(n))

    def tie(a: int, b: int) -> None:
        join[a] = max(join[a], b)

    for a, b in scan.spans:
        tie(lines.of(a), lines.of(b - 1))
    for oa, ob, ca, cb in scan.raws:
        first, last = lines.of(oa), lines.of(ca)
        alone = (not (masked[lines.starts[first]:lines.ends[first]].replace(_JINJA, "").strip())
                 and not masked[lines.starts[last]:lines.ends[last]].replace(_JINJA, "").strip())
        if not alone:
            tie(first, last)
    stack: list[tuple[str, int]] = []
    for start, _, name, rest in scan.statements:
        line = lines.of(start)
        if name in _BLOCKS or (name == "set" and "=" not in rest):
            stack.append((name, line))
        elif name.startswith("end"):
            if not stack or stack[-1][0] != name[3:]:
                raise InputError(f"{rel}:{line + 1}: unexpected '{{% {name} %}}'")
            tie(stack.pop()[1], line)
    if stack:
        name, line = stack[-1]
        raise InputError(f"{rel}:{line + 1}: '{{% {name} %}}' is never closed")
    in_fence = [False] * n
    i = 0
    while i < n:
        if cls[i] == "fence":
            mark = _FENCE.match(mlines[i]).group(1)
            close = re.compile(rf"^ {{0,3}}{re.escape(mark[0])}{{{len(mark)},}}\s*$")
            j = next((j for j in range(i + 1, n) if close.match(mlines[j])), None)
            if j is not None:
                tie(i, j)
                for k in range(i, j + 1):
                    in_fence[k] = True
                i = j + 1
                continue
        i += 1
    _bracket_joins(masked, lines, cls, in_fence, tie)
    i = 0
    while i < n:
        if in_fence[i]:
            i += 1
            continue
        if cls[i] == "table":
            j = i
            while j + 1 < n and cls[j + 1] == "table" and not in_fence[j + 1]:
                j += 1
            tie(i, j)
            i = j + 1
            continue
        if cls[i] == "bullet":
            indent = len(mlines[i]) - len(mlines[i].lstrip())
            j = i
            while j + 1 < n and not in_fence[j + 1] and _continues(mlines[j + 1], cls[j + 1], indent):
                j += 1
            tie(i, j)
            i = j + 1
            continue
        i += 1
    return join, cls


def _continues(m: str, cls: str, indent: int) -> bool:
    """A hard-wrapped bullet goes on: an indented line, or a line starting lower-case."""
    if cls in ("blank", "fence", "bullet", "head", "table"):
        return False
    body = m.lstrip()
    return len(m) - len(body) > indent or (cls == "text" and body[:1].islower())


def _bracket_joins(masked: str, lines: _Lines, cls: list[str], in_fence: list[bool], tie) -> None:
    """A { or [ that closes on a later line ties those lines (JSON written over several lines).

    Strings (double quotes) do not cross lines; a blank line or a fence resets, so a stray
    brace in prose cannot swallow the rest of the prompt.
    """
    stack: list[tuple[str, int]] = []
    in_string = False
    line = 0
    for m in _JSON_TOKEN.finditer(masked):
        ch = m.group(0)
        if ch == "\n":
            in_string = False
            line += 1
            if line < len(cls) and (cls[line] in ("blank", "fence") or in_fence[line]):
                stack.clear()
            continue
        if in_fence[line] or cls[line] == "blank":
            continue
        if ch[0] == "\\":
            continue  # an escaped character, e.g. \" inside a JSON string
        if ch == '"':
            in_string = not in_string
        elif in_string:
            continue
        elif ch in "{[":
            stack.append((ch, line))
        elif stack and stack[-1][0] == ("{" if ch == "}" else "["):
            tie(stack.pop()[1], line)


def _closure(join: list[int]) -> list[tuple[int, int]]:
    chunks, i, n = [], 0, len(join)
    while i < n:
        end, j = join[i], i
        while j <= end:
            end = max(end, join[j])
            j += 1
        chunks.append((i, end))
        i = end + 1
    return chunks


def segment(source: str, rel: str, plain: bool = False) -> tuple[list[Unit], list[Fixed]]:
    """Units and fixed parts of a template (or, with `plain`, a prompt with no template language)."""
    return _Segmenter(source, rel, plain).run()


class _Segmenter:
    def __init__(self, source: str, rel: str, plain: bool) -> None:
        self.source, self.rel = source, rel
        self.lines = _Lines(source)
        self.scan = _scan(source, rel, plain)
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
        join, cls = _joins(source, lines, self.scan, self.rel)
        group_start: int | None = None
        group_lines: tuple[int, int] | None = None
        for first, last in _closure(join):
            text = source[lines.starts[first]:lines.ends[last]]
            mtext = masked[lines.starts[first]:lines.ends[last]]
            stripped, mstripped = text.strip(), mtext.strip()
            literal = mstripped.replace(_JINJA, "").replace(_STATEMENT, "").strip()
            whole = [(lines.starts[first], lines.full[last])]
            marker = _MARKER.fullmatch(stripped) if not literal else None
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
                if _ROLE.match(stripped):
                    self.add_fixed(first, stripped, "role")
                elif mstripped.startswith(_STATEMENT) and _TAG.match(stripped) \
                        and _TAG.match(stripped).group(1) in _UNIT_BLOCKS:
                    self.flush()
                    self.add("block", first, whole, text)
                elif mstripped.startswith(_STATEMENT) or stripped.startswith("{%"):
                    self.add_fixed(first, _collapse(stripped), "statement")
                elif stripped.startswith("{{"):
                    self.add_fixed(first, _collapse(stripped), "variable")
                else:
                    self.flush()  # comment-only lines render nothing
                continue
            if mstripped.startswith(_STATEMENT):
                self.flush()
                tag = _TAG.match(stripped)
                if tag and tag.group(1) in _UNIT_BLOCKS:
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
            if _JINJA in mstripped and (not re.search(r"[A-Za-z]", literal) or
                                        (literal.endswith(":") and len(literal.split()) <= 6)):
                self.add_fixed(first, _collapse(stripped), "variable")
                continue
            if kind == "head" and first == last:
                bold = _BOLD_HEADING.match(mstripped)
                if bold and bold.group("inner").rstrip().endswith((".", "!", "?")):
                    pass  # a bold sentence is an instruction, not a heading
                elif _TAG_LINE.match(mstripped):
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
            if _ELEMENT_LINE.match(mstripped) or kind == "fence":
                self.line_unit("line", first, whole, text)
                continue
            if not _LETTER.search(literal):
                self.add_fixed(first, _collapse(stripped), "text")  # "2." or "); }" alone: no instruction
                continue
            self.paragraph.append((first, last))
        self.close_lead()
        if group_start is not None:
            raise InputError(f"{self.rel}:{group_start}: 'promptslim: unit' is never closed with 'promptslim: end'")
        return self.units, self.fixed

    def line_unit(self, kind: str, first: int, whole: list[tuple[int, int]], text: str) -> None:
        """Whole lines as one unit; without a letter they are no instruction, so they stay fixed."""
        self.flush()
        if _LETTER.search(text):
            self.add(kind, first, whole, text)
        else:
            self.add_fixed(first, _collapse(text), "text")

    def sentences(self, paragraph: list[tuple[int, int]]) -> None:
        """Each sentence of a prose paragraph is a unit; a paragraph with a {% tag %} stays whole."""
        lines = self.lines
        first, last = paragraph[0][0], paragraph[-1][1]
        begin, stop = lines.starts[first], lines.ends[last]
        text, masked = self.source[begin:stop], self.scan.masked[begin:stop]
        if _STATEMENT in masked:
            self.add("block", first, [(begin, lines.full[last])], text)
            return
        raws, i = [], bisect.bisect_left(self.scan.raws, (begin,))
        while i < len(self.scan.raws) and self.scan.raws[i][0] < stop:
            oa, _, _, cb = self.scan.raws[i]
            if cb <= stop:
                raws.append((oa - begin, cb - begin))
            i += 1
        intervals, holes = sent.protected(masked, raws)
        lead = len(masked) - len(masked.lstrip())
        cuts = [lead] + [c for c in sent.allowed(sent.sentence_cuts(masked), intervals) if c > lead] + [len(text)]
        ranges = list(zip(cuts, cuts[1:]))
        pieces = sent.minus_holes(ranges, holes)
        carry: list[tuple[int, int]] = []
        out: list[list[tuple[int, int]]] = []
        for spans in pieces:
            spans = carry + spans
            body = "".join(text[a:b] for a, b in spans)
            if not _LETTER.search(body):
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


def unclosed_block(source: str) -> tuple[str, int] | None:
    """The innermost block left open, and its 1-based line: Jinja itself reports the file's last line."""
    try:
        scan = _scan(source, "", False)
    except InputError:
        return None
    stack: list[tuple[str, int]] = []
    for start, _, name, rest in scan.statements:
        if name in _BLOCKS or (name == "set" and "=" not in rest):
            stack.append((name, start))
        elif name.startswith("end") and stack and stack[-1][0] == name[3:]:
            stack.pop()
    return (stack[-1][0], source.count("\n", 0, stack[-1][1]) + 1) if stack else None


def jinja_warnings(source: str, rel: str) -> list[str]:
    """Jinja that runs silently where the author likely meant text: {# comments #} and {% tags %} in code fences."""
    scan = _scan(source, rel, False)
    lines = _Lines(source)
    comments = [lines.of(a) + 1 for a, _ in scan.spans
                if source.startswith("{#", a) and not _MARKER.match(source, a) and not _ROLE.match(source, a)]
    fenced: list[int] = []
    fence = None
    for i, start in enumerate(lines.starts):
        line = scan.masked[start:lines.ends[i]]
        mark = _FENCE.match(line)
        if mark and fence is None:
            fence = mark.group(1)
        elif mark and mark.group(1)[0] == fence[0] and len(mark.group(1)) >= len(fence) and \
                not line.strip()[len(mark.group(1)):].strip():
            fence = None
        elif fence is not None and _STATEMENT in line:
            fenced.append(i + 1)
    fix = f"wrap it in {{% raw %}}…{{% endraw %}} or rename the file to {rel.rsplit('/', 1)[-1].rsplit('.', 1)[0]}.txt"
    out = []
    if comments:
        more = f" (and {len(comments) - 1} more)" if len(comments) > 1 else ""
        out.append(f"{rel}:{comments[0]}: Jinja comment {{# … #}}{more} is dropped from the prompt, not shown "
                   f"— if it is text for the model, {fix}")
    if fenced:
        more = f" (and {len(fenced) - 1} more lines)" if len(fenced) > 1 else ""
        out.append(f"{rel}:{fenced[0]}: {{% … %}} inside a code fence{more} runs as Jinja, it is not shown "
                   f"as example code — {fix}")
    return out


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
