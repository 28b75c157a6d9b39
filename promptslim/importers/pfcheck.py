"""Does an imported prompt read the same in Jinja2 as in nunjucks? Compile it and render it for every case.

Compiling and rendering go through promptslim's own sandboxed, bounded worker (the imported file is
untrusted like any template): a nunjucks-only filter (`dump`, promptfoo's `load`) or syntax fails to
compile, JavaScript-isms (`items.length`) fail to render, and either way the prompt is listed with the
error instead of written. A var a case does not set renders as empty text in nunjucks; the case gets it
as "" so the rendered prompt is the same.
"""

from __future__ import annotations

from typing import Any

from jinja2 import meta

from promptslim import paths
from promptslim.errors import InputError
from promptslim.template.load import render_messages, template_from_source
from promptslim.template.sandbox import sandbox


def compile_problem(source: str, rel: str) -> str | None:
    """The compile error of a template, as one line, or None when it compiles."""
    try:
        template_from_source(source, rel)
    except InputError as exc:
        return exc.message
    return None


def fill_missing(source: str, rel: str, cases: list[dict[str, Any]]) -> list[str]:
    """Give every case the vars the template reads but the case lacks, as nunjucks renders them: empty text."""
    if paths.is_plain(rel):
        return []
    env = sandbox()
    used = meta.find_undeclared_variables(env.parse(source)) - set(env.globals)
    notes = []
    for name in sorted(used):
        lacking = [case for case in cases if name not in case.get("vars", {})]
        for case in lacking:
            case.setdefault("vars", {})[name] = ""
        if lacking:
            notes.append(f"{rel}: {len(lacking)} case(s) do not set '{name}'; they set it to \"\" "
                         "(nunjucks renders a missing var as empty text)")
    return notes


def render_problem(source: str, rel: str, cases: list[dict[str, Any]]) -> str | None:
    """The first case the template fails to render for, with the error; None when every case renders."""
    for case in cases:
        try:
            render_messages(source, rel, case.get("vars", {}), None, "the imported eval set")
        except InputError as exc:
            return f"case '{case['id']}': {exc.message}"
    return None
