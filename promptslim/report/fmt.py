"""Number and text formatting shared by every report, so md, html and index read alike."""
from __future__ import annotations

import math
import re
from datetime import datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from promptslim.numfmt import MINUS, signed
from promptslim.numfmt import finite as _finite

# A typographic minus lines up with "+" in tables (numfmt.MINUS); "-" looks like a hyphen next to "$".
NO_CI = "n<2, no CI"
VERDICT_MARK = {"removable": "✅", "keep": "❌", "inconclusive": "❔"}


def _neg(s: str) -> str:
    return s.replace("-", MINUS)


def number(x: float | None, digits: int = 3) -> str:
    if not _finite(x):
        return "n/a"
    return _neg(f"{x:,.{digits}f}")


def tokens(x: float | None) -> str:
    """Token means: whole numbers stay whole, fractional means keep one decimal."""
    if not _finite(x):
        return "n/a"
    if abs(x - round(x)) < 0.05:
        return _neg(f"{round(x):,d}")
    return _neg(f"{x:,.1f}")


def signed_tokens(x: float | None) -> str:
    if not _finite(x):
        return "n/a"
    if abs(x - round(x)) < 0.05:
        return signed(float(round(x)), 0)
    return signed(x, 1)


def _usd_body(a: float, digits: int | None) -> str:
    if digits is None:
        # Per-call prices are tiny: keep three significant digits instead of printing $0.00.
        if a == 0:
            return "0.00"
        digits = max(2, 2 - math.floor(math.log10(a)))
    return f"{a:,.{digits}f}"


def usd(x: float | None, digits: int | None = 2, sign: bool = False) -> str:
    """'$1,234.56'; negative as '−$1.20'; sign=True also writes '+'. digits=None: 3 significant digits."""
    if not _finite(x):
        return "n/a"
    body = "$" + _usd_body(abs(x), digits)
    if digits is not None and round(x, digits) == 0:
        return body
    if x < 0:
        return MINUS + body
    return ("+" + body) if sign and x > 0 else body


def usd_compact(x: float, sign: bool = False) -> str:
    """Headline money: '$44' for tens and up, '$4.50' below, significant digits under a cent."""
    if not _finite(x):
        return "n/a"
    a = abs(x)
    digits = 0 if a >= 10 else (2 if a >= 0.01 or a == 0 else None)
    return usd(x, digits, sign=sign)


def pct(x: float | None, digits: int = 0) -> str:
    if not _finite(x):
        return "n/a"
    return number(100 * x, digits) + "%"


def delta_ci(delta: float | None, ci: list | None, digits: int = 3) -> str:
    """'−0.004 [−0.015, +0.006]', or the point alone with 'n<2, no CI' — never NaN."""
    point = signed(delta, digits)
    if not ci or not all(_finite(v) for v in ci):
        return f"{point} ({NO_CI})"
    return f"{point} [{signed(ci[0], digits)}, {signed(ci[1], digits)}]"


def score_ci(score: float | None, ci: list | None, digits: int = 3) -> str:
    point = number(score, digits)
    if not ci or not all(_finite(v) for v in ci):
        return f"{point} ({NO_CI})"
    return f"{point} [{number(ci[0], digits)}, {number(ci[1], digits)}]"


def hours(h: float | None) -> str:
    if h is None:
        return "n/a"
    if not _finite(h):
        return "never"
    if h >= 48:
        return f"{h / 24:,.1f} days"
    if h * 60 < 1:
        return "under a minute"
    if h < 1:
        return f"{h * 60:,.0f} min"
    return f"{h:,.1f} h"


def short_text(text: str, limit: int = 60) -> str:
    """One line, at most `limit` characters, for table cells."""
    flat = re.sub(r"\s+", " ", text or "").strip()
    if len(flat) <= limit:
        return flat
    cut = flat[: limit - 1]
    # Prefer ending on a whole word unless that would throw away a long tail.
    space = cut.rfind(" ")
    if flat[limit - 1] != " " and space >= limit - 15:
        cut = cut[:space]
    return cut.rstrip(" ,;:") + "…"


def md_cell(text: object) -> str:
    """Make any text safe inside a markdown table cell."""
    s = str(text).replace("\\", "\\\\").replace("|", "\\|")
    return re.sub(r"[\r\n]+", " ", s)


def short_commit(sha: str | None) -> str:
    return sha[:7] if sha else "uncommitted"


def day(created_at: str | None) -> str:
    if not created_at:
        return "n/a"
    try:
        return datetime.fromisoformat(created_at.replace("Z", "+00:00")).strftime("%Y-%m-%d")
    except ValueError:
        return created_at[:10]


def ids(values: list, limit: int = 10) -> str:
    shown = ", ".join(str(v) for v in values[:limit])
    return shown + (f", … (+{len(values) - limit})" if len(values) > limit else "")


def plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


@lru_cache(maxsize=1)
def environment() -> Environment:
    """Our own templates are trusted code; only .html output is autoescaped."""
    env = Environment(
        loader=FileSystemLoader(str(Path(__file__).parent / "templates")),
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default_for_string=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = md_cell
    from promptslim.report.mdsafe import code

    env.filters["code"] = code
    return env


def diff_lines(diff: str) -> list[tuple[str, str]]:
    """(css class, line) per unified-diff line: add, del, hunk, meta or ctx."""
    out = []
    for line in (diff or "").splitlines():
        if line.startswith(("+++", "---")):
            kind = "meta"
        elif line.startswith("+"):
            kind = "add"
        elif line.startswith("-"):
            kind = "del"
        elif line.startswith("@@"):
            kind = "hunk"
        else:
            kind = "ctx"
        out.append((kind, line))
    return out


def fence(text: str) -> str:
    """A markdown code fence longer than any run of backticks inside the text."""
    return "`" * max(3, _longest_backtick_run(text) + 1)


def approx(tokens_source: str) -> str:
    """' ≈' after an input-token figure that is an estimate, on every line it appears."""
    return " ≈" if tokens_source == "estimated" else ""


def _longest_backtick_run(text: str) -> int:
    best = run = 0
    for ch in text:
        run = run + 1 if ch == "`" else 0
        best = max(best, run)
    return best
