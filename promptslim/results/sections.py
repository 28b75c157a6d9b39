"""The seam in the result: each lever beyond removal returns one typed Section of ablation.json.

A section's fields are top-level keys of the file, present only when its lever ran, laid out flat after the
removal's keys in the order the levers ran (DESIGN.md: `models`, `rewrites`, …). A section registers itself by
subclassing, so the published schema and the typed read-back know every lever whose result module is loaded:
promptslim.results loads its own modules, and a plug-in's section is known once its module is imported.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from promptslim.jsontypes import JsonRecord

SECTION_TYPES: list[type["Section"]] = []


@dataclass(frozen=True)
class Proven:
    """A lever's proven saving, for the reviewer index: $/month at the run's traffic, and what it is."""

    usd_per_month_saved: float
    detail: str


@dataclass(frozen=True)
class PromptFile:
    """A prompt a lever proposes, written next to slim.<ext> as <name>.<ext>, and what it saves (for --write)."""

    name: str
    source: str
    usd_per_month_saved: float
    input_tokens_saved: float


class Section(JsonRecord):
    """Base of a lever's part of ablation.json (a frozen dataclass whose fields are the keys it adds)."""

    lever: ClassVar[str] = ""  # the reviewer index's name for its saving ("" when it proposes none)

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        SECTION_TYPES.append(cls)

    def proven(self, model: str) -> Proven | None:
        """What this lever proved it saves (`model` is the run's model under test), or None."""
        return None

    def prompt_file(self) -> PromptFile | None:
        """The verified prompt this lever proposes, or None."""
        return None


def section_types() -> list[type[Section]]:
    """Every registered section type, in the order their modules were loaded."""
    return list(SECTION_TYPES)
