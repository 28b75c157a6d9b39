"""Where a prompt's lines must stay together: Jinja spans and blocks, raw text, code fences, JSON, tables, bullets.

One pass masks Jinja (outside {% raw %}) so every later rule reads literal text; the rules tie
line ranges together, and the closure of those ties is the chunks the segmenter classifies.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass

from promptslim.errors import InputError

_SCAN = re.compile(r"(?P<raw>\{%-?\s*raw\s*-?%\})|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")
TAG = re.compile(r"\{%-?\s*([A-Za-z_]+)(.*?)-?%\}", re.S)
MARKER = re.compile(r"\{#-?\s*promptslim:\s*([A-Za-z_-]*)\s*-?#\}")
ROLE = re.compile(r"\{#-?\s*role:")
# In a plain-text prompt only a whole line `{# role: x #}` or `{# promptslim: … #}` is markup.
PLAIN_MARK = re.compile(r"^[ \t]*\{#-?[ \t]*(?:role|promptslim):[^#\n]*?-?#\}[ \t]*(?=\r?$)", re.M)
_BULLET = re.compile(r"^(\s*)([-*•+]|\d{1,3}[.)])\s+\S")
HEADING = re.compile(r"^\s*(#{1,6}\s+\S.*|[^.!?{}]{1,60}:|[=\-*_]{3,})\s*$")
BOLD_HEADING = re.compile(r"^\s*(\*\*|__)(?P<inner>[^*_\n]{1,80}?)(\*\*|__)(?P<colon>:?)\s*$")
TAG_LINE = re.compile(r"^\s*</?[A-Za-z_][\w.:-]*(\s[^<>]*)?/?>\s*$")
ELEMENT_LINE = re.compile(r"^\s*<([A-Za-z_][\w.:-]*)(\s[^<>]*)?>.*</\1>\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_JSON_TOKEN = re.compile(r'\\.|[{}\[\]()"\n]')
_OPENER = {"}": "{", "]": "[", ")": "("}
LETTER = re.compile(r"[^\W\d_]")
_BLOCKS = {"if", "for", "macro", "call", "filter", "with", "block", "autoescape", "trans"}
UNIT_BLOCKS = {"if", "for"}
JINJA = "\x1a"  # masks {{ }}, {# #} and raw tags
STATEMENT = "\x1b"  # masks {% %} statements


@dataclass(frozen=True)
class _Scan:
    masked: str  # the source with Jinja spans masked, same length and newlines
    statements: list[tuple[int, int, str, str]]  # start, end, tag name, rest
    spans: list[tuple[int, int]]  # every Jinja span, raw tags included
    raws: list[tuple[int, int, int, int]]  # raw open start/end, endraw start/end


def _mask(text: str, ch: str) -> str:
    return re.sub(r"[^\n]", ch, text)


def scan(source: str, rel: str, plain: bool) -> _Scan:
    """One left-to-right pass: Jinja spans outside {% raw %}, whose content stays literal text."""
    pieces: list[str] = []
    statements, spans, raws = [], [], []
    pos = 0
    if plain:
        for m in PLAIN_MARK.finditer(source):
            pieces += [source[pos:m.start()], _mask(m.group(0), JINJA)]
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
            pieces += [_mask(m.group(0), JINJA), source[m.end():close.start()], _mask(close.group(0), JINJA)]
            spans += [(m.start(), m.end()), (close.start(), close.end())]
            raws.append((m.start(), m.end(), close.start(), close.end()))
            pos = close.end()
            continue
        token = m.group(0)
        if token.startswith("{%"):
            tag = TAG.match(token)
            if tag:
                statements.append((m.start(), m.end(), tag.group(1), tag.group(2)))
            pieces.append(_mask(token, STATEMENT))
        else:
            pieces.append(_mask(token, JINJA))
        spans.append((m.start(), m.end()))
        pos = m.end()
    pieces.append(source[pos:])
    return _Scan("".join(pieces), statements, spans, raws)


class Lines:
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
    if s[0] in (JINJA, STATEMENT):
        return "jinja"
    if s.startswith("|"):
        return "table"
    if HEADING.match(s) or BOLD_HEADING.match(s) or TAG_LINE.match(s):
        return "head"
    if _BULLET.match(m):
        return "bullet"
    return "text"


def joins(source: str, lines: Lines, found: _Scan, rel: str) -> tuple[list[int], list[str]]:
    """join_to[i]: the last line that must stay in one chunk with line i; and each line's class."""
    n = len(lines.starts)
    masked = found.masked
    mlines = [masked[lines.starts[i]:lines.ends[i]] for i in range(n)]
    cls = [_line_class(m) for m in mlines]
    join = list(range(n))

    def tie(a: int, b: int) -> None:
        join[a] = max(join[a], b)

    for a, b in found.spans:
        tie(lines.of(a), lines.of(b - 1))
    for oa, ob, ca, cb in found.raws:
        first, last = lines.of(oa), lines.of(ca)
        alone = (not (masked[lines.starts[first]:lines.ends[first]].replace(JINJA, "").strip())
                 and not masked[lines.starts[last]:lines.ends[last]].replace(JINJA, "").strip())
        if not alone:
            tie(first, last)
    stack: list[tuple[str, int]] = []
    for start, _, name, rest in found.statements:
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


def _bracket_joins(masked: str, lines: Lines, cls: list[str], in_fence: list[bool], tie) -> None:
    """A {, [ or ( that closes on a later line ties those lines (JSON written over several lines; a parenthesis
    whose closer sits alone on the next line, which would otherwise be left behind when its sentence goes).

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
        elif ch in "{[(":
            stack.append((ch, line))
        elif stack and stack[-1][0] == _OPENER[ch]:
            tie(stack.pop()[1], line)


def closure(join: list[int]) -> list[tuple[int, int]]:
    chunks, i, n = [], 0, len(join)
    while i < n:
        end, j = join[i], i
        while j <= end:
            end = max(end, join[j])
            j += 1
        chunks.append((i, end))
        i = end + 1
    return chunks



def unclosed_block(source: str) -> tuple[str, int] | None:
    """The innermost block left open, and its 1-based line: Jinja itself reports the file's last line."""
    try:
        found = scan(source, "", False)
    except InputError:
        return None
    stack: list[tuple[str, int]] = []
    for start, _, name, rest in found.statements:
        if name in _BLOCKS or (name == "set" and "=" not in rest):
            stack.append((name, start))
        elif name.startswith("end") and stack and stack[-1][0] == name[3:]:
            stack.pop()
    return (stack[-1][0], source.count("\n", 0, stack[-1][1]) + 1) if stack else None


def jinja_warnings(source: str, rel: str) -> list[str]:
    """Jinja that runs silently where the author likely meant text: {# comments #} and {% tags %} in code fences."""
    found = scan(source, rel, False)
    lines = Lines(source)
    comments = [lines.of(a) + 1 for a, _ in found.spans
                if source.startswith("{#", a) and not MARKER.match(source, a) and not ROLE.match(source, a)]
    fenced: list[int] = []
    fence = None
    for i, start in enumerate(lines.starts):
        line = found.masked[start:lines.ends[i]]
        mark = _FENCE.match(line)
        if mark and fence is None:
            fence = mark.group(1)
        elif mark and mark.group(1)[0] == fence[0] and len(mark.group(1)) >= len(fence) and \
                not line.strip()[len(mark.group(1)):].strip():
            fence = None
        elif fence is not None and STATEMENT in line:
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

