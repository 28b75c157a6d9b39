"""Blocks a prompt is built from beyond single lines: code fences (and fences that only wrap prose), YAML and code
written without a fence, few-shot examples, and short title lines.

Everything here reads one masked line at a time with anchored patterns, so it stays linear in line length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# A fence may be indented (inside a list item) or opened on a bullet line ("- ```text"); a closer is only the
# fence characters. A backtick fence's info string holds no backtick ("```js```" is inline code, not a fence).
FENCE_OPEN = re.compile(r"^[ \t]*(?P<bullet>(?:[-*+•]|\d{1,3}[.)])[ \t]+)?(?P<mark>`{3,}|~{3,})(?P<info>.*)$")
_FENCE_CLOSE = re.compile(r"^[ \t]*(`{3,}|~{3,})[ \t]*$")
# Info strings that say "this is prose": such a fence is a container, its content is cut into units. A fence with
# no info string is one too when no line of it reads as code. Only the fence itself decides, so removing units
# elsewhere never turns a code block into a container or back (a rule by size, "wraps 80% of the prompt", would).
PROSE_INFO = frozenset({"text", "txt", "md", "markdown", "plain", "plaintext", "prompt"})


@dataclass(frozen=True)
class Fence:
    """A fenced block's first and last line (last = -1: never closed) and whether it only wraps prose."""

    open: int
    close: int
    container: bool
    bullet: bool  # opened on a bullet line: the bullet owns it
    indent: int
    mark_at: int  # column of the fence characters on the opening line


def opener(mline: str) -> re.Match[str] | None:
    m = FENCE_OPEN.match(mline)
    if m and (m.group("mark")[0] == "~" or "`" not in m.group("info")):
        return m
    return None


def closes(mline: str, mark: str) -> bool:
    m = _FENCE_CLOSE.match(mline)
    return bool(m) and m.group(1)[0] == mark[0] and len(m.group(1)) >= len(mark)


def find_fences(mlines: list[str], lo: int = 0, hi: int | None = None) -> list[Fence]:
    """Every fence in lines [lo, hi), and those inside containers, in document order."""
    hi = len(mlines) if hi is None else hi
    out: list[Fence] = []
    i = lo
    while i < hi:
        m = opener(mlines[i])
        if m is None:
            i += 1
            continue
        mark, bullet = m.group("mark"), bool(m.group("bullet"))
        indent = len(mlines[i]) - len(mlines[i].lstrip())
        j = next((k for k in range(i + 1, hi) if closes(mlines[k], mark)), -1)
        if j < 0:
            out.append(Fence(i, -1, False, bullet, indent, m.start("mark")))
            i += 1
            continue
        info = m.group("info").split()
        language = info[0].lower() if info else ""
        container = not bullet and (language in PROSE_INFO or (not language and not code_in(mlines[i + 1:j])))
        out.append(Fence(i, j, container, bullet, indent, m.start("mark")))
        if container:
            out.extend(find_fences(mlines, i + 1, j))
        i = j + 1
    return out


_KEYWORD = re.compile(r"(?:def|class|function|func|fn|pub|import|const|let|var|interface|namespace|enum|struct|"
                      r"export|package|async\s+def|type\s+\w+\s*=|from\s+\S+\s+import)\b")
_ASSIGN = re.compile(r"[A-Za-z_$][\w.$\[\]'\"]*\s*(?:[-+*/|&]?=(?!=)|:=)\s*\S")
_MEMBER = re.compile(r"[\"']?[A-Za-z_$][\w$]*[\"']?\??\s*:\s*\S")
_CALL = re.compile(r"[A-Za-z_$][\w.$]*\(.*\)[;,]?")  # print(x), foo.bar(1, 2)


def code_like(s: str) -> bool:
    """A stripped line that reads as source code (or a TypeScript/JSON member), not as prose."""
    if not s:
        return False
    if s.startswith(("//", "/*", "*/", "#include", "#!", "}", ")", "]", "<?")) or s.endswith(("{", "(", "[", ";")):
        return True
    if s.endswith((".", "!", "?")):
        return False
    if _KEYWORD.match(s) or _ASSIGN.match(s) or _CALL.fullmatch(s):
        return True
    return bool(_MEMBER.match(s)) and s.endswith(",")


def code_in(content: list[str]) -> bool:
    """Does a line of this fence content read as code? Lines of fences nested in it do not count."""
    inner = None
    for m in content:
        if inner is not None:
            inner = None if closes(m, inner) else inner
        elif (fence := opener(m)) is not None:
            inner = fence.group("mark")
        elif code_like(m.strip()):
            return True
    return False


# Few-shot examples: a label opens an example, an answer label shows it is one.
_LABEL = re.compile(r"(?:\*\*|__)?(?P<label>Example\s*#?\s*\d+|Input|Output|Q|A|Question|Answer|User|Assistant|"
                    r"Human|AI|Customer|Agent|Text|Ticket|Label|Response|Query|Review|Sentiment|Category|"
                    r"Classification|Email|Message|Result|Reasoning|Thought)(?:\*\*|__)?\s*:(?:\*\*|__)?(?=\s|$)")
_ASKS = frozenset({"Input", "Q", "Question", "User", "Human", "Customer", "Text", "Ticket", "Query", "Review", "Email",
                   "Message"})
_ANSWERS = frozenset({"Output", "A", "Answer", "Assistant", "AI", "Agent", "Label", "Response", "Sentiment",
                      "Category", "Classification", "Result"})
_YAML_KEY = re.compile(r"(?:-\s+)?[A-Za-z_][\w.-]*\s*:(?:\s|$)")
_YAML_FIRST = re.compile(r"(?:-\s+)?[a-z_][\w.-]*\s*:(?:\s|$)")
_SMALL = frozenset({"a", "an", "and", "as", "at", "by", "for", "in", "of", "on", "or", "the", "to", "with", "&"})
_NOT_TITLE = set(".!?:;,\"'`()[]{}<>=|*_#。！？：\x1a\x1b")


def _label(s: str) -> str | None:
    m = _LABEL.match(s)
    if m is None:
        return None
    label = m.group("label")
    return "Example" if label.startswith("Example") else label


def title_like(s: str) -> bool:
    """A short Title Case line with no punctuation ("System Prompt", "Important Notes"): a heading."""
    words = s.split()
    if not 1 <= len(words) <= 5 or not s[0].isupper() or any(ch in _NOT_TITLE for ch in s):
        return False
    return all(w[0].isupper() or w[0].isdigit() or w.lower() in _SMALL for w in words)


def _indent(m: str) -> int:
    return len(m) - len(m.lstrip())


def yaml_blocks(mlines: list[str]) -> list[tuple[int, int]]:
    """(first, last) offsets of YAML blocks in a paragraph: from a lowercase `key:` line, the lines indented deeper or
    that are keys or list items at its indent; at least two keys and one level of nesting."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(mlines)
    while i < n:
        if not _YAML_FIRST.match(mlines[i].strip()):
            i += 1
            continue
        base, keys, deeper, j = _indent(mlines[i]), 1, False, i + 1
        while j < n:
            s = mlines[j].strip()
            if _indent(mlines[j]) > base:
                deeper = True
            elif not (_indent(mlines[j]) == base and (_YAML_KEY.match(s) or s.startswith("- "))):
                break
            keys += bool(_YAML_KEY.match(s))
            j += 1
        if deeper and keys >= 2:
            out.append((i, j - 1))
            i = j
        else:
            i += 1
    return out


def code_block(mlines: list[str]) -> tuple[int, int] | None:
    """Source code without a fence inside a paragraph: (first, last) offsets of the lines from the first to the last
    code-like line, when there are two or more and they are most of that range. JSON is left to its own rule."""
    marks = [k for k, m in enumerate(mlines) if code_like(m.strip())]
    while marks and mlines[marks[0]].strip()[:1] in ")]}":
        marks.pop(0)  # the end of something opened before the paragraph: no part of this block
    while marks and mlines[marks[-1]].strip()[-1:] in "([{":
        marks.pop()  # the start of something closed after it
    if len(marks) < 2 or mlines[marks[0]].strip()[:1] in "{[":
        return None
    first, last = marks[0], marks[-1]
    return (first, last) if len(marks) * 5 >= (last - first + 1) * 3 else None


def examples(mlines: list[str], cls: list[str]) -> list[tuple[int, int]]:
    """(first, last) offsets of the few-shot examples in one paragraph: an "Example N:" line or an asking label
    (Input:, Q:, User:) with the lines up to the next asking label, once an answer label (Output:, A:) was seen."""
    out: list[tuple[int, int]] = []
    i, n = 0, len(mlines)
    while i < n:
        label = _label(mlines[i].strip())
        if label != "Example" and label not in _ASKS:
            i += 1
            continue
        answered, j = label in _ANSWERS, i + 1
        while j < n and cls[j] not in ("head", "fence"):
            nxt = _label(mlines[j].strip())
            if nxt == "Example" or (answered and nxt in _ASKS):
                break
            answered = answered or nxt in _ANSWERS
            j += 1
        if answered or (label == "Example" and (j - i > 1 or not header_only(mlines[i].strip()))):
            out.append((i, j - 1))
        i = max(j, i + 1)
    return out


def header_only(s: str) -> bool:
    """An "Example 3:" line with nothing after it: the example follows after a blank line."""
    m = _LABEL.match(s)
    return m is not None and _label(s) == "Example" and not s[m.end():].strip()


def paragraph_blocks(mlines: list[str], cls: list[str],
                     skip: list[bool]) -> tuple[list[tuple[int, int, str]], set[int]]:
    """Blocks found in prose paragraphs: (first line, last line, kind) of YAML, code and example blocks, and the
    lines that are title headings. A paragraph is a run of lines that are neither blank, fenced nor Jinja."""
    blocks: list[tuple[int, int, str]] = []
    titles: set[int] = set()
    header: int | None = None  # a lone "Example N:" paragraph waiting for its example
    n, i = len(mlines), 0
    while i < n:
        if skip[i] or cls[i] in ("blank", "fence", "fencemark", "jinja"):
            if cls[i] != "blank":
                header = None
            i += 1
            continue
        j = i
        while j + 1 < n and not skip[j + 1] and cls[j + 1] not in ("blank", "fence", "fencemark", "jinja"):
            j += 1
        para = mlines[i:j + 1]
        if i == j and header_only(para[0].strip()):
            header, i = i, j + 1
            continue
        yaml = yaml_blocks(para)
        blocks.extend((i + a, i + b, "yaml") for a, b in yaml)
        bounds = [-1] + [k for a, b in yaml for k in (a, b)] + [len(para)]
        for run_start, run_end in zip(bounds[::2], bounds[1::2]):  # the lines between YAML blocks
            lo, hi = run_start + 1, run_end  # offsets [lo, hi) in para
            if lo >= hi:
                continue
            found = examples(para[lo:hi], cls[i + lo:i + hi])
            if header is not None and lo == 0 and found and found[0][0] == 0:
                blocks.append((header, i + found[0][1], "example"))
                found = found[1:]
            blocks.extend((i + lo + a, i + lo + b, "example") for a, b in found)
            if found:
                continue
            lead = lo
            while lead < hi - 1 and cls[i + lead] == "head":
                lead += 1  # a heading or lead-in line before code is no part of it
            code = code_block(para[lead:hi])
            if code is not None:
                blocks.append((i + lead + code[0], i + lead + code[1], "code"))
        taken = {k for a, b, _ in blocks if a >= i for k in range(a, b + 1)}
        # a Title Case line is a heading wherever it stands: a rule that looked at its neighbours would change
        # when a removal changes them
        titles.update(k for k in range(i, j + 1)
                      if k not in taken and cls[k] == "text" and title_like(mlines[k].strip()))
        header = None
        i = j + 1
    return blocks, titles
