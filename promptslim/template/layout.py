"""Where a prompt's lines must stay together: Jinja spans and blocks, raw text, code fences, JSON, tables, bullets,
and the blocks of blocks.py (YAML, unfenced code, few-shot examples).

One pass masks Jinja (outside {% raw %}) so every later rule reads literal text; the rules tie
line ranges together, and the closure of those ties is the chunks the segmenter classifies.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable
from dataclasses import dataclass

from promptslim.template import blocks, pairs
from promptslim.errors import InputError

_SCAN = re.compile(r"(?P<raw>\{%-?\s*raw\s*-?%\})|\{\{.*?\}\}|\{%.*?%\}|\{#.*?#\}", re.S)
_ENDRAW = re.compile(r"\{%-?\s*endraw\s*-?%\}")
TAG = re.compile(r"\{%-?\s*([A-Za-z_]+)(.*?)-?%\}", re.S)
MARKER = re.compile(r"\{#-?\s*promptslim:\s*([A-Za-z_-]*)\s*-?#\}")
ROLE = re.compile(r"\{#-?\s*role:")
# In a plain-text prompt only a whole line `{# role: x #}` or `{# promptslim: … #}` is markup.
PLAIN_MARK = re.compile(r"^[ \t]*\{#-?[ \t]*(?:role|promptslim):[^#\n]*?-?#\}[ \t]*(?=\r?$)", re.M)
_BULLET = re.compile(r"^(\s*)([-*•+]|\d{1,3}[.)])\s+\S")
HEADING = re.compile(r"^\s*(#{1,6}\s+\S.*|[^.!?{}]{1,60}[:：]|[=\-*_]{3,})\s*$")
BOLD_HEADING = re.compile(r"^\s*(\*\*|__)(?P<inner>[^*_\n]{1,80}?)(\*\*|__)(?P<colon>:?)\s*$")
TAG_LINE = re.compile(r"^\s*</?[A-Za-z_][\w.:-]*(\s[^<>]*)?/?>\s*$")
ELEMENT_LINE = re.compile(r"^\s*<([A-Za-z_][\w.:-]*)(\s[^<>]*)?>.*</\1>\s*$")
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
    if s[0] in (JINJA, STATEMENT):
        return "jinja"
    if s.startswith("|"):
        return "table"
    if HEADING.match(s) or BOLD_HEADING.match(s) or TAG_LINE.match(s):
        return "head"
    if _BULLET.match(m):
        return "bullet"
    return "text"


@dataclass(frozen=True)
class Layout:
    """How lines group: join[i] is the last line that must stay in one chunk with line i; each line's class
    (fence lines of a container are "fencemark"); the fences; the first line of each YAML, code or example block
    and its kind; the text brackets and tags are paired on (pairs.pairing_text); inline code spans."""

    join: list[int]
    cls: list[str]
    fences: list[blocks.Fence]
    kinds: dict[int, str]
    paired: str
    inline: list[tuple[int, int]]


def joins(source: str, lines: Lines, found: _Scan, rel: str) -> Layout:
    """Tie lines that must stay together and classify each line."""
    n = len(lines.starts)
    masked = found.masked
    mlines = [masked[lines.starts[i]:lines.ends[i]] for i in range(n)]
    cls = [_line_class(m) for m in mlines]
    join = list(range(n))

    def tie(a: int, b: int) -> None:
        join[a] = max(join[a], b)

    _jinja_ties(found, lines, rel, tie)
    fences = blocks.find_fences(mlines)
    in_fence, code = _fence_ties(fences, mlines, cls, tie)
    plain_lines = {i for i in range(n) if in_fence[i] or cls[i] in ("fence", "fencemark")}
    inline = pairs.inline_code(masked, lines.starts, lines.ends, plain_lines)
    paired = pairs.pairing_text(masked, lines.starts, lines.ends, fences, inline)
    _bracket_joins(paired, cls, in_fence, tie)
    found_blocks, titles = blocks.paragraph_blocks(mlines, cls, in_fence)
    kinds: dict[int, str] = {}
    for first, last, kind in found_blocks:
        tie(first, last)
        kinds[first] = kind
    for i in titles:
        cls[i] = "head"
    _table_and_item_ties(mlines, cls, in_fence, code, tie)
    return Layout(join, cls, fences, kinds, paired, inline)


def _jinja_ties(found: _Scan, lines: Lines, rel: str, tie: Callable[[int, int], None]) -> None:
    """A Jinja span, a {% raw %} sharing its lines with text, and a block from its tag to its end tag each stay
    in one chunk: cutting inside one would leave a template that does not compile."""
    masked = found.masked
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


def _fence_ties(fences: list[blocks.Fence], mlines: list[str], cls: list[str],
                tie: Callable[[int, int], None]) -> tuple[list[bool], dict[int, blocks.Fence]]:
    """Classify fence lines and tie each closed code fence whole, since its content is never cut; returns which
    lines lie in a code fence and the closed code fences by opening line."""
    in_fence = [False] * len(mlines)
    code: dict[int, blocks.Fence] = {}  # opening line -> closed code fence
    for f in fences:
        if f.container:
            cls[f.open] = cls[f.close] = "fencemark"
        elif f.close < 0:
            cls[f.open] = "fence"
        else:
            code[f.open] = f
            tie(f.open, f.close)
            for k in range(f.open, f.close + 1):
                in_fence[k] = True
            cls[f.open] = "bullet" if f.bullet else "fence"
    for f in code.values():  # "- Reply like this:" reads as a lead-in, but a fence indented under it is its body
        p = f.open - 1
        while p >= 0 and cls[p] == "blank":
            p -= 1
        if not f.bullet and p >= 0 and cls[p] == "head" and _BULLET.match(mlines[p]) and \
                f.indent > len(mlines[p]) - len(mlines[p].lstrip()):
            cls[p] = "bullet"
    return in_fence, code


def _table_and_item_ties(mlines: list[str], cls: list[str], in_fence: list[bool], code: dict[int, blocks.Fence],
                         tie: Callable[[int, int], None]) -> None:
    """Tie each run of table rows into one table, and each list item to its wrapped and nested lines."""
    n = len(mlines)
    i = 0
    while i < n:
        if in_fence[i] and i not in code:
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
            j = _item_end(i, mlines, cls, in_fence, code)
            tie(i, j)
            i = j + 1
            continue
        i += 1


def _item_end(i: int, mlines: list[str], cls: list[str], in_fence: list[bool], code: dict[int, blocks.Fence]) -> int:
    """The last line of the list item starting at i: hard-wrapped lines, and code fences indented under it (even
    after a blank line, or opened on the bullet line itself) with their blank lines."""
    n = len(mlines)
    indent = len(mlines[i]) - len(mlines[i].lstrip())
    j = code[i].close if i in code else i
    while True:
        k = j + 1
        if k < n and not in_fence[k] and _continues(mlines[k], cls[k], indent):
            j = k
            continue
        while k < n and cls[k] == "blank":
            k += 1
        if k < n and k in code and not code[k].bullet and code[k].indent > indent:
            j = code[k].close
            continue
        return j


def _continues(m: str, cls: str, indent: int) -> bool:
    """A hard-wrapped bullet goes on: an indented line, or a line starting lower-case."""
    if cls in ("blank", "fence", "fencemark", "bullet", "head", "table"):
        return False
    body = m.lstrip()
    if blocks.code_like(body.rstrip()):
        return False  # "namespace functions {" after a bullet starts code, it does not wrap the bullet
    return len(m) - len(body) > indent or (cls == "text" and body[:1].islower())


def _bracket_joins(paired: str, cls: list[str], in_fence: list[bool], tie: Callable[[int, int], None]) -> None:
    """A {, [ or ( that closes on a later line ties those lines (JSON written over several lines; a parenthesis
    whose closer sits alone on the next line, which would otherwise be left behind when its sentence goes).

    Strings (double quotes) do not cross lines; a blank line or a fence resets, so a stray
    brace in prose cannot swallow the rest of the prompt.
    """
    stack: list[tuple[str, int]] = []
    in_string = False
    line = 0
    for m in _JSON_TOKEN.finditer(paired):
        ch = m.group(0)
        if ch == "\n":
            in_string = False
            line += 1
            if line < len(cls) and (cls[line] in ("blank", "fence", "fencemark") or in_fence[line]):
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
    mlines = [found.masked[a:b] for a, b in zip(lines.starts, lines.ends)]
    fenced = [k + 1 for f in blocks.find_fences(mlines) if not f.container and f.close > 0
              for k in range(f.open + 1, f.close) if STATEMENT in mlines[k]]
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

