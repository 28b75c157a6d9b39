"""Bring existing eval suites in (promptfoo configs, deepeval goldens) and send results back out (a promptfoo config).

Importers are engines: they read the user's files as untrusted input (safe YAML, bounded sizes and counts,
no file outside the suite's folder, no link followed, nothing executed) and return what to write and what
could not be mapped. Nothing is dropped silently: every assertion, option or file promptslim cannot express
comes back as a `Skipped` entry naming where it was and why; the CLI lists them and writes the files.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from promptslim.errors import InputError
from promptslim.jsontypes import JsonRecord
from promptslim.safeio import read_repo_text, relative_inside

MAX_SOURCE_BYTES = 20_000_000  # one imported file (config, test file, goldens)
MAX_CASES = 10_000  # cases after var expansion: an eval set runs every one of them on every variant
MAX_NODES = 2_000_000  # YAML/JSON values after alias expansion (a small file can alias itself into gigabytes)
MAX_DEPTH = 100  # nesting of one imported value


@dataclass(frozen=True)
class Skipped(JsonRecord):
    """A piece of the imported suite promptslim cannot express: listed for the user, never silently dropped."""

    kind: str  # the assertion type ("javascript", "similar") or the feature ("prompt", "provider", "option", …)
    where: str  # file and key: "promptfooconfig.yaml: tests[2].assert[0]"
    why: str


@dataclass(frozen=True)
class PlannedFile(JsonRecord):
    """A file the import will write, relative to the repository root."""

    path: str
    text: str


@dataclass(frozen=True)
class ImportResult(JsonRecord):
    """What an import would write and what it could not map; the CLI writes `files` and lists the rest."""

    source: str
    files: list[PlannedFile]
    cases: int
    skipped: list[Skipped]
    notes: list[str]  # mapped, with a difference worth knowing
    settings: dict[str, Any] = field(default_factory=dict)  # promptslim.toml keys from the suite (model, …)

    def skipped_by_kind(self) -> dict[str, list[Skipped]]:
        grouped: dict[str, list[Skipped]] = {}
        for item in self.skipped:
            grouped.setdefault(item.kind, []).append(item)
        return grouped


class Source:
    """Reads the files an imported suite refers to: inside its folder only, no links, size-capped, UTF-8."""

    def __init__(self, entry: Path) -> None:
        self.entry = Path(entry)
        self.base = self.entry.parent if self.entry.parent != Path("") else Path(".")
        self.name = self.entry.name

    def shown(self, path: Path) -> str:
        rel = relative_inside(path, self.base)
        return rel if rel is not None and not rel.startswith("../") else path.as_posix()

    def resolve(self, ref: str, where: str) -> Path:
        """`file://x.csv` (or a bare relative path) as a path inside the suite's folder; anything else is refused."""
        rel = ref[len("file://"):] if ref.startswith("file://") else ref
        path = Path(rel)
        if path.is_absolute() or ".." in path.parts:
            raise InputError(f"{where}: {ref!r} points outside {self.base.as_posix() or '.'}/ — an imported suite "
                             "is read only from its own folder")
        return self.base / path

    def read(self, path: Path, where: str, what: str = "file") -> str:
        if not path.exists() and not path.is_symlink():
            raise InputError(f"{where}: no such {what}: {self.shown(path)}")
        return read_repo_text(path, self.base, what, MAX_SOURCE_BYTES)

    def glob(self, pattern: str, where: str) -> list[Path]:
        """A `file://` glob, sorted; matches must stay inside the folder (no `..`, no absolute patterns)."""
        rel = pattern[len("file://"):] if pattern.startswith("file://") else pattern
        if Path(rel).is_absolute() or ".." in Path(rel).parts:
            raise InputError(f"{where}: {pattern!r} points outside the suite's folder")
        found = sorted(p for p in self.base.glob(rel) if not p.is_dir())
        if not found:
            raise InputError(f"{where}: {pattern!r} matches no file in {self.base.as_posix() or '.'}/")
        if len(found) > 1000:
            raise InputError(f"{where}: {pattern!r} matches {len(found):,} files (limit 1,000)")
        return found


def load_data(text: str, shown: str, kind: str = "yaml") -> Any:
    """Plain data from untrusted YAML or JSON: safe tags only, bounded nesting and alias expansion."""
    try:
        if kind == "json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=yaml.SafeLoader)  # noqa: S506 - SafeLoader: no custom tags
    except json.JSONDecodeError as exc:
        raise InputError(f"{shown}:{exc.lineno}: invalid JSON: {exc.msg}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{shown}:{mark.line + 1}" if mark else shown
        raise InputError(f"{where}: invalid YAML: {getattr(exc, 'problem', None) or str(exc).splitlines()[0]}") from None
    except RecursionError:
        raise InputError(f"{shown}: nested too deeply (limit {MAX_DEPTH} levels)") from None
    check_size(data, shown)
    return data


def check_size(data: Any, shown: str) -> None:
    """Refuse values nested past MAX_DEPTH or larger than MAX_NODES once YAML aliases are expanded.

    Aliases load as shared references, so the walk counts each distinct container once and multiplies
    by its uses: a billion-laughs file is refused by arithmetic, without ever expanding it.
    """
    sizes: dict[int, int] = {}

    def size(value: Any, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise InputError(f"{shown}: nested too deeply (limit {MAX_DEPTH} levels)")
        if not isinstance(value, (dict, list)):
            return 1
        key = id(value)
        if key not in sizes:
            children = value.values() if isinstance(value, dict) else value
            total = 1
            for child in children:
                total += size(child, depth + 1)
                if total > MAX_NODES:
                    raise InputError(f"{shown}: more than {MAX_NODES:,} values once YAML aliases are expanded — "
                                     "refused (an alias can expand a small file into gigabytes)")
            sizes[key] = total
        return sizes[key]

    size(data, 0)


def slug(text: str, fallback: str) -> str:
    """A file- and id-safe name: lower case letters, digits, '-' and '_'."""
    cleaned = re.sub(r"[^a-z0-9_-]+", "-", str(text).lower()).strip("-_")[:60].strip("-_")
    return cleaned or fallback


def unique(name: str, taken: set[str]) -> str:
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}-{n}", n + 1
    taken.add(candidate)
    return candidate


def evalset_yaml(cases: list[dict[str, Any]], criteria: str | None, threshold: float | None,
                 steps: list[str] | None, header: str) -> str:
    """The eval set as promptslim reads it (DESIGN.md): set keys first, then one mapping per case."""
    data: dict[str, Any] = {}
    if criteria:
        data["criteria"] = criteria
    if threshold is not None:
        data["threshold"] = threshold
    if steps:
        data["steps"] = steps
    data["cases"] = cases
    body = yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120, default_flow_style=False)
    return "".join(f"# {line}\n" for line in header.splitlines()) + body


def template_suffix(text: str) -> str:
    """.txt for text without template syntax (rendered as written), .j2 for anything Jinja would read."""
    return ".j2" if re.search(r"\{[{%#]", text) else ".txt"
