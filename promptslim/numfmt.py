"""Numbers as promptslim writes them in a sentence: signed with a true minus sign, the sign decided after rounding.
Shared by the engines' one-line messages (check's gate failures) and the renderers (promptslim/report/fmt.py)."""

from __future__ import annotations

import math

MINUS = "\u2212"


def finite(x: float | None) -> bool:
    return x is not None and isinstance(x, (int, float)) and math.isfinite(x)


def signed(x: float | None, digits: int = 3) -> str:
    """'+0.003' / '−0.004' / '0.000': the sign is decided after rounding, so no '−0.000'."""
    if not finite(x):
        return "n/a"
    r = round(x, digits)
    body = f"{abs(r):,.{digits}f}"
    if r > 0:
        return "+" + body
    if r < 0:
        return MINUS + body
    return body


def duration(seconds: float) -> str:
    """'45s', '3m 05s', '1h 02m': a wall time as a person reads it."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"
