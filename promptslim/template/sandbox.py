"""Compile and render a template in process, in the bounded Jinja2 sandbox: what the render worker
(promptslim/template/worker.py) runs for the parent, and what load.py's plain-text prompts use directly.

Always the immutable sandbox, StrictUndefined, no loader (no include/import of files); role markers become a
per-process sentinel that variable values cannot forge; every error names the file, the line and the fix.
"""

from __future__ import annotations

import re
import secrets
import types
from functools import lru_cache
from pathlib import Path
from typing import Any

import jinja2
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError

from promptslim.errors import InputError, SandboxRefusal
from promptslim.limits import BoundedSandbox, CpuTimeUp
from promptslim.template.layout import PLAIN_MARK, unclosed_block

ROLES = ("system", "user", "assistant")
_ROLE_MARK = re.compile(r"\{#-?\s*role:\s*([A-Za-z_-]*)\s*-?#\}")
# A per-process nonce makes the role marker unforgeable by variable values.
_SENTINEL = f"\x1e{secrets.token_hex(8)}\x1e"
# `evalset` value for renders outside an eval set (`count`): "--vars" alone, or "--vars <file>".
NO_EVALSET = "--vars"

def sandbox() -> BoundedSandbox:
    """The one environment promptslim renders user templates with (an ImmutableSandboxedEnvironment)."""
    return BoundedSandbox(
        undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True, autoescape=False,
    )


_ENV = sandbox()


def _mark_roles(source: str, rel: str, at_line: int | None = None) -> str:
    def repl(match: re.Match[str]) -> str:
        role = match.group(1).lower()
        if role not in ROLES:
            line = at_line or source.count("\n", 0, match.start()) + 1
            raise InputError(f"{rel}:{line}: unknown role '{match.group(1)}' (use system, user or assistant)")
        return f"{_SENTINEL}{role}{_SENTINEL}"

    return _ROLE_MARK.sub(repl, source)


def _plain_marked(source: str, rel: str) -> str:
    """A plain-text prompt as written; only whole-line role and promptslim markers are markup."""
    def repl(match: re.Match[str]) -> str:
        role = _ROLE_MARK.search(match.group(0))
        return _mark_roles(role.group(0), rel, source.count("\n", 0, match.start()) + 1) if role else ""

    return _PLAIN_LINE.sub(repl, source)


_PLAIN_LINE = re.compile(PLAIN_MARK.pattern + r"\r?\n?", re.M)  # the marker line goes with its line break


# With trim_blocks an {% endraw %} that ends a line of text would eat that line's newline ("+%}" keeps it),
# and a {% raw %} alone on its line would keep its own (Jinja never trims after raw): both act like {% if %}.
# Found from the tag, never from the line start: a pattern that scanned each line for "text, then the tag" was
# quadratic in line length (0.9 s on a 10 KB line, 12.7 s on 40 KB).
_ENDRAW_AT_EOL = re.compile(r"\{%-?\s*endraw\s*%\}(?=\r?\n)")
_RAW_LINE = re.compile(r"(?m)^([ \t]*\{%-?\s*raw\s*%\})(\r?\n)")


def _raw_like_blocks(source: str) -> str:
    """Same lines, so error line numbers hold; `{% raw %}{% endraw %}` + newline is trimmed, then raw resumes."""
    pieces, pos = [], 0
    for m in _ENDRAW_AT_EOL.finditer(source):
        if source[source.rfind("\n", 0, m.start()) + 1:m.start()].strip():  # text before it on its line
            pieces += [source[pos:m.end() - 2], "+%}"]
            pos = m.end()
    source = "".join(pieces) + source[pos:]
    return _RAW_LINE.sub(lambda m: m.group(1) + "{% endraw %}" + m.group(2) + "{% raw %}", source)


def literal_hint(rel: str) -> str:
    """The two fixes for text that only looks like Jinja, named in every Jinja error."""
    path = rel.rsplit(":", 1)[-1]
    return (f"{path} is read as Jinja: for literal braces rename it to {Path(path).with_suffix('.txt').name} "
            "(plain text) or wrap them in {% raw %}…{% endraw %}")


def _syntax_error(exc: TemplateSyntaxError, marked: str, source: str, rel: str) -> InputError:
    """file:line[:col] from the lexer's character offset or the parser's line, never a raw offset."""
    message, line, col = " ".join((exc.message or str(exc)).split()), exc.lineno, None
    offset = re.search(r" at (\d+)$", message)
    if offset:
        at = int(offset.group(1))
        message = message[:offset.start()]
        # inside a {{ or {% opened earlier, the opener is what to fix (the lexer points past it)
        opener = max(marked.rfind("{{", 0, at), marked.rfind("{%", 0, at))
        if opener >= 0 and "}}" not in marked[opener:at] and "%}" not in marked[opener:at]:
            at = opener
        line = marked.count("\n", 0, at) + 1
        col = at - marked.rfind("\n", 0, at)
    if message.startswith("Unexpected end of template"):
        opened = unclosed_block(source)
        if opened:
            message, line = f"'{{% {opened[0]} %}}' is never closed", opened[1]
    text = marked.split("\n")[line - 1] if 0 < line <= marked.count("\n") + 1 else ""
    if col is None and len(text) > 80:
        starts = [i for i in (text.find("{{"), text.find("{%"), text.find("{#")) if i >= 0]
        col = min(starts) + 1 if starts else None
    where = f"{rel}:{line}" + (f":{col}" if col else "")
    return InputError(f"{where}: syntax error: {message} — {literal_hint(rel)}")


@lru_cache(maxsize=512)
def compile_source(source: str, rel: str) -> jinja2.Template:
    """Compile once per distinct source text; errors name the file, line and the fix for literal braces."""
    marked = _raw_like_blocks(_mark_roles(source, rel))
    try:
        code = _ENV.compile(marked, name=rel, filename=rel)
    except TemplateSyntaxError as exc:
        raise _syntax_error(exc, marked, source, rel) from None
    return _ENV.template_class.from_code(_ENV, code, _ENV.make_globals(None))


def _template_line(tb: types.TracebackType | None, rel: str) -> int | None:
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == rel:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line


def render_local(source: str, rel: str, variables: dict[str, Any], evalset: str | None, max_bytes: int) -> list[str]:
    """In the worker: render with the output-size bound, split at this process's role sentinel."""
    _ENV.max_bytes = max_bytes
    template = compile_source(source, rel)
    try:
        size, parts = 0, []
        for chunk in template.generate(**variables):
            size += len(chunk)
            if size > max_bytes:
                raise SandboxRefusal(f"{rel}: renders more than {max_bytes:,} characters (render_max_bytes) — refused")
            parts.append(chunk)
        return "".join(parts).split(_SENTINEL)
    except CpuTimeUp as exc:
        raise CpuTimeUp(_template_line(exc.__traceback__, rel), rendering=True) from None
    except SecurityError as exc:
        line = _template_line(exc.__traceback__, rel)
        raise SandboxRefusal(f"{rel}:{line or '?'}: refused by the sandbox: {exc}") from None
    except UndefinedError as exc:
        line = _template_line(exc.__traceback__, rel)
        match = re.match(r"'([^']+)' is undefined", str(exc))
        where = f" in {evalset}" if evalset else ""
        if evalset and evalset.startswith(NO_EVALSET):
            given = evalset[len(NO_EVALSET):].strip()
            fix = (f"add it to {given}" if given else
                   "pass --vars FILE.yaml, a mapping of the variables (its input: key is the user message)")
        elif match and match.group(1) == "input":
            fix = f"give the case an 'input'{where}"
        else:
            fix = f"add it to the case's vars{where}"
        message = f"undefined variable '{match.group(1)}' — {fix}; {literal_hint(rel)}" if match else f"{exc}"
        raise InputError(f"{rel}:{line or '?'}: {message}") from None
    except (InputError, MemoryError, RecursionError):
        raise  # the worker words the resource failures
    except Exception as exc:  # any other failure inside user template code
        line = _template_line(exc.__traceback__, rel)
        raise InputError(f"{rel}:{line or '?'}: render error: {type(exc).__name__}: {exc}") from None
