"""Charts as inline SVG strings, so the HTML reports stay one offline file."""
from __future__ import annotations

import io
import math
import re
from contextlib import contextmanager
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:
    from promptslim.results import AblationResult, IndexEntry

VERDICT_COLOR = {"removable": "#1a7f37", "keep": "#cf222e", "inconclusive": "#b08800"}
_RC = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, and uses the page's fonts
    # labels are file names and dollar figures, plain text: "$…$" in a name is not typeset as math (a name like
    # prompts/a$\foo{$.j2 made mathtext raise), and no label needs escaping
    "text.parse_math": False,
    "svg.hashsalt": "promptslim",  # stable element ids, so reruns give byte-identical reports
    "font.family": "sans-serif",
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
}


@contextmanager
def _figure(width: float, height: float) -> Iterator:
    """A figure whose style settings stay local; the user's global rcParams are untouched."""
    import matplotlib

    # A bare Figure (never pyplot) needs no backend: no GUI, nothing registered in
    # pyplot's global figure manager, nothing to close, and matplotlib.use() is not
    # called, so a host process (a notebook) keeps its own backend.
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        yield Figure(figsize=(width, height), layout="constrained")


def _svg(fig) -> str:
    """Inline <svg> element without prolog, doctype, metadata or namespace URLs."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", metadata={"Date": None})
    svg = buf.getvalue()
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, flags=re.S)
    # HTML5 parses inline SVG (and xlink:href) without namespace declarations; dropping
    # them keeps the page free of any http(s) URL.
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    svg = svg.replace('font-family:sans-serif', "font-family:inherit")
    svg = svg.replace("font-family: 'sans-serif'", "font-family: inherit")
    return svg.strip()


def _place_labels(ax, points: list[tuple[float, float, str]], fig) -> None:
    """Greedy label placement: try a few offsets per point, keep the first that overlaps nothing."""
    fig.draw_without_rendering()
    to_px = ax.transData.transform
    px_per_pt = fig.dpi / 72
    char_w, text_h = 6.0 * px_per_pt, 10.0 * px_per_pt
    offsets = [(5, 3), (5, -11), (-7, 3), (-7, -11), (5, 12), (-7, 12), (5, -20), (-7, -20), (12, -4)]
    placed: list[tuple[float, float, float, float]] = []
    markers = [tuple(to_px((x, y))) for x, y, _ in points]
    frame = ax.get_window_extent()
    for (x, y, label), (mx, my) in zip(points, markers):
        w = char_w * len(label)
        best = None
        for dx, dy in offsets:
            left = mx + dx * px_per_pt - (w if dx < 0 else 0)
            bottom = my + dy * px_per_pt
            box = (left, bottom, left + w, bottom + text_h)
            hits = sum(_overlap(box, b) for b in placed) + sum(
                _overlap(box, (px - 4, py - 4, px + 4, py + 4)) for px, py in markers
            ) + 2 * (box[0] < frame.x0 or box[2] > frame.x1 or box[1] < frame.y0 or box[3] > frame.y1)
            if best is None or hits < best[0]:
                best = (hits, dx, dy, box)
            if hits == 0:
                break
        _, dx, dy, box = best
        placed.append(box)
        ax.annotate(
            label, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8,
            ha="right" if dx < 0 else "left", va="bottom", color="#1f2328",
        )


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def ablation_chart_svg(result: "AblationResult") -> str:
    """Score delta (with CI) against input tokens saved, one point per unit, plus the slim prompt."""
    units = result.units
    margin = float(result.margin or 0.0)
    with _figure(8.0, 4.2) as fig:
        ax = fig.add_subplot()
        ax.grid(True, color="#d0d7de", linewidth=0.6, alpha=0.7)
        ax.set_axisbelow(True)
        ax.axhline(0, color="#57606a", linewidth=1)
        ax.axhline(-margin, color="#cf222e", linewidth=1, linestyle="--", label=f"−margin (−{margin:g})")
        labels = []
        for verdict, color in VERDICT_COLOR.items():
            pts = [u for u in units if u.verdict == verdict and _num(u.score_delta)]
            if not pts:
                continue
            xs = [float(u.input_tokens_saved or 0.0) for u in pts]
            ys = [float(u.score_delta) for u in pts]
            lo = [max(0.0, y - u.ci[0]) if _has_ci(u.ci) else 0.0 for u, y in zip(pts, ys)]
            hi = [max(0.0, u.ci[1] - y) if _has_ci(u.ci) else 0.0 for u, y in zip(pts, ys)]
            ax.errorbar(
                xs, ys, yerr=[lo, hi], fmt="o", color=color, ecolor=color, elinewidth=1.1,
                capsize=3, markersize=5, label=verdict, zorder=3,
            )
            labels += [(x, y, str(u.id)) for x, y, u in zip(xs, ys, pts)]
        slim = result.slim
        if slim.removed and _num(slim.score_delta):
            sx = float(result.baseline.input_tokens) - float(slim.input_tokens)
            sy = float(slim.score_delta)
            sci = slim.ci
            err = [[max(0.0, sy - sci[0])], [max(0.0, sci[1] - sy)]] if _has_ci(sci) else None
            # hollow and under the units: a one-unit slim prompt sits exactly on its unit's point, and a filled
            # diamond hid the green removable marker the legend names (issue 24)
            ax.errorbar(
                [sx], [sy], yerr=err, fmt="D", color="#0969da", ecolor="#0969da", capsize=3, markersize=11,
                markerfacecolor="none", markeredgewidth=1.6, label="slim (all removed together)", zorder=2,
            )
            labels.append((sx, sy, "slim"))
        ax.set_xlabel("input tokens saved per call")
        ax.set_ylabel("score Δ vs baseline (95% CI)")
        ax.margins(x=0.06, y=0.12)
        # Anchor the axis at 0 saved tokens; margins first, since set_xlim stops autoscaling.
        ax.set_xlim(left=min(0.0, ax.get_xlim()[0]))
        fig.legend(loc="outside upper center", ncols=5, fontsize=8, frameon=False)
        _place_labels(ax, labels, fig)
        return _svg(fig)


def index_chart_svg(entries: "list[IndexEntry]") -> str:
    """Monthly cost per template now vs after the slim prompt (stale or missing ablations: no change)."""
    rows = sorted(entries, key=lambda e: -(e.usd_per_month or 0.0))
    names = [e.name or e.template or "?" for e in rows]
    now = [float(e.usd_per_month or 0.0) for e in rows]
    slim = [n - e.saving for n, e in zip(now, rows)]
    with _figure(8.0, 1.2 + 0.55 * max(1, len(rows))) as fig:
        ax = fig.add_subplot()
        ys = list(range(len(rows)))[::-1]
        h = 0.38
        ax.barh([y + h / 2 for y in ys], now, height=h, color="#8c959f", label="now")
        current = [e.ablation is not None and not e.ablation.stale for e in rows]
        colors = ["#1a7f37" if c else "#d0d7de" for c in current]
        ax.barh([y - h / 2 for y in ys], slim, height=h, color=colors)
        # Proxy handles: one bar call with mixed colours would give the legend one swatch.
        from matplotlib.patches import Patch

        handles = [Patch(color="#8c959f", label="now"), Patch(color="#1a7f37", label="with slim prompt")]
        if not all(current):
            handles.append(Patch(color="#d0d7de", label="no current ablation"))
        top = max(now + [1e-9])
        for y, n, s, e in zip(ys, now, slim, rows):
            ax.text(n + top * 0.01, y + h / 2, _money(n), va="center", fontsize=8)
            ab = e.ablation
            note = "stale, not counted" if ab and ab.stale else ("not ablated" if not ab else "")
            text = _money(s) + (f"  ({note})" if note else "")
            ax.text(s + top * 0.01, y - h / 2, text, va="center", fontsize=8, color="#57606a" if note else "#1f2328")
        ax.set_yticks(ys, names)
        ax.set_xlabel("USD per month")
        ax.set_xlim(0, top * 1.3)
        ax.grid(True, axis="x", color="#d0d7de", linewidth=0.6)
        ax.set_axisbelow(True)
        ax.xaxis.set_major_formatter(lambda v, _pos: f"${v:,.0f}")
        fig.legend(handles=handles, loc="outside upper center", ncols=3, fontsize=8, frameon=False)
        return _svg(fig)


def _money(x: float) -> str:
    return f"${x:,.0f}" if abs(x) >= 100 else f"${x:,.2f}"


def _num(x) -> bool:
    return isinstance(x, (int, float)) and math.isfinite(x)


def _has_ci(ci) -> bool:
    return bool(ci) and len(ci) == 2 and all(_num(v) for v in ci)
