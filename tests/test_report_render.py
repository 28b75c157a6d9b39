"""Report renderers: real numbers in, the exact strings a reviewer reads out."""
from __future__ import annotations

import copy
import io
import json
import re

import pandas as pd
import pytest

from promptslim import report

try:
    from tests.typed import as_ablation, as_entries, as_totals, complete_ablation
except ImportError:  # tests/ itself on sys.path (no package)
    from typed import as_ablation, as_entries, as_totals, complete_ablation  # type: ignore


# The renderers take typed results; these tests write ablation.json as dicts of the fields they are about.
def headline(r):
    return report.headline(as_ablation(r))


def render_markdown(r, diff):
    return report.render_markdown(as_ablation(r), diff)


def render_html(r, diff):
    return report.render_html(as_ablation(r), diff)


def units_frame(r):
    return report.units_frame(as_ablation(r))


def write_ablation_reports(r, outdir, diff):
    return report.write_ablation_reports(as_ablation(r), outdir, diff)


def render_index_markdown(entries, totals):
    return report.render_index_markdown(as_entries(entries), as_totals(totals, entries))


def render_index_html(entries, totals):
    return report.render_index_html(as_entries(entries), as_totals(totals, entries))


def write_index(entries, totals, outdir):
    return report.write_index(as_entries(entries), as_totals(totals, entries), outdir)

MINUS = "\u2212"

DIFF = """\
--- prompts/support_reply.j2
+++ reports/support_reply/slim.j2
@@ -1,6 +1,4 @@
-You are a helpful, friendly and professional customer support assistant.
+You are a customer support assistant.
 Customer name: {{ customer_name }}
-- Always be polite, warm and respectful.
 - Keep your reply short: no more than four sentences.
"""


@pytest.fixture(autouse=True)
def _mpl_home(tmp_path, monkeypatch):
    monkeypatch.setenv("MPLCONFIGDIR", str(tmp_path / "mpl"))


def unit(uid, line, text, saved, out_delta, delta, ci, verdict, usd_month, n=30, tokens=None):
    return {
        "id": uid, "line": line, "text": text, "tokens": tokens or round(saved),
        "input_tokens_saved": saved, "output_tokens_delta": out_delta, "score_delta": delta,
        "ci": ci, "verdict": verdict, "usd_per_month_saved": usd_month, "n": n,
        "usd_per_call_saved": usd_month / 1_200_000,
    }


def make_result(**overrides) -> dict:
    """A realistic ablation.json: 5 units, mixed verdicts, 2 in slim, 1 restored."""
    result = {
        "template": "prompts/support_reply.j2",
        "template_sha256": "9f2c1a7e55d04b8b9c1d2e3f4a5b6c7d8e9f00112233445566778899aabbccdd",
        "git_commit": "abc1234def5678abc1234def5678abc1234def56",
        "model": "local", "price_model": "gpt-4o-mini", "judge_model": "smollm2-135m",
        "judge_note": "judge scores come from a tiny local model (SmolLM2-135M): for trying the tool, not for decisions",
        "evalset": "evalsets/support_reply.yaml",
        "cases": 30, "repeats": 1, "margin": 0.02, "calls_per_month": 1_200_000,
        "tokens_approximate": False,
        "created_at": "2026-11-22T10:00:00+00:00",
        "method": "paired t-interval on per-case score deltas, 95% Bonferroni-adjusted over 5 units",
        "inconclusive_hint": "1 unit is inconclusive; about 80 cases (or --repeats 3) would likely settle it",
        "pinned": [6],
        "baseline": {
            "input_tokens": 412.0, "output_tokens": 88.3, "score": 0.91, "ci": [0.87, 0.94],
            "pass_rate": 0.93, "usd_per_call": 0.000115, "usd_per_month": 138.2,
            "usd_per_usable_output": 0.000124,
        },
        "units": [
            unit(1, 1, "You are a helpful, friendly and professional customer support assistant.",
                 9.0, -1.2, 0.003, [-0.01, 0.02], "removable", 1.9),
            unit(2, 3, "Always be polite, warm and respectful, even if the customer is frustrated.",
                 16.0, 0.4, -0.002, [-0.012, 0.008], "removable", 3.4),
            unit(3, 4, "Address the customer by their first name.",
                 9.0, 0.0, -0.09, [-0.15, -0.03], "keep", 1.7),
            unit(4, 5, "Keep your reply short | no more than four sentences.",
                 11.0, 14.5, -0.01, [-0.05, 0.03], "inconclusive", 0.8),
            unit(5, 7, "Never make up features, prices or policies that are not listed here.",
                 14.0, 0.2, 0.001, [-0.011, 0.009], "removable", 2.6),
        ],
        "slim": {
            "removed": [2, 1], "restored": [5], "path": "reports/support_reply/slim.j2",
            "input_tokens": 387.0, "output_tokens": 87.1, "score": 0.906,
            "score_delta": -0.004, "ci": [-0.015, 0.006], "verdict": "removable",
            "input_tokens_saved": 25.0, "output_tokens_delta": -1.2,
            "usd_per_call_saved": 0.0000044, "usd_per_month_saved": 5.3,
        },
        "run": {"calls": 620, "cache_hits": 12, "usd": 0.41, "wall_seconds": 38.2, "payback_hours": 6.7},
    }
    result.update(overrides)
    return complete_ablation(result)


def nothing_removable_result() -> dict:
    r = make_result()
    r["slim"] = {
        "removed": [], "restored": [], "path": "reports/support_reply/slim.j2",
        "input_tokens": 412.0, "output_tokens": 88.3, "score": 0.91, "score_delta": 0.0,
        "ci": [0.0, 0.0], "verdict": "inconclusive", "input_tokens_saved": 0.0, "output_tokens_delta": 0.0,
        "usd_per_call_saved": 0.0, "usd_per_month_saved": 0.0,
    }
    return r


def signed(x: float, digits: int) -> str:
    s = f"{abs(x):.{digits}f}"
    return s if round(x, digits) == 0 else ("+" if x > 0 else MINUS) + s


# --- headline ---------------------------------------------------------------------------

def test_headline_is_computed_from_baseline_and_slim():
    r = make_result()
    saved = r["baseline"]["input_tokens"] - r["slim"]["input_tokens"]  # 25
    pct = round(100 * saved / r["baseline"]["input_tokens"])  # 6
    lo, hi = r["slim"]["ci"]
    expected = (
        f"remove {len(r['slim']['removed'])} of {len(r['units'])} instructions: "
        f"{MINUS}{saved:.0f} tokens/call ({MINUS}{pct}%), "
        f"quality {signed(r['slim']['score_delta'], 3)} [{signed(lo, 3)}, {signed(hi, 3)}], "
        f"{MINUS}${r['slim']['usd_per_month_saved']:.2f}/month"
    )
    assert headline(r) == expected
    assert headline(r) == "remove 2 of 5 instructions: −25 tokens/call (−6%), quality −0.004 [−0.015, +0.006], −$5.30/month"


def test_headline_matches_the_design_example():
    r = make_result()
    r["baseline"]["input_tokens"] = 412.0
    r["slim"].update(removed=[1, 2, 3, 4], input_tokens=301.0, usd_per_month_saved=44.0)
    r["units"] = r["units"] + [dict(r["units"][0], id=i) for i in range(6, 13)]
    assert headline(r) == (
        "remove 4 of 12 instructions: −111 tokens/call (−27%), quality −0.004 [−0.015, +0.006], −$44/month"
    )


def test_headline_when_nothing_is_removable():
    # the three headlines are distinct: not enough evidence is not "everything is needed"
    assert headline(nothing_removable_result()) == (
        "not enough evidence to remove anything: 1 of 5 units inconclusive, 1 keep, "
        "3 removable alone but not verified together at 30 cases"
    )
    r = nothing_removable_result()
    r["power"] = {"min_detectable_margin": 0.0712}
    assert headline(r).endswith("at 30 cases (smallest margin this run could detect: 0.071; margin is 0.02)")


def test_headline_when_every_unit_is_keep():
    r = nothing_removable_result()
    for u in r["units"]:
        u["verdict"] = "keep"
    assert headline(r) == "keep every instruction: removing any one of the 5 measurably lowers quality"


def test_headline_without_ci_says_so():
    r = make_result()
    r["slim"]["ci"] = None
    assert "quality −0.004 (n<2, no CI)" in headline(r)


# --- markdown ---------------------------------------------------------------------------

def table_ids(md: str) -> list[int]:
    section = md.split("## Units", 1)[1].split("## Slim prompt", 1)[0]
    return [int(m) for m in re.findall(r"^\| (\d+) \|", section, flags=re.M)]


def test_markdown_units_are_sorted_by_monthly_saving():
    r = make_result()
    md = render_markdown(r, DIFF)
    expected = [u["id"] for u in sorted(r["units"], key=lambda u: -u["usd_per_month_saved"])]
    assert table_ids(md) == expected == [2, 5, 1, 3, 4]


def test_markdown_has_title_headline_context_and_notes():
    r = make_result()
    md = render_markdown(r, DIFF)
    assert md.startswith("# promptslim ablation: `prompts/support_reply.j2`\n")
    assert f"**{headline(r)}**" in md
    assert "model local (priced as gpt-4o-mini)" in md
    assert "judge smollm2-135m" in md
    assert "30 cases × 1 repeat" in md
    assert "margin 0.02" in md
    assert r["method"] in md
    assert "620 calls, 12 cache hits" in md and "$0.41" in md and "6.7 h" in md
    assert f"> ⚠️ **Note:** {r['judge_note']}" in md
    assert r["inconclusive_hint"] in md
    assert "Restored: 5" in md
    assert "Pinned by the author (`promptslim: keep`, not tested): unit 6." in md


def test_markdown_rows_mark_verdicts_and_slim_membership():
    md = render_markdown(make_result(), DIFF)
    row2 = next(line for line in md.splitlines() if line.startswith("| 2 |"))
    cells = [c.strip() for c in row2.strip("|").split(" | ")]
    assert cells == ["2", "3", "✅ removable (in slim)", "16", "+0.4", "−0.002 [−0.012, +0.008]", "30",
                     "$3.40", "Always be polite, warm and respectful, even if the customer…"]
    assert "| 3 | 4 | ❌ keep |" in md
    assert "| 4 | 5 | ❔ inconclusive |" in md
    assert "| 5 | 7 | ✅ removable (not in slim) |" in md
    # a saving is shown only for decided units: in the slim prompt or removable, never keep or inconclusive
    assert "| 3 | 4 | ❌ keep | 9 | 0.0 | −0.090 [−0.150, −0.030] | 30 | — (kept) |" in md
    assert "| 4 | 5 | ❔ inconclusive | 11 | +14.5 | −0.010 [−0.050, +0.030] | 30 | — (not decided) |" in md
    # A pipe inside instruction text must not split the table cell.
    assert "Keep your reply short \\| no more than four sentences." in md


def test_markdown_includes_the_diff_fenced():
    md = render_markdown(make_result(), DIFF)
    assert "```diff\n--- prompts/support_reply.j2\n" in md
    assert "-- Always be polite, warm and respectful.\n" in md
    assert md.rstrip().endswith("</sub>")


def test_null_ci_renders_no_ci_never_nan():
    r = make_result()
    r["units"][3]["ci"] = None
    r["units"][3]["n"] = 1
    r["baseline"]["ci"] = None
    md = render_markdown(r, DIFF)
    html = render_html(r, DIFF)
    assert "| 4 | 5 | ❔ inconclusive | 11 | +14.5 | −0.010 (n<2, no CI) | 1 |" in md
    assert "0.910 (n<2, no CI)" in md
    assert "−0.010 (n&lt;2, no CI)" in html
    for text in (md, html):
        assert "nan" not in text.lower().replace("nanos", "")


def test_null_usd_per_usable_output_renders_na():
    r = make_result()
    r["baseline"]["usd_per_usable_output"] = None
    assert "n/a (no usable output)" in render_markdown(r, DIFF)
    assert "n/a (no usable output)" in render_html(r, DIFF)


def test_nothing_removable_markdown_says_so_and_has_no_diff():
    md = render_markdown(nothing_removable_result(), "")
    assert f"**{headline(nothing_removable_result())}**" in md
    assert "Nothing removed" in md
    assert "```diff" not in md


def test_missing_commit_is_uncommitted():
    md = render_markdown(make_result(git_commit=None), DIFF)
    assert "commit uncommitted" in md


# --- csv --------------------------------------------------------------------------------

def test_csv_reads_back_with_every_unit_and_raw_numbers():
    r = make_result()
    r["units"][3]["ci"] = None
    df = pd.read_csv(io.StringIO(units_frame(r).to_csv(index=False)))
    assert list(df.columns) == [
        "id", "line", "verdict", "in_slim", "tokens", "input_tokens_saved", "output_tokens_delta",
        "score_delta", "ci_low", "ci_high", "n", "usd_per_call_saved", "usd_per_month_saved", "text",
        "judge_errors", "truncated",  # issue 17: the run facts per unit, appended so positions stay
    ]
    assert len(df) == 5
    assert df["id"].tolist() == [1, 2, 3, 4, 5]
    assert df["in_slim"].tolist() == [True, True, False, False, False]
    assert df["verdict"].tolist() == ["removable", "removable", "keep", "inconclusive", "removable"]
    row3 = df.set_index("id").loc[3]
    assert row3["score_delta"] == pytest.approx(-0.09)
    assert row3["ci_low"] == pytest.approx(-0.15) and row3["ci_high"] == pytest.approx(-0.03)
    assert row3["usd_per_month_saved"] == pytest.approx(1.7)
    assert pd.isna(df.set_index("id").loc[4, "ci_low"])
    assert df.set_index("id").loc[4, "text"] == "Keep your reply short | no more than four sentences."


# --- html -------------------------------------------------------------------------------

def test_html_is_one_offline_file_with_an_inline_chart():
    html = render_html(make_result(), DIFF)
    assert html.startswith("<!DOCTYPE html>")
    assert "<svg" in html and "<?xml" not in html and "<!DOCTYPE svg" not in html
    assert not re.search(r"""(src|href)\s*=\s*["']?https?://""", html, flags=re.I)
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "@import" not in html
    assert not re.search(r"url\((?!#)", html)  # only in-page references such as clip paths


def test_html_chart_labels_each_unit_and_the_margin():
    html = render_html(make_result(), DIFF)
    svg = html[html.index("<svg"): html.index("</svg>")]
    for uid in range(1, 6):
        assert re.search(rf">\s*{uid}\s*<", svg), uid
    assert "slim" in svg and "margin" in svg


def test_html_shows_headline_notes_table_and_colored_diff():
    r = make_result()
    html = render_html(r, DIFF)
    assert headline(r) in html
    assert r["judge_note"] in html and 'class="note warn"' in html
    assert '<span class="badge v-keep">keep</span></td>' in html
    assert '<span class="badge v-removable">removable</span> <span class="muted">in slim</span>' in html
    assert '<span class="badge v-inconclusive">inconclusive</span>' in html
    assert '<span class="add">+You are a customer support assistant.</span>' in html
    assert '<span class="del">-- Always be polite, warm and respectful.</span>' in html
    assert '<span class="hunk">@@ -1,6 +1,4 @@</span>' in html
    # Template text is escaped, never executed as markup.
    assert "{{ customer_name }}" in html


def test_html_escapes_instruction_text():
    r = make_result()
    r["units"][0]["text"] = "Reply in <b>bold</b> & never <script>alert(1)</script>"
    html = render_html(r, DIFF)
    assert "&lt;b&gt;bold&lt;/b&gt; &amp; never &lt;script&gt;" in html
    assert "<script>" not in html


def test_html_nothing_removable_has_no_slim_row():
    html = render_html(nothing_removable_result(), "")
    assert headline(nothing_removable_result()) in html
    assert '<span class="add">' not in html


# --- files ------------------------------------------------------------------------------

def test_write_ablation_reports_writes_four_files(tmp_path):
    r = make_result()
    paths = write_ablation_reports(r, tmp_path / "reports" / "support_reply", DIFF)
    assert set(paths) == {"json", "md", "csv", "html"}
    assert all(p.exists() and p.parent == tmp_path / "reports" / "support_reply" for p in paths.values())
    raw = paths["json"].read_text(encoding="utf-8")
    assert raw == json.dumps(r, indent=2, ensure_ascii=False) + "\n" and json.loads(raw) == r
    assert "SmolLM2-135M" in raw
    assert len(pd.read_csv(paths["csv"])) == 5
    assert paths["md"].read_text(encoding="utf-8") == render_markdown(r, DIFF)
    assert "<svg" in paths["html"].read_text(encoding="utf-8")


def test_rendering_is_deterministic():
    r = make_result()
    assert render_html(copy.deepcopy(r), DIFF) == render_html(r, DIFF)


# --- index ------------------------------------------------------------------------------

def index_entries() -> tuple[list[dict], dict]:
    def ablation(name, saved, stale, commit="abc1234def5678"):
        return {
            "path": f"reports/{name}/ablation.md", "units": 12, "removable": [1, 4, 7],
            "slim_removed": [1, 4], "slim_input_tokens": 301.0, "slim_verdict": "removable",
            "usd_per_month_saved": saved, "created_at": "2026-11-22T10:00:00+00:00",
            "git_commit": commit, "model": "gpt-4o-mini", "stale": stale,
        }

    entries = [
        {"template": "prompts/support_reply.j2", "name": "support_reply", "model": "gpt-4o-mini",
         "input_tokens": 412.0, "tokens_approximate": False, "calls_per_month": 1_200_000,
         "usd_per_call": 0.0000618, "usd_per_month": 74.2, "ablation": ablation("support_reply", 44.0, False)},
        {"template": "prompts/summarize.j2", "name": "summarize", "model": "gpt-4o-mini",
         "input_tokens": 250.0, "tokens_approximate": True, "calls_per_month": 3_000_000,
         "usd_per_call": 0.0000700, "usd_per_month": 1210.8, "ablation": ablation("summarize", 9.5, True, None)},
        {"template": "prompts/ticket_classifier.j2", "name": "ticket_classifier", "model": "gpt-4o",
         "input_tokens": 180.0, "tokens_approximate": False, "calls_per_month": 10_000,
         "usd_per_call": 0.0015, "usd_per_month": 15.0, "ablation": None},
    ]
    totals = {"usd_per_month_now": 1300.0, "usd_per_month_removable": 44.0, "templates": 3, "ablated": 2, "stale": 1}
    return entries, totals


def index_row(md: str, template: str) -> list[str]:
    line = next(line for line in md.splitlines() if line.startswith(f"| `{template}`"))
    return [c.strip() for c in line.strip().strip("|").split(" | ")]


def test_index_total_line():
    entries, totals = index_entries()
    md = render_index_markdown(entries, totals)
    assert "**$1,300.00/month now, $44.00/month found removable**" in md
    assert "3 templates, 2 ablated, 1 stale" in md
    # GitHub only renders a table that follows a blank line.
    assert "\n\n| template | model |" in md


def test_index_stale_ablation_is_marked_and_not_counted():
    entries, totals = index_entries()
    md = render_index_markdown(entries, totals)
    row = index_row(md, "prompts/summarize.j2")
    assert row[1:5] == ["gpt-4o-mini", "250 ≈", "3,000,000", "$1,210.80"]
    assert row[6] == "⚠️ stale"
    assert "stale — template changed since" in row[8]
    assert "$9.50" not in md
    assert "[2026-11-22, uncommitted](summarize/ablation.md)" in row[7]


def test_index_current_and_unablated_rows():
    entries, totals = index_entries()
    md = render_index_markdown(entries, totals)
    current = index_row(md, "prompts/support_reply.j2")
    assert current[2:9] == ["412", "1,200,000", "$74.20", "3 of 12 (units 1, 4, 7)", "$44.00",
                            "[2026-11-22, abc1234](support_reply/ablation.md)", "current"]
    assert index_row(md, "prompts/ticket_classifier.j2")[-1] == "not ablated"
    # Most expensive template first.
    order = [line.split("`")[1] for line in md.splitlines() if line.startswith("| `")]
    assert order == ["prompts/summarize.j2", "prompts/support_reply.j2", "prompts/ticket_classifier.j2"]


def test_index_html_is_offline_and_charts_now_vs_slim(tmp_path):
    entries, totals = index_entries()
    paths = write_index(entries, totals, tmp_path / "reports")
    assert set(paths) == {"md", "html"}
    html = paths["html"].read_text(encoding="utf-8")
    assert "$1,300.00/month now, $44.00/month found removable" in html
    assert "<svg" in html and "http://" not in html and "https://" not in html
    assert "<script" not in html.lower() and "<link" not in html.lower()
    svg = html[html.index("<svg"): html.index("</svg>")]
    assert "$74.20" in svg and "$30.20" in svg  # support_reply now and now − saved
    assert "stale, not counted" in svg
    assert 'href="support_reply/ablation.html"' in html
    assert "stale — template changed since" in html


def test_index_with_no_templates():
    md = render_index_markdown([], {"usd_per_month_now": 0.0, "usd_per_month_removable": 0.0,
                                    "templates": 0, "ablated": 0, "stale": 0})
    assert "$0.00/month now, $0.00/month found removable" in md
    assert "0 templates" in md
    assert "<svg" not in render_index_html([], {"usd_per_month_now": 0.0, "usd_per_month_removable": 0.0})


def test_rendering_leaves_the_callers_matplotlib_backend_alone():
    import matplotlib

    before = matplotlib.rcParams["backend"]
    render_html(make_result(), DIFF)
    render_index_html(*index_entries())
    assert matplotlib.rcParams["backend"] == before


# --- issue 24: report rough edges ---------------------------------------------------------------------------------

def test_a_one_unit_slim_prompt_does_not_hide_its_removable_point():
    """The slim diamond sat on the unit's own point, so the legend's green 'removable' marker was nowhere."""
    r = make_result()
    r["slim"].update(removed=[1], input_tokens=403.0, score_delta=0.003, ci=[-0.01, 0.02])  # unit 1's own point
    svg = render_html(r, DIFF)
    uses = re.findall(r'<use xlink:href="#\w+" x="([\d.]+)" y="([\d.]+)" style="([^"]*)"', svg)
    slim = next(i for i, (_, _, style) in enumerate(uses) if "stroke: #0969da" in style and "fill-opacity: 0" in style)
    x, y, _ = uses[slim]
    on_top = [i for i, (ux, uy, style) in enumerate(uses) if (ux, uy) == (x, y) and "fill: #1a7f37" in style]
    assert on_top and min(on_top) > slim  # the green point is drawn after (over) the hollow diamond


def test_the_method_is_said_once_and_a_free_run_pays_nothing_back():
    r = make_result()
    html = render_html(r, DIFF)
    assert html.count(r["method"]) == 1
    assert f"method: {r['method']}" in render_markdown(r, DIFF)
    free = make_result(run={"calls": 620, "cache_hits": 12, "usd": 0.0, "wall_seconds": 38.2, "payback_hours": 0.0})
    md = render_markdown(free, DIFF)
    assert "pays for itself" not in md  # it said "pays for itself in 0 min"
    quick = make_result(run={"calls": 6, "cache_hits": 0, "usd": 0.0001, "wall_seconds": 3.0, "payback_hours": 0.001})
    assert "pays for itself in under a minute" in render_markdown(quick, DIFF)
