"""Bounds on untrusted input: rendering a template (CPU time, output size, no huge constants), and the size of
what a run is asked to plan (cases in an eval set, units in a template, YAML/JSON nesting).

Two layers. The sandbox below intercepts the operators that build big values from small
literals (`**`, `*`, `%`, `+`) and refuses them before they run; Jinja does not constant-fold an
intercepted operator, so `{{ 9**(9**9) }}` no longer hangs the compiler. Everything else that
can burn CPU or memory (nested loops, filters with huge widths) is bounded by rendering in a
separate worker process (promptslim/template/worker.py) with an address-space limit. The time limit
counts the worker's CPU time, not wall time: on a busy machine (CI runners, shared cores) a prompt
that renders in 50 ms of CPU can take seconds of wall time, and a bomb burns CPU wherever it runs.
A CPU timer in the worker stops the render with the template line it was on; a kernel CPU limit
a second later kills the worker if one long C operation never returns to Python.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import ImmutableSandboxedEnvironment

DEFAULT_TIMEOUT = 2.0  # seconds of the worker's CPU time per render (config: render_timeout)
DEFAULT_MAX_BYTES = 1_000_000  # rendered characters per render (config: render_max_bytes)
WORKER_MEMORY_BYTES = 512 << 20  # address space of the render worker
# Sizes a plan is built for: above them the plan itself takes minutes and gigabytes (issue 25 measured 770,000
# cases and 20,000 units), so they are refused with a one-line error naming the limit; config raises them.
DEFAULT_MAX_CASES = 10_000  # cases in one eval set (config: max_cases)
DEFAULT_MAX_UNITS = 300  # instruction units `ablate` tests one by one (config: max_units)
DEFAULT_MAX_NESTING = 64  # levels of YAML/JSON nesting in an eval set (config: max_nesting; at most 200)


@dataclass(frozen=True)
class RenderLimits:
    """Bounds on untrusted input; set from the config that governs the run (the base revision's in `check`)."""

    timeout: float = DEFAULT_TIMEOUT
    max_bytes: int = DEFAULT_MAX_BYTES
    max_cases: int = DEFAULT_MAX_CASES
    max_units: int = DEFAULT_MAX_UNITS
    max_nesting: int = DEFAULT_MAX_NESTING


_current = RenderLimits()


class CpuTimeUp(Exception):
    """Raised in the render worker by its CPU timer; `line` is the template line it was on, when known."""

    def __init__(self, line: int | None = None, rendering: bool = False) -> None:
        super().__init__(line)
        self.line, self.rendering = line, rendering


def cpu_message(rel: str, line: int | None, seconds: float, compiling: bool = False) -> str:
    """The one refusal for a template over its CPU time: the file, the line, and the setting to raise."""
    where = f"{rel}:{line}" if line else rel
    what = "compiling" if compiling else "rendering"
    return (f"{where}: {what} used more than {seconds:g} s of CPU time (render_timeout) — refused; a prompt "
            "template renders in milliseconds (if this one really needs longer, raise render_timeout in "
            "promptslim.toml)")


def configure(timeout: float, max_bytes: int, max_cases: int = DEFAULT_MAX_CASES, max_units: int = DEFAULT_MAX_UNITS,
              max_nesting: int = DEFAULT_MAX_NESTING) -> None:
    global _current
    _current = RenderLimits(float(timeout), int(max_bytes), int(max_cases), int(max_units), int(max_nesting))


def current() -> RenderLimits:
    return _current


def check_units(count: int, where: str) -> None:
    """Refuse to plan an ablation of more units than max_units (each is a variant of its own)."""
    limit = _current.max_units
    if count > limit:
        from promptslim.errors import InputError

        raise InputError(f"{where}: {count:,} instruction units, more than {limit:,} (max_units) — an ablation tests "
                         "each one; group lines with {# promptslim: unit #} … {# promptslim: end #}, or raise "
                         "max_units in promptslim.toml")


_PERCENT_WIDTH = re.compile(r"%[-#0 +]*(\d+|\*)?(?:\.(\d+|\*))?")


def _size(value: Any) -> int:
    return len(value) if isinstance(value, (str, bytes, list, tuple)) else 0


class BoundedSandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, plus size guards on the operators that amplify a small template into a huge value."""

    intercepted_binops = frozenset({"**", "*", "%", "+"})
    max_bytes = DEFAULT_MAX_BYTES

    def _refuse(self, what: str) -> SecurityError:
        return SecurityError(f"{what} would exceed the render_max_bytes limit ({self.max_bytes:,})")

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        ints = isinstance(left, int) and isinstance(right, int)
        if operator == "**" and ints and right > 0 and abs(left) > 1:
            # decimal digits of left**right ≈ right * log10|left|; bit_length bounds it from above
            if abs(left).bit_length() * right > self.max_bytes * 4:
                raise self._refuse(f"{left} ** {right}")
        if operator == "*":
            if ints and left.bit_length() + right.bit_length() > self.max_bytes * 4:
                raise self._refuse("this multiplication")
            for seq, times in ((left, right), (right, left)):
                if isinstance(times, int) and _size(seq) and _size(seq) * max(times, 0) > self.max_bytes:
                    raise self._refuse(f"repeating a value of length {_size(seq):,} {times:,} times")
        if operator == "%" and isinstance(left, str):
            args = right if isinstance(right, tuple) else (right,)
            for match in _PERCENT_WIDTH.finditer(left):
                for group in match.groups():
                    if group == "*" and any(isinstance(a, int) and abs(a) > self.max_bytes for a in args):
                        raise self._refuse("a '%*' width")
                    if group and group != "*" and int(group) > self.max_bytes:
                        raise self._refuse(f"a '%' width of {int(group):,}")
        if operator == "+" and _size(left) + _size(right) > self.max_bytes:
            raise self._refuse("this concatenation")
        return super().call_binop(context, operator, left, right)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:  # noqa: N805
        for value in (*args, *kwargs.values()):
            if isinstance(value, int) and not isinstance(value, bool) and abs(value) > __self.max_bytes \
                    and getattr(__obj, "__self__", None).__class__ is str:
                raise __self._refuse(f"a str method argument of {value:,}")
        result = super().call(__context, __obj, *args, **kwargs)
        if _size(result) > __self.max_bytes:
            raise __self._refuse("a call result")
        return result
