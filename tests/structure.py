"""What "structurally balanced" means for a prompt: an independent checker the segmenter is tested against.

It knows nothing of promptslim: fences pair up (indented ones and ones opened on a bullet line too), and each
fence's content is checked as a document of its own; outside fences, brackets nest, XML tags of every name that
is closed somewhere nest (a closing tag closes over the mentions inside it, like `<cite>` in "wrap claims in
<cite> tags"), inline code is literal, markdown tables keep their separator row and one cell count, and ```json
fences parse.

`problems` lists what is unbalanced; `new_problems(original, variant)` is what a removal broke: the problems of
the variant beyond the original's, counted per kind, so a prompt that was already off in one place is still
checked everywhere else.
"""

from __future__ import annotations

import json
import re
from collections import Counter

OPEN = re.compile(r"^\s*(?:(?:[-*+•]|\d{1,3}[.)])\s+)?(`{3,}|~{3,})(.*)$")
CLOSE = re.compile(r"^\s*(`{3,}|~{3,})\s*$")
TAG = re.compile(r"<(/?)([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?(/?)>")
INLINE = re.compile(r"(?<!`)(`+)(?!`).+?(?<!`)\1(?!`)")
PAIRS = {")": "(", "]": "[", "}": "{"}


def closed_names(text: str) -> set[str]:
    """Tag names that are closed somewhere: only they are structure; `<n>` or `List<String>` alone are text."""
    return {m.group(2) for m in TAG.finditer(text) if m.group(1)}


def problems(text: str, names: set[str] | None = None) -> list[str]:
    """Everything unbalanced in the text (empty when balanced); `names`: the tag names that count."""
    found: list[str] = []
    _check(text.splitlines(), closed_names(text) if names is None else names, found)
    return found


def new_problems(original: str, variant: str) -> list[str]:
    """The problems a removal added: the variant's, less as many of each as the original already had."""
    names = closed_names(original)
    extra = Counter(problems(variant, names)) - Counter(problems(original, names))
    return sorted(extra.elements())


def _opener(line: str) -> re.Match[str] | None:
    m = OPEN.match(line)
    return m if m and (m.group(1)[0] == "~" or "`" not in m.group(2)) else None


def _check(lines: list[str], names: set[str], found: list[str]) -> None:
    outside: list[str] = []
    i = 0
    while i < len(lines):
        m = _opener(lines[i])
        if m is None:
            outside.append(lines[i])
            i += 1
            continue
        mark = m.group(1)
        j = i + 1
        while j < len(lines):
            c = CLOSE.match(lines[j])
            if c and c.group(1)[0] == mark[0] and len(c.group(1)) >= len(mark):
                break
            j += 1
        content = lines[i + 1:j]
        if j == len(lines):
            found.append(f"fence: unclosed {mark}")
        if m.group(2).strip().lower().startswith("json") and content:
            try:
                json.loads("\n".join(content))
            except ValueError:
                found.append("json: a ```json fence does not parse")
        _check(content, names, found)
        outside.append("")  # the fence separates what is around it (two tables stay two)
        i = j + 1
    text = "\n".join(INLINE.sub(lambda k: " " * len(k.group(0)), line) for line in outside)
    _brackets(text, found)
    _tags(text, names, found)
    _tables(outside, found)


def _brackets(text: str, found: list[str]) -> None:
    stack: list[str] = []
    for ch in re.findall(r"[()\[\]{}]", text):
        if ch in "([{":
            stack.append(ch)
        elif stack and stack[-1] == PAIRS[ch]:
            stack.pop()
        else:
            found.append(f"bracket: unmatched {ch}")
    found.extend(f"bracket: unclosed {ch}" for ch in stack)


def _tags(text: str, names: set[str], found: list[str]) -> None:
    stack: list[str] = []
    for m in TAG.finditer(text):
        closing, name = m.group(1), m.group(2)
        if m.group(3) or name not in names:
            continue
        if not closing:
            stack.append(name)
        elif name in stack:
            while stack[-1] != name:
                found.append(f"tag: unclosed <{stack.pop()}>")
            stack.pop()
        else:
            found.append(f"tag: unmatched </{name}>")
    found.extend(f"tag: unclosed <{name}>" for name in stack)


def _tables(lines: list[str], found: list[str]) -> None:
    table: list[str] = []
    for line in lines + [""]:
        if line.strip().startswith("|"):
            table.append(line.strip())
            continue
        if table:
            cells = {row.strip("|").count("|") for row in table}
            if len(cells) != 1:
                found.append(f"table: rows differ in cells: {table}")
            if len(table) > 1 and not re.fullmatch(r"\|?[\s:|-]+\|?", table[1]):
                found.append(f"table: lost its separator row: {table[:2]}")
            table = []
