"""Load and render prompt templates in the Jinja2 sandbox, turning them into chat messages.

Templates arrive in pull requests and render in CI next to an API key, so they are untrusted
code: always the immutable sandbox, StrictUndefined, no loader (no include/import of files), read
only as regular files inside the repository, and compiled and rendered in a worker process that
is bounded in CPU time, memory and output size (promptslim/limits.py, template/worker.py running
template/sandbox.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptslim import paths
from promptslim.errors import InputError
from promptslim.safeio import MAX_TEMPLATE_BYTES, check_text_size, read_repo_text
from promptslim.template import worker as renderworker
from promptslim.template.layout import jinja_warnings
from promptslim.template.sandbox import _SENTINEL, _plain_marked
from promptslim.template.units import Fixed, Unit, remove_units, segment

Message = dict[str, str]


@dataclass(frozen=True)
class Template:
    """A prompt template and its instruction units; `rel` is the path shown in messages."""

    rel: str
    name: str
    source: str
    units: tuple[Unit, ...]
    fixed: tuple[Fixed, ...]
    warnings: tuple[str, ...] = ()  # Jinja that will run silently, e.g. {# … #} or {% … %} in a code fence

    @property
    def candidates(self) -> tuple[Unit, ...]:
        """The units the ablation may drop: every unit the author did not pin."""
        return tuple(u for u in self.units if not u.pinned)

    def without(self, ids: frozenset[int] | set[int] | list[int]) -> str:
        """The template source with the given units removed; it still parses and renders."""
        return remove_units(self.source, [u for u in self.units if u.id in set(ids)])

    def render(self, variables: dict[str, Any], user_input: str | None, evalset: str | None = None,
               source: str | None = None) -> list[Message]:
        return render_messages(self.source if source is None else source, self.rel, variables, user_input, evalset)


def template_name(rel: str) -> str:
    """prompts/sub/x.j2 -> sub/x: the key for config and reports."""
    path = Path(rel)
    parts = path.parts[1:] if path.parts and path.parts[0] == "prompts" else path.parts
    return str(Path(*parts).with_suffix("")) if parts else path.stem


def relpath(path: Path, root: Path) -> str:
    try:
        return Path(path).resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return Path(path).as_posix()


def load_template(path: Path, root: Path) -> Template:
    """Read, compile (to surface syntax errors early) and segment a template."""
    source = read_repo_text(Path(path), root, "template", MAX_TEMPLATE_BYTES)
    return template_from_source(source, relpath(path, root))


def template_from_source(source: str, rel: str) -> Template:
    check_text_size(source, rel, "template", MAX_TEMPLATE_BYTES)
    plain = paths.is_plain(rel)
    if plain:
        _plain_marked(source, rel)  # surfaces an unknown role early
    else:
        renderworker.compile_check(source, rel)
    units, fixed = segment(source, rel, plain)
    warnings = () if plain else tuple(jinja_warnings(source, rel))
    return Template(rel=rel, name=template_name(rel), source=source, units=tuple(units), fixed=tuple(fixed),
                    warnings=warnings)


def render_text(source: str, rel: str, variables: dict[str, Any], evalset: str | None = None) -> str:
    """Render to text in the bounded worker (role markers become sentinels); failures are InputErrors with a line."""
    pieces = renderworker.render_pieces(source, rel, variables, evalset)
    text = pieces[0]
    for role, content in zip(pieces[1::2], pieces[2::2]):
        text += f"{_SENTINEL}{role}{_SENTINEL}{content}"
    return text


def render_messages(source: str, rel: str, variables: dict[str, Any], user_input: str | None,
                    evalset: str | None = None) -> list[Message]:
    """Render to chat messages per DESIGN.md: no role markup -> one system message + the case input as user.

    A plain-text prompt has no {{ input }} to place the case's input, so it always ends the messages.
    """
    context = dict(variables)
    if user_input is not None:
        context.setdefault("input", user_input)
    plain = paths.is_plain(rel)
    text = _plain_marked(source, rel) if plain else render_text(source, rel, context, evalset)
    pieces = text.split(_SENTINEL)
    messages: list[Message] = []
    head = pieces[0].strip()
    if head:
        messages.append({"role": "system", "content": head})
    for role, content in zip(pieces[1::2], pieces[2::2]):
        content = content.strip()
        if content:
            messages.append({"role": role, "content": content})
    if plain and user_input is not None:
        messages.append({"role": "user", "content": user_input})
    elif not any(m["role"] == "user" for m in messages):
        if user_input is None:
            raise InputError(f"{rel}: renders no user message and the case has no input"
                             + (f" — add 'input' to the cases in {evalset}" if evalset else ""))
        messages.append({"role": "user", "content": user_input})
    return messages
