"""What "structurally balanced" means for a prompt: an independent checker the segmenter is tested against.

It knows nothing of promptslim.units: fences pair up, brackets and XML tags nest, and every
markdown table keeps its separator row and one cell count.
"""

from __future__ import annotations

import re

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
TAG = re.compile(r"<(/?)([A-Za-z_][\w.:-]*)(?:\s[^<>]*)?(/?)>")
PAIRS = {")": "(", "]": "[", "}": "{"}


def problems(text: str) -> list[str]:
    """Everything unbalanced in the text (empty when balanced)."""
    found: list[str] = []
    open_fence = None
    for line in text.splitlines():
        m = FENCE.match(line)
        if not m:
            continue
        mark = m.group(1)
        if open_fence is None:
            open_fence = mark
        elif mark[0] == open_fence[0] and len(mark) >= len(open_fence) and not line.strip()[len(mark):].strip():
            open_fence = None
    if open_fence is not None:
        found.append(f"unclosed fence {open_fence}")
    stack: list[str] = []
    for ch in re.findall(r"[()\[\]{}]", text):
        if ch in "([{":
            stack.append(ch)
        elif not stack or stack.pop() != PAIRS[ch]:
            found.append(f"unmatched {ch}")
            break
    if stack:
        found.append(f"unclosed {''.join(stack)}")
    tags: list[str] = []
    for m in TAG.finditer(text):
        if m.group(3):
            continue
        if not m.group(1):
            tags.append(m.group(2))
        elif not tags or tags.pop() != m.group(2):
            found.append(f"unmatched </{m.group(2)}>")
            break
    if tags:
        found.append(f"unclosed <{tags[-1]}>")
    table: list[str] = []
    for line in text.splitlines() + [""]:
        if line.strip().startswith("|"):
            table.append(line.strip())
            continue
        if table:
            cells = {row.strip("|").count("|") for row in table}
            if len(cells) != 1:
                found.append(f"table rows differ in cells: {table}")
            if len(table) > 1 and not re.fullmatch(r"\|?[\s:|-]+\|?", table[1]):
                found.append(f"table lost its separator row: {table[:2]}")
            table = []
    return found
