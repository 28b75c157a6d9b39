"""The levers' report partials: how each section of ablation.json shows in ablation.md and ablation.html.

A lever's report module registers a view of its section (`@partial(SectionType, "name")`) and ships
templates/_name.md.j2 and templates/_name.html.j2, which read the view as `part.view`; the ablation report
renders every section present in the order its lever ran, without knowing which levers exist.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

if TYPE_CHECKING:
    from promptslim.results import AblationResult

View = Callable[[Any, "AblationResult"], dict]
Headline = Callable[["AblationResult"], str]
_PARTIALS: dict[type, tuple[str, View, Headline | None]] = {}


@dataclass(frozen=True)
class Part:
    """One section as the ablation templates include it."""

    md: str
    html: str
    view: dict


def partial(kind: type, name: str, headline: Headline | None = None) -> Callable[[View], View]:
    """Register `view(section, result) -> dict` for a section type, shown through templates/_<name>.{md,html}.j2;
    `headline(result)` is the line the terminal prints after the ablation's own headline."""

    def register(view: View) -> View:
        _PARTIALS[kind] = (name, view, headline)
        return view

    return register


def headlines(result: "AblationResult") -> list[str]:
    """The further levers' one-line findings, in the order they ran."""
    found = [_PARTIALS.get(type(s)) for s in result.sections]
    return [f[2](result) for f in found if f is not None and f[2] is not None]


def parts(result: "AblationResult") -> list[Part]:
    """The sections of an ablation that have a partial, in the order their levers ran."""
    out = []
    for section in result.sections:
        found = _PARTIALS.get(type(section))
        if found is not None:
            name, view, _ = found
            out.append(Part(f"_{name}.md.j2", f"_{name}.html.j2", view(section, result)))
    return out
