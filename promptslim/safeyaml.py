"""Untrusted YAML (eval sets, --vars) to nodes with lines, and to plain data: bounded before anything is built.

An eval set arrives in a pull request. A few hundred bytes of anchors expand into gigabytes (billion laughs), a
document nested 10,000 deep overflows Python's stack in the composer, and 770,000 cases in a 20 MB file take
minutes to build and gigabytes to hold. So one pass over the parser's event stream (libyaml's, when PyYAML has
it) refuses anchors and aliases, nesting deeper than `max_nesting` and more than `max_cases` cases, stopping at
the first excess; only then are nodes composed, and values are built from nodes by PyYAML's safe constructor
(unknown tags such as !!python/object are errors).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from promptslim import limits
from promptslim.errors import InputError

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser: the same events, far faster

Err = Callable[[int | None, str], InputError]


@dataclass
class _Open:
    """One collection being read: a mapping alternates key and value; the top mapping's `cases` list is counted."""

    mapping: bool
    cases: bool = False
    expect_key: bool = True
    key: Any = None
    items: int = field(default=0)


def _problem(exc: yaml.YAMLError) -> tuple[int | None, str]:
    # an unclosed quote's problem is found at the end of the file; where it opened is the useful line
    mark = getattr(exc, "problem_mark", None)
    if "end of stream" in str(getattr(exc, "problem", "")) and getattr(exc, "context_mark", None):
        mark = exc.context_mark
    return (mark.line + 1 if mark else None), f"invalid YAML: {getattr(exc, 'problem', None) or exc}"


def scan(text: str, err: Err, count_cases: bool = False) -> None:
    """Refuse anchors, aliases, excess nesting and (with count_cases) excess cases, naming the line and the limit."""
    bounds = limits.current()
    stack: list[_Open] = []
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            line = event.start_mark.line + 1 if event.start_mark else None
            if isinstance(event, yaml.AliasEvent):
                raise err(line, "invalid YAML: YAML aliases (*name) are not allowed in eval sets — write the value out")
            if getattr(event, "anchor", None):
                raise err(line, "invalid YAML: YAML anchors (&name) are not allowed in eval sets — write the value out")
            if isinstance(event, yaml.CollectionEndEvent):
                stack.pop()
                continue
            if not isinstance(event, (yaml.ScalarEvent, yaml.CollectionStartEvent)):
                continue
            key = None
            if stack:
                top = stack[-1]
                if top.mapping:
                    if top.expect_key:
                        top.key = event.value if isinstance(event, yaml.ScalarEvent) else None
                    else:
                        key = top.key
                    top.expect_key = not top.expect_key
                elif top.cases:
                    top.items += 1
                    if top.items > bounds.max_cases:
                        raise err(line, f"more than {bounds.max_cases:,} cases (max_cases) — split the eval set, or "
                                        "raise max_cases in promptslim.toml")
            if isinstance(event, yaml.CollectionStartEvent):
                top_level_cases = count_cases and len(stack) == 1 and stack[0].mapping and key == "cases"
                stack.append(_Open(isinstance(event, yaml.MappingStartEvent), cases=top_level_cases))
                if len(stack) > bounds.max_nesting:
                    raise err(line, f"nested deeper than {bounds.max_nesting} levels (max_nesting) — refused")
    except yaml.YAMLError as exc:
        raise err(*_problem(exc)) from None


def compose(text: str, err: Err, count_cases: bool = False) -> yaml.Node | None:
    """The document's node tree (lines kept), after `scan` let it through."""
    scan(text, err, count_cases)
    try:
        return yaml.compose(text, Loader=_LOADER)
    except yaml.YAMLError as exc:
        raise err(*_problem(exc)) from None


def plain(node: yaml.Node | None, err: Err | None = None) -> Any:
    """A node as plain Python, scalars resolved as yaml.safe_load does; unknown tags are errors naming the line."""
    if node is None:
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        message = f"invalid YAML: {problem}"
        if err is None:
            raise InputError(message) from None
        raise err(node.start_mark.line + 1, message) from None


def nesting(value: Any, limit: int) -> bool:
    """True when parsed JSON data nests deeper than limit (walked without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False
