"""The CLI's terminal: rich tables of the engines' results, plain lines for what is meant to be copied, and a run's
events shown on stderr (notices, the plan, progress bars). Only promptslim/cli.py uses this module."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from promptslim.cost.plan import Plan
from promptslim.cost.prices import usd_text
from promptslim.engine.events import (BatchProgress, CaseDone, Detail, Event, Notice, OverBudget, PhaseStarted,
                                      PlanMade, Spent)
from promptslim.logprogress import LogProgress
from promptslim.numfmt import duration
from promptslim.report.ablation import headroom_view
from promptslim.report.facts import fact_lines
from promptslim.results import EvalResult
from promptslim.results.headroom import Headroom
from promptslim.results.history import RunsResult

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)
DONE = ("completed", "failed", "expired", "cancelled")


def line(text: str) -> None:
    """A plain line on stdout, never wrapped: headlines and paths are meant to be copied."""
    sys.stdout.write(text + "\n")


def to_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def usd(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "n/a"
    if x != 0 and abs(x) < 0.01:
        return f"${x:.6f}"
    return f"${x:,.{digits}f}"


def approx(flag: bool) -> str:
    return " ≈" if flag else ""


def short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def plan_line(event: PlanMade) -> str:
    """The run's plan, said on stderr before any call: variants, calls, tokens, $ against the budget."""
    p = event.plan
    judge = f" + {p.judge_calls} judge calls ({event.judge_model})" if p.judge_calls else ""
    scope = (f"{p.variants} variant(s) × {p.cases} cases × {p.repeats} repeat(s)" if event.templates is None
             else f"{p.variants} variant(s) over {event.templates} changed template(s)")
    reviewer = (f", of which {event.reviewer_calls} on this PR's new or changed eval cases (for the reviewer, not the "
                "gate)" if event.reviewer_calls else "")
    batch = ("" if p.usd_list is None else
             f" at the batch price (online ${p.usd_list:.4f}; --batch saves ${p.usd_list - p.usd:.4f})")
    return (f"plan: {scope} = {p.target_calls} target calls ({event.model}; {p.cached_calls} cached){judge}{reviewer}; "
            f"~{p.input_tokens:,} input tokens, ~{p.output_tokens:,} output tokens (estimated); "
            f"estimated ${p.usd:.4f}{batch} of {usd_text(p.budget)} budget; {plan_time(p)}")


def plan_time(p: Plan) -> str:
    """How long the plan's calls take at the pace earlier runs measured; unknown, never 0, when nothing was timed."""
    if p.target_calls == p.cached_calls and not p.judge_calls:
        return "no call to make (every answer is cached)"
    if p.seconds is None:
        return "time unknown (no earlier timed call to this endpoint and model)"
    return f"~{duration(p.seconds)} at the pace of earlier runs on this endpoint"


class Shown:
    """A run's events on stderr: notices always; the plan and details unless --json (check says its plan always);
    rich progress bars per phase with calls, cache hits and $ spent, and one bar per batch — or, when stderr is not
    a terminal (a CI log), plain progress lines (promptslim/logprogress.py)."""

    def __init__(self, quiet: bool, *, plan_always: bool = False, progress: bool = True) -> None:
        self.quiet, self.plan_always, self.progress = quiet, plan_always, progress and not quiet
        self.log = LogProgress(lambda text: err.print(text, markup=False, soft_wrap=True)) \
            if self.progress and not err.is_terminal else None
        self.bar: Progress | None = None
        self.task: Any = None
        self.batches: dict[str, Any] = {}
        self.stats = "calls 0  cached 0  $0.0000"

    def __call__(self, event: Event) -> Any:
        if isinstance(event, Notice):
            err.print(event.text, markup=False)
        elif isinstance(event, Detail) and not self.quiet:
            err.print(event.text, markup=False)
        elif isinstance(event, PlanMade) and (self.plan_always or not self.quiet):
            err.print(plan_line(event), markup=False)
        elif isinstance(event, Spent):
            self.stats = f"calls {event.calls}  cached {event.cache_hits}  ${event.usd:.4f}"
            if self.log is not None:
                self.log.spent(event.calls, event.cache_hits, event.usd)
            if self.bar is not None and self.task is not None:
                self.bar.update(self.task, stats=self.stats)
        elif isinstance(event, (PhaseStarted, CaseDone, OverBudget, BatchProgress)) and self.progress:
            self._progress(event)
        return None

    def _progress(self, event: Event) -> None:
        if self.log is not None:
            return self._logged(event)
        bar = self._bar()
        if isinstance(event, PhaseStarted):
            if self.task is not None:
                bar.update(self.task, completed=bar.tasks[-1].total)
            self.task = bar.add_task(event.name, total=event.total, stats=self.stats)
        elif isinstance(event, CaseDone) and self.task is not None:
            bar.update(self.task, advance=1, stats=self.stats)
        elif isinstance(event, BatchProgress):
            self._batch(bar, event.status)

    def _logged(self, event: Event) -> None:
        assert self.log is not None
        if isinstance(event, PhaseStarted):
            self.log.begin(event.name, event.total)
        elif isinstance(event, CaseDone):
            self.log.case_done()
        elif isinstance(event, BatchProgress):
            s = event.status
            self.log.batch_status(f"{s.role} {s.batch_id}: {s.status}, {s.completed + s.failed}/{s.total} requests")

    def _batch(self, bar: Progress, status: Any) -> None:
        """One bar per batch: requests finished of total, the batch's status, an ETA at the rate so far."""
        eta = status.eta
        when = ("ETA unknown until requests finish (window 24 h)" if eta is None and status.status not in DONE
                else "" if eta is None else f"ETA {duration(eta)}")
        text = f"{status.status}{' (resumed)' if status.resumed else ''}  {status.batch_id}  {when}".rstrip()
        task = self.batches.get(status.batch_id)
        if task is None:
            task = self.batches[status.batch_id] = bar.add_task(f"batch {status.role}", total=status.total, stats=text)
        bar.update(task, total=status.total, completed=status.completed + status.failed, stats=text)

    def _bar(self) -> Progress:
        if self.bar is None:
            self.bar = Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                                TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=err, transient=False)
            self.bar.__enter__()
        return self.bar

    def __enter__(self) -> "Shown":
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.bar is not None:
            self.bar.__exit__(*exc)
        if self.log is not None:
            self.log.close()


PIPE_WIDTH = 1000  # columns a table may take when stdout is a pipe or a file: no cell is cut to fit 80


def show(renderable: Any) -> None:
    """A table on stdout: as wide as the terminal, or, in a pipe or a file (where rich assumes 80 columns and cut
    `tier`'s table into unreadable cells), as wide as it needs; COLUMNS still wins when set."""
    if isinstance(renderable, Table) and isinstance(renderable.title, str):
        # the title as a plain line: rich wraps it to the table's width and cuts long words (a GGUF path as model)
        line(renderable.title)
        renderable.title = None
    wide = not out.is_terminal and not os.environ.get("COLUMNS")
    (Console(highlight=False, soft_wrap=False, width=PIPE_WIDTH) if wide else out).print(renderable)


def table(title: str, columns: list[str], rows: list[list[str]], left: Callable[[str], bool]) -> Table:
    """A rich table: `left(column)` says which columns are text (left-aligned); numbers align right."""
    t = Table(title=title)
    for col in columns:
        t.add_column(col, justify="left" if left(col) else "right")
    for row in rows:
        t.add_row(*row)
    return t


def print_units(data: dict[str, Any]) -> None:
    rows = [[str(u["id"]), str(u["line"]), f"{u['tokens']}{approx(data['tokens_approximate'])}",
             "kept" if u["pinned"] else u["kind"], short(u["text"])] for u in data["units"]]
    rows += [["·", str(f["line"]), "", f"fixed ({f['kind']})", short(f["text"])] for f in data["fixed"]]
    show(table(f"{data['template']}: {len(data['units'])} units, {len(data['fixed'])} fixed",
                    ["id", "line", "tokens", "mark", "text"], rows, lambda c: c not in ("id", "line", "tokens")))
    for warning in data["warnings"]:
        err.print(f"warning: {warning}", markup=False)


def print_tree(data: dict[str, Any]) -> None:
    """`units --tree`: sections, blocks and units indented under their parents, tokens per node; pinned units (not in
    any node) and the fixed parts are left out."""
    nodes = data["nodes"]
    total = sum(n["tokens"] for n in nodes if n["parent"] is None)
    rows = [["  " * (n["depth"] - 1) + n["id"], n["kind"], str(n["line"]), f"{n['tokens']}{approx(data['tokens_approximate'])}",
             str(len(n["units"])), short(n["title"], 60 - 2 * n["depth"])] for n in nodes]
    sections = sum(1 for n in nodes if n["parent"] is None)
    out.print(table(f"{data['template']}: {sections} top-level nodes, {total} tokens in removable units",
                    ["node", "kind", "line", "tokens", "units", "title"], rows,
                    lambda c: c in ("node", "kind", "title")))
    for warning in data["warnings"]:
        err.print(f"warning: {warning}", markup=False)


def print_count(data: dict[str, Any]) -> None:
    rows = [[r["model"], f"{r['input_tokens']:,.1f}{approx(r['approximate'])}", usd(r["usd_per_call"], 6),
             usd(r["usd_per_month"]), r["price_source"]] for r in data["models"]]
    # the title said "rendered with evalsets/x.yaml (20 cases, mean)": say what the token figure is
    show(table(f"{data['template']} — {data['calls_per_month']:,} calls/month; input tokens: {data['input_basis']}",
                    ["model", "input tokens/call", "$/call", "$/month", "price source"],
                    rows, lambda c: c in ("model", "price source")))
    line(f"input: {data['input_basis']}; output {data['output_note']}")  # a sentence: never wrapped mid-figure
    if any(r["approximate"] for r in data["models"]):
        out.print("≈ approximate: no public tokenizer for that model, counted with o200k_base")
    for note in data["notes"]:
        err.print(f"note: {note}", markup=False)


def print_eval(data: EvalResult) -> None:
    mark = approx(data.tokens_approximate)
    rows = [[row.id, "judge error" if row.score is None else f"{row.score:.2f}", "; ".join(row.failures) or "",
             answer(row.outputs), f"{row.input_tokens:.0f}{mark}", f"{row.output_tokens:.0f}"] for row in data.cases]
    show(table(f"{data.template} on {data.model} — {data.evalset}",
                    ["case", "score", "failed assertions", "answer", "in tok", "out tok"], rows,
                    lambda c: c not in ("score", "in tok", "out tok")))
    s = data.summary
    score = s.score
    if score.mean is None:
        line("score: no graded cases")
    elif score.ci is None:
        line(f"score: {score.mean:.3f} (n={score.n}; fewer than 2 cases, no CI)")
    else:
        line(f"score: {score.mean:.3f}  95% CI [{score.ci[0]:.3f}, {score.ci[1]:.3f}]  (n={score.n}, se={score.se:.3f})")
    rate = "n/a" if s.pass_rate is None else f"{s.pass_rate:.0%}"
    line(f"pass rate at threshold {data.threshold}: {rate} ({s.passes}/{s.graded} samples)   "
         f"judge errors: {s.judge_errors}")
    line(f"tokens per call: {s.input_tokens:.1f}{mark} in (mean over the cases), {s.output_tokens:.1f} out "
         f"(measured)   {usd(s.usd_per_call, 6)}/call, {usd(s.usd_per_month)}/month at "
         f"{data.calls_per_month:,} calls ({data.price_model} prices)")
    usable = s.usd_per_usable_output
    line(f"cost per usable output: {usd(usable, 6) if usable is not None else 'n/a (no usable output)'}")
    run = data.run
    line(f"this run: {run.calls} API calls, {run.cache_hits} cached, ${run.usd:.4f} "
         f"(target ${run.usd_target:.4f}, judge ${run.usd_judge:.4f})")
    for fact in fact_lines(run, data.prices, data.tokens_note):
        line(f"  {fact}")
    if data.judge_note:
        line(f"note: {data.judge_note}")
    for text in headroom_lines(data.headroom):
        line(text)
    for warning in data.warnings:
        line(f"warning: {warning}")


def answer(outputs: list[str], width: int = 40) -> str:
    """The case's first answer on one line, cut: what a failed assertion was looking at."""
    return short(" ".join(outputs[0].split()), width) if outputs else ""


def headroom_lines(room: Headroom | None) -> list[str]:
    """Per-label pass rates and answers, and the constant answer to beat (under eval's table, ablate's headlines)."""
    view = headroom_view(room)
    if view is None:
        return []
    out = []
    if view["labels"]:
        rates = " · ".join(f"{r['label']} {r['passes']}/{r['cases']} passed ({r['pass_rate']}), answered "
                           f"{r['answered']}" for r in view["labels"])
        other = f" · {view['other']} answer(s) none of the labels" if view["other"] else ""
        out.append(f"per label: {rates}{other}")
    out.append(f"headroom: {view['line']}")
    return out


def print_runs(result: RunsResult) -> None:
    """`promptslim runs T`: one row per kept run, newest first, the latest marked."""
    rows = [[r.id + (" (latest)" if r.latest else ""), r.created_at.replace("T", " ")[:16], r.model, f"{r.margin:g}",
             r.design, str(r.cases), str(r.removable), str(r.keep), str(r.inconclusive),
             usd(r.usd_per_month_found) + (f" (units {', '.join(map(str, r.slim_removed))})" if r.slim_removed else ""),
             "; ".join(n for n, on in (("template changed since", r.stale), ("⚠️ no headroom", r.no_headroom)) if on)]
            for r in result.runs]
    if not rows:
        line(f"no kept runs of {result.template} yet — `promptslim ablate {result.template}` keeps one per run under "
             "reports/<name>/runs/")
    else:
        show(table(f"{result.template}: {len(rows)} kept run(s), newest first",
                   ["run", "date (UTC)", "model", "margin", "design", "cases", "removable", "keep", "inconclusive",
                    "$/month found", "note"], rows, lambda c: c in ("run", "date (UTC)", "model", "design", "note")))
    for rel in result.unreadable:
        err.print(f"warning: {rel}/ablation.json cannot be read as an ablation; not listed", markup=False)


def print_files(files: dict[str, Any], width: int = 6) -> None:
    for name, path in files.items():
        line(f"  {name:<{width}} {path}")


def print_import(result: Any, written: list[str], config: bool) -> None:
    """What an import wrote, the suite's model settings, and what it could not map (listed, not dropped)."""
    for path in written:
        line(f"wrote {path}")
    shown = ", ".join(f"{k} = {json.dumps(v)}" for k, v in result.settings.items())
    if config:
        line(f"wrote promptslim.toml ({shown})")
    elif result.settings:
        line(f"promptslim.toml not changed (a config exists) — the suite's model settings: {shown}")
    line(f"{result.cases} cases")
    groups: dict[tuple[str, str], list[str]] = {}
    for item in result.skipped:
        groups.setdefault((item.kind, item.why), []).append(item.where)
    if groups:
        line(f"not mapped ({len(result.skipped)}; listed, not dropped):")
    for (kind, why), places in groups.items():
        more = f" … and {len(places) - 3} more" if len(places) > 3 else ""
        line(f"  {kind} ×{len(places)}: {why} — {'; '.join(places[:3])}{more}")
    for note in result.notes:
        line(f"note: {note}")
    templates = [f.path for f in result.files if f.path.startswith("prompts/")]
    if templates:
        line(f"next: promptslim eval {templates[0]}")


def print_export(result: Any) -> None:
    line(f"wrote {result.path} ({result.cases} cases: original vs {result.variant_path})")
    for item in result.skipped:
        line(f"  not exported: {item.where} — {item.why}")
    line(f"run: npx promptfoo@latest eval -c {result.path} && npx promptfoo@latest view")


def print_cache_stats(stats: Any, as_json: bool) -> None:
    data = {"path": stats.path, "entries": stats.entries, "size_bytes": stats.size_bytes, "last_run": stats.last_run,
            "last_run_calls": stats.last_run_calls, "last_run_cache_hits": stats.last_run_hits,
            "last_run_hit_rate": stats.hit_rate}
    if as_json:
        return to_json(data)
    rate = "n/a" if stats.hit_rate is None else f"{stats.hit_rate:.0%}"
    out.print(f"{stats.path}: {stats.entries} cached responses, {stats.size_bytes / 1024:.1f} KiB", markup=False)
    out.print(f"last run: {stats.last_run or 'none'} — {stats.last_run_hits}/{stats.last_run_calls} calls from cache "
              f"(hit rate {rate})", markup=False)


def print_ablation(result: Any, files: dict[str, Any], write: bool) -> None:
    """The ablation's headlines, warnings and files, what --write did, and what would settle the open units."""
    from promptslim.caveats import local_verdicts
    from promptslim.cost.prices import LOCAL
    from promptslim.report import headline
    from promptslim.report.sections import headlines

    data = result.data
    for text in [headline(data), *headlines(data), *headroom_lines(data.headroom),
                 *(f"warning: {w}" for w in data.warnings)]:
        line(text)
    print_files(files)
    rel, applied = result.template.rel, result.to_apply() if write else None
    if write and applied is None:
        line(f"nothing removed: no unit was verified removable together, so {rel} is unchanged")
    elif applied is not None:
        line(f"applied the {applied[1]} template to {rel} — review with: git diff {rel}")
    if data.inconclusive_hint:
        line(data.inconclusive_hint)
    if data.model == LOCAL:
        from promptslim.llm.local import local_name

        line(local_verdicts(local_name()[0]))


def print_tier(result: Any, files: dict[str, Any]) -> None:
    from promptslim.report.models import HEADER, headline, rows

    show(table(f"{result.template}: same prompt, other models — {result.evalset}", HEADER, rows(result),
                    lambda c: c in ("model", "verdict")))
    for text in [headline(result), *(f"warning: {w}" for w in result.warnings)]:
        line(text)
    print_files(files)
