"""The tree of a prompt: document → sections → blocks → units, for the hierarchical ablation (issue 23).

Sections are what a prompt's author marked as parts: markdown headings (at the shallowest level that splits the
prompt in two or more), top-level XML elements, role messages, and — in a prompt with no headings — each lead-in with
its list or each paragraph. Blocks are what sits together inside a section: a list (loose lists included), a
paragraph of sentences, a fence, a run of few-shot examples; a sub-heading, a lead-in line or an XML tag between two
units starts a new block. Units are the segmenter's (template/units.py), so author markers still pin and group: a
pinned unit belongs to no node, and a node of pinned units only is no node.

A node with one child is that child (a section holding one list is tested once, not twice), and a block of fewer than
MIN_BLOCK units is no node of its own: its units hang from the section (a two-unit block costs a test and saves at
most one).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterator

from promptslim.template.units import Fixed, Unit, remove_units

MIN_BLOCK = 3
_OPEN_TAG = re.compile(r"^\s*<([A-Za-z_][\w.:-]*)(\s[^<>]*)?>\s*$")
_CLOSE_TAG = re.compile(r"^\s*</([A-Za-z_][\w.:-]*)\s*>\s*$")
_ATX = re.compile(r"^\s*(#{1,6})\s+")
_RULE = re.compile(r"^\s*[=\-*_]{3,}\s*$")
ROLE_BREAK = 0  # strength of a boundary that always splits: a role message, a top-level XML element
WEAK = 8  # bold or Title-Case heading lines and horizontal rules
LEAD_IN = 9  # "Rules:" — a lead-in line


@dataclass(frozen=True)
class Node:
    """One node of the tree: its id (s2, s2.1, u7), kind (section | block | unit), parent id, a title to show, its
    first line, and the removable unit ids under it in document order."""

    id: str
    kind: str
    parent: str | None
    title: str
    line: int
    units: tuple[int, ...]
    children: tuple[str, ...] = ()


@dataclass(frozen=True)
class Tree:
    """The nodes of a prompt by id, the top-level ones (sections, or units standing alone) in document order, and
    each section's frame: the 1-based lines of its headings and XML tags, which go with it when it goes whole."""

    nodes: dict[str, Node]
    roots: tuple[str, ...]
    frames: dict[str, tuple[int, ...]] = field(default_factory=dict)

    def walk(self) -> Iterator[Node]:
        """Every node, parents before children, in document order."""
        stack = list(reversed(self.roots))
        while stack:
            node = self.nodes[stack.pop()]
            yield node
            stack.extend(reversed(node.children))

    def depth(self, node_id: str) -> int:
        """1 for a top-level node, 2 for its children, …"""
        d, node = 1, self.nodes[node_id]
        while node.parent is not None:
            d, node = d + 1, self.nodes[node.parent]
        return d

    def covering(self, node_id: str) -> list[str]:
        """The node and its ancestors, nearest first."""
        out, current = [], self.nodes.get(node_id)
        while current is not None:
            out.append(current.id)
            current = self.nodes.get(current.parent) if current.parent else None
        return out

    def leaves(self) -> list[Node]:
        return [n for n in self.walk() if not n.children]


@dataclass(frozen=True)
class _Mark:
    line: int  # 1-based
    strength: int | None  # None: not a section boundary (a block boundary only)
    title: str
    closes: bool = False  # the closing tag of a top-level element: ends its section


def _heading_strength(text: str) -> int:
    atx = _ATX.match(text)
    if atx:
        return len(atx.group(1))
    if _RULE.match(text):
        return WEAK
    return LEAD_IN if text.rstrip().endswith((":", "：")) else WEAK


def _title(text: str) -> str:
    return text.strip().lstrip("#").strip().strip("*_").strip().rstrip(":：").strip() or text.strip()


def _marks(fixed: tuple[Fixed, ...] | list[Fixed]) -> list[_Mark]:
    """Every fixed line that may bound a section or a block, with its strength at XML depth 0."""
    marks: list[_Mark] = []
    depth = 0
    for f in sorted(fixed, key=lambda f: f.line):
        if f.kind == "role":
            marks.append(_Mark(f.line, ROLE_BREAK, f.text))
        elif f.kind == "tag":
            opened, closed = _OPEN_TAG.match(f.text), _CLOSE_TAG.match(f.text)
            if opened and not f.text.rstrip().endswith("/>"):
                marks.append(_Mark(f.line, ROLE_BREAK if depth == 0 else None, f"<{opened.group(1)}>"))
                depth += 1
            elif closed:
                depth = max(depth - 1, 0)
                marks.append(_Mark(f.line, None, f.text, closes=depth == 0))
            else:
                marks.append(_Mark(f.line, None, f.text))
        elif f.kind == "heading":
            marks.append(_Mark(f.line, _heading_strength(f.text) if depth == 0 else None, _title(f.text)))
        elif f.kind != "variable":
            marks.append(_Mark(f.line, None, f.text))
    return marks


def _last_line(unit: Unit, source: str) -> int:
    end = max(b for _, b in unit.spans)
    return source.count("\n", 0, max(end - 1, 0)) + 1


class _Builder:
    def __init__(self, source: str, units: tuple[Unit, ...], fixed: tuple[Fixed, ...]) -> None:
        self.source = source
        self.units = [u for u in units if not u.pinned]
        self.all_units = list(units)
        self.marks = _marks(fixed)
        self.lines = source.splitlines()
        self.last = {u.id: _last_line(u, source) for u in units}
        self.nodes: dict[str, Node] = {}
        self.frame_lines = {f.line for f in fixed if f.kind in ("heading", "tag")}
        self.ranges: list[tuple[int, int]] = []
        self.spans: list[tuple[int, int]] = []

    def sections(self) -> list[tuple[str, list[Unit]]]:
        """The units grouped into sections at the strongest heading level that makes two or more (each group's first
        line is remembered in self.starts, for its frame)."""
        heads = [m.strength for m in self.marks if m.strength not in (None, ROLE_BREAK)]
        # a heading level used once is a title (a "# Assistant" over "## Tone", "## Rules"): levels used twice first
        strengths = sorted(set(heads), key=lambda s: (heads.count(s) < 2, s))
        for level in [*strengths, None]:
            groups = self._split(level)
            if sum(1 for _, us in groups if us) >= 2 or level is None:
                break
        if sum(1 for _, us in groups if us) >= 2:
            self.ranges = [(start, stop) for (start, stop), (_, us) in zip(self.spans, groups) if us]
            return [(t, us) for t, us in groups if us]
        # no headings to go by: each block of the prompt is a section (and has no frame)
        self.ranges = []
        return [(title, us) for title, us in self._blocks(self.units)]

    def _split(self, level: int | None) -> list[tuple[str, list[Unit]]]:
        cuts = sorted((m for m in self.marks if m.strength is not None and
                       (m.strength == ROLE_BREAK or (level is not None and m.strength <= level))) or [],
                      key=lambda m: m.line)
        ends = {m.line for m in self.marks if m.closes}
        groups: list[tuple[str, list[Unit]]] = [("", [])]
        starts = [0]  # the line each group starts at (its cut), 0 for the text before the first cut
        events = sorted([(m.line, 0, m.title) for m in cuts] + [(e, 1, "") for e in ends])
        ei = 0
        fresh = False  # a top-level element closed since the last cut: the next unit starts a group of its own
        for u in self.units:
            while ei < len(events) and events[ei][0] <= u.line:
                line, closing, title = events[ei]
                if closing:
                    fresh = True
                else:
                    groups.append((title, []))
                    starts.append(line)
                    fresh = False
                ei += 1
            if fresh and groups[-1][1]:
                groups.append(("", []))
                starts.append(max(e for e in ends if e < u.line) + 1)
            fresh = False
            groups[-1][1].append(u)
        # each group's line range: from its cut to the line before the next group's
        bounds = [*starts[1:], len(self.lines) + 1]
        self.spans = [(a, b - 1) for a, b in zip(starts, bounds)]
        return groups

    def _blocks(self, units: list[Unit]) -> list[tuple[str, list[Unit]]]:
        """Consecutive units that sit together: no fixed line between them, and no blank line unless both are
        list items (a loose list) or both few-shot examples."""
        out: list[tuple[str, list[Unit]]] = []
        prev: Unit | None = None
        for u in units:
            title = self._between(prev, u)
            if prev is None or title is not None:
                out.append((title or "", [u]))
            else:
                out[-1][1].append(u)
            prev = u
        return out

    def _between(self, prev: Unit | None, u: Unit) -> str | None:
        """None when u continues prev's block; else the title of the fixed line that starts u's block ("" if a blank
        line, a pinned unit or a change of kind parts them)."""
        if prev is None:
            return ""  # a section's first block: its heading is the section's title, not the block's
        a, b = self.last[prev.id], u.line
        lead = self._lead(a, b)
        if lead is not None:
            return lead
        if any(a < p.line < b or (p.pinned and prev.id < p.id < u.id) for p in self.all_units if p.pinned):
            return ""
        together = prev.kind == u.kind and u.kind in ("bullet", "example")
        blank = any(not self.lines[i - 1].strip() for i in range(a + 1, b) if 0 < i <= len(self.lines))
        if (blank and not together) or _kind_class(prev.kind) != _kind_class(u.kind):
            return ""
        return None

    def _lead(self, a: int, b: int) -> str | None:
        found = [m for m in self.marks if a < m.line <= b and not (m.line == b and m.closes)]
        return found[-1].title if found else None

    def build(self) -> Tree:
        roots: list[str] = []
        frames: dict[str, tuple[int, ...]] = {}
        groups = self.sections()
        for i, (title, units) in enumerate(groups, 1):
            root = self._node(f"s{i}", "section", None, title, units)
            roots.append(root)
            if self.ranges and root.startswith("s"):
                frames[root] = self._frame(*self.ranges[i - 1], units)
        return Tree(self.nodes, tuple(roots), frames)

    def _frame(self, first: int, last: int, units: list[Unit]) -> tuple[int, ...]:
        """The heading and XML tag lines in a section's line range: they go when all of it goes. None when a pinned
        unit stays in the range (its heading stays with it)."""
        if any(first <= p.line <= last for p in self.all_units if p.pinned):
            return ()
        return tuple(line for line in sorted(self.frame_lines) if first <= line <= last)

    def _node(self, node_id: str, kind: str, parent: str | None, title: str, units: list[Unit]) -> str:
        """Add a section or block over these units (or the unit itself when it is one) and return its id."""
        if len(units) == 1:
            return self._unit(units[0], parent)
        children: list[str] = []
        blocks = self._blocks(units) if kind == "section" else []
        if len(blocks) > 1:
            for j, (btitle, bunits) in enumerate(blocks, 1):
                if len(bunits) >= MIN_BLOCK:
                    children.append(self._node(f"{node_id}.{j}", "block", node_id, btitle, bunits))
                else:
                    children.extend(self._unit(u, node_id) for u in bunits)
        else:
            children = [self._unit(u, node_id) for u in units]
        self.nodes[node_id] = Node(node_id, kind, parent, title or _short(units[0].text), units[0].line,
                                   tuple(u.id for u in units), tuple(children))
        return node_id

    def _unit(self, unit: Unit, parent: str | None) -> str:
        node_id = f"u{unit.id}"
        self.nodes[node_id] = Node(node_id, "unit", parent, _short(unit.text), unit.line, (unit.id,))
        return node_id


def _kind_class(kind: str) -> str:
    return {"bullet": "list", "sentence": "prose", "example": "examples"}.get(kind, kind)


def _short(text: str, width: int = 60) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def build_tree(source: str, units: tuple[Unit, ...] | list[Unit], fixed: tuple[Fixed, ...] | list[Fixed]) -> Tree:
    """The tree of a segmented prompt (template.load.Template's source, units and fixed parts)."""
    return _Builder(source, tuple(units), tuple(fixed)).build()


def without(source: str, units: tuple[Unit, ...] | list[Unit], tree: Tree, removed: set[int] | frozenset[int]) -> str:
    """The source without these units and, for every section all of whose units go, its headings and XML tags too:
    a section removed whole leaves no empty heading behind (the tree design tests exactly this text)."""
    gone = [u for u in units if u.id in removed]
    lines = source.splitlines(keepends=True)
    starts = [0]
    for text in lines:
        starts.append(starts[-1] + len(text))
    frames = [Unit(id=-line, line=line, text="", kind="frame", spans=((starts[line - 1], starts[line]),))
              for root, frame in tree.frames.items() if set(tree.nodes[root].units) <= removed
              for line in frame if 0 < line <= len(lines)]
    return remove_units(source, gone + frames)
