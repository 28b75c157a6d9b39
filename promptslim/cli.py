"""The command line: parse options, call one engine function, render what it returns, map errors to exit codes."""

from __future__ import annotations

import functools
import json
import math
import os
import sys
from pathlib import Path
from typing import Any, Callable, Optional

import click
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from promptslim.errors import PromptslimError

# locals in a pretty traceback can hold API keys: never show them
HELP_FLAGS = {"help_option_names": ["-h", "--help"]}  # -h is what a newcomer types first
app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_show_locals=False, context_settings=HELP_FLAGS,
                  help="Find the prompt tokens you pay for on every call but do not need.")
cache_app = typer.Typer(no_args_is_help=True, context_settings=HELP_FLAGS,
                        help="The response cache in .promptslim/cache.sqlite.")
app.add_typer(cache_app, name="cache")
out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False, soft_wrap=True)



def _open_unit(value: float | None) -> float | None:
    """A margin of 0 proves nothing and a margin of 1 lets anything through: strictly between."""
    if value is not None and not (math.isfinite(value) and 0 < value < 1):
        raise typer.BadParameter(f"must be strictly between 0 and 1, got {value}")
    return value


JSON_OPT = typer.Option(False, "--json", help="Print the result as JSON instead of a table.")
MODEL_OPT = typer.Option(None, "--model", "-m", help="Model under test ('local' = the embedded model).")
JUDGE_OPT = typer.Option(None, "--judge-model", help="LLM judge model; 'none' grades by assertions alone.")
REPEATS_OPT = typer.Option(None, "--repeats", "-r", min=1, help="Samples per case at the configured temperature (sample index "
                           "is in the cache key); helps only with noisy answers or a noisy judge.")
CPM_OPT = typer.Option(None, "--calls-per-month", min=0, help="Traffic for $/month (default: config).")
COST_OPT = typer.Option(None, "--max-cost", min=0.0, help="Budget in USD for this run's own API spend.")
YES_OPT = typer.Option(False, "--yes", "-y", help="Start even when the estimate exceeds the budget.")
NOCACHE_OPT = typer.Option(False, "--no-cache", help="Ask the endpoint again instead of reusing cached answers.")
BATCH_OPT = typer.Option(False, "--batch", help="Send the calls through the provider's Batch API (OpenAI: 50% of "
                         "the list price, answers within 24 h); a rerun resumes the same batch.")


INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug, never a verdict (1 means "regression")
_debug = {"on": False}


def main() -> None:
    import signal

    # SIGTERM (CI cancelling a job) outside a run reads like Ctrl-C: a message and exit 130, never silence
    def _term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _term)
    app()


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        _line(f"promptslim {version('promptslim')}")
        raise typer.Exit(0)


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an internal error "
                                        "(also PROMPTSLIM_DEBUG=1)."),
             _show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                                help="Print the installed version and exit.")) -> None:
    """Find the prompt tokens you pay for on every call but do not need."""
    _debug["on"] = debug


def _debugging() -> bool:
    return _debug["on"] or os.environ.get("PROMPTSLIM_DEBUG", "") not in ("", "0")


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One line on stderr and the DESIGN.md exit code; never a traceback for an expected failure, never 1 for a crash."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from promptslim.llm.retry import scrub
        from promptslim.report.mdsafe import one_line  # a file name may hold a newline or a terminal escape

        try:
            return fn(*args, **kwargs)
        except PromptslimError as exc:
            err.print(one_line(f"error: {exc.message}" if exc.exit_code == 2 else exc.message), markup=False)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err.print("interrupted — every completed call is cached; rerun the same command to resume", markup=False)
            raise typer.Exit(130) from None
        except (typer.Exit, typer.Abort, click.exceptions.ClickException):
            raise
        except MemoryError:
            err.print("internal error: out of memory — rerun with --debug for the traceback", markup=False)
            raise typer.Exit(INTERNAL_ERROR) from None
        except Exception as exc:
            if _debugging():
                raise
            detail = scrub(str(exc).splitlines()[0] if str(exc) else "")[:300]
            err.print(f"internal error: {type(exc).__name__}{': ' + detail if detail else ''} — this is a bug in "
                      "promptslim; rerun with --debug (or PROMPTSLIM_DEBUG=1) for the traceback", markup=False)
            raise typer.Exit(INTERNAL_ERROR) from None

    return wrapper



def _line(text: str) -> None:
    """A plain line on stdout, never wrapped: headlines and paths are meant to be copied."""
    sys.stdout.write(text + "\n")


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _usd(x: float | None, digits: int = 2) -> str:
    if x is None:
        return "n/a"
    if x != 0 and abs(x) < 0.01:
        return f"${x:.6f}"
    return f"${x:,.{digits}f}"


def _approx(flag: bool) -> str:
    return " ≈" if flag else ""


# ---------------------------------------------------------------- units / count
@app.command()
@handles_errors
def units(template: str = typer.Argument(..., help="prompts/x.j2"), as_json: bool = JSON_OPT,
          model: str = typer.Option("gpt-4o-mini", "--model", "-m", help="Tokenizer for the token column.")) -> None:
    """List the instruction units the ablation can remove, and the fixed parts it never touches."""
    from promptslim.counting import list_units

    data = list_units(template, model)
    if as_json:
        return _json(data)
    table = Table(title=f"{data['template']}: {len(data['units'])} units, {len(data['fixed'])} fixed")
    for col in ("id", "line", "tokens", "mark", "text"):
        table.add_column(col, justify="right" if col in ("id", "line", "tokens") else "left")
    for u in data["units"]:
        table.add_row(str(u["id"]), str(u["line"]), f"{u['tokens']}{_approx(data['tokens_approximate'])}",
                      "kept" if u["pinned"] else u["kind"], _short(u["text"]))
    for f in data["fixed"]:
        table.add_row("·", str(f["line"]), "", f"fixed ({f['kind']})", _short(f["text"]))
    out.print(table)
    for line in data["warnings"]:
        err.print(f"warning: {line}", markup=False)


def _short(text: str, width: int = 70) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


@app.command()
@handles_errors
def count(template: str = typer.Argument(..., help="prompts/x.j2"),
          models: Optional[list[str]] = typer.Option(None, "--model", "-m", help="Repeat for a side-by-side view."),
          calls_per_month: Optional[int] = CPM_OPT,
          vars_file: Optional[Path] = typer.Option(None, "--vars", help="YAML with the template's variables "
                                                   "(default: the eval set's first case)."),
          output_tokens: Optional[int] = typer.Option(None, "--output-tokens", min=0,
                                                      help="Assumed answer length for $ figures (default: the "
                                                           "latest ablation's measured output)."),
          as_json: bool = JSON_OPT) -> None:
    """Input tokens per call, $ per call and $ per month, per model."""
    from promptslim.counting import count_template

    data = count_template(template, models or [], calls_per_month, vars_file, output_tokens)
    if as_json:
        return _json(data)
    table = Table(title=f"{data['template']} — {data['calls_per_month']:,} calls/month, rendered with "
                        f"{data['rendered_with']}")
    for col in ("model", "input tokens/call", "$/call", "$/month", "price source"):
        table.add_column(col, justify="left" if col in ("model", "price source") else "right")
    for row in data["models"]:
        table.add_row(row["model"], f"{row['input_tokens']:,.1f}{_approx(row['approximate'])}", _usd(row["usd_per_call"], 6),
                      _usd(row["usd_per_month"]), row["price_source"])
    out.print(table)
    out.print(f"input: mean over {data['rendered_with']}; output {data['output_note']}", markup=False)
    if any(r["approximate"] for r in data["models"]):
        out.print("≈ approximate: no public tokenizer for that model, counted with o200k_base")
    for line in data["notes"]:
        err.print(f"note: {line}", markup=False)


# ---------------------------------------------------------------- eval / ablate
class _Progress:
    """Rich progress bars per phase with cases done / total, cache hits and $ spent (on stderr)."""

    def __init__(self, runner: Any, enabled: bool) -> None:
        self.runner = runner
        self.bar = Progress(TextColumn("{task.description:<14}"), BarColumn(), MofNCompleteColumn(),
                            TextColumn("{task.fields[stats]}"), TimeElapsedColumn(), console=err,
                            disable=not enabled, transient=False)
        self.task = None
        self.batches: dict[str, Any] = {}
        runner.listeners.append(self._on_call)
        from promptslim.llm.batch import batch_backends

        for backend in batch_backends(runner):
            backend.listeners.append(self._on_batch)

    def _stats(self) -> str:
        return f"calls {self.runner.api_calls}  cached {self.runner.cache_hits}  ${self.runner.spent:.4f}"

    def _on_call(self, _event: Any) -> None:
        if self.task is not None:
            self.bar.update(self.task, stats=self._stats())

    def _on_batch(self, status: Any) -> None:
        """One bar per batch: requests finished of total, the batch's status, an ETA at the rate so far."""
        eta = status.eta
        when = ("ETA unknown until requests finish (window 24 h)" if eta is None and status.status not in
                ("completed", "failed", "expired", "cancelled") else "" if eta is None else f"ETA {_duration(eta)}")
        text = f"{status.status}{' (resumed)' if status.resumed else ''}  {status.batch_id}  {when}".rstrip()
        task = self.batches.get(status.batch_id)
        if task is None:
            task = self.batches[status.batch_id] = self.bar.add_task(f"batch {status.role}", total=status.total,
                                                                    stats=text)
        self.bar.update(task, total=status.total, completed=status.completed + status.failed, stats=text)

    def phase(self, name: str, total: int) -> Callable[[], None]:
        if self.task is not None:
            self.bar.update(self.task, completed=self.bar.tasks[-1].total)
        self.task = self.bar.add_task(name, total=total, stats=self._stats())
        task = self.task
        return lambda: self.bar.update(task, advance=1, stats=self._stats())

    def __enter__(self) -> "_Progress":
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.__exit__(*exc)


def _duration(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m {seconds % 60:02d}s"
    return f"{seconds // 3600}h {seconds % 3600 // 60:02d}m"


def _batch_note(usd: float, usd_list: float | None) -> str:
    """The plan's batch saving: what the same calls would cost online."""
    if usd_list is None:
        return ""
    return f" at the batch price (online ${usd_list:.4f}; --batch saves ${usd_list - usd:.4f})"


def _notices(prepared: Any) -> None:
    from promptslim.runsetup import run_notices

    for line in [*(f"warning: {w}" for w in prepared.template.warnings), *run_notices(prepared.models)]:
        err.print(line, markup=False)


def _plan(prepared: Any, variants: list[Any], quiet: bool) -> Any:
    """The run's plan from the variants the engine will run, said on stderr before any call."""
    from promptslim.prices import usd_text

    p = prepared.plan(variants)
    budget = p.budget
    if not quiet:
        judge = f" + {p.judge_calls} judge calls ({prepared.models.judge_model})" if p.judge_calls else ""
        err.print(f"plan: {p.variants} variant(s) × {p.cases} cases × {p.repeats} repeat(s) = {p.target_calls} target "
                  f"calls ({prepared.models.model}; {p.cached_calls} cached){judge}; ~{p.input_tokens:,} input tokens, "
                  f"~{p.output_tokens:,} output tokens (estimated); estimated ${p.usd:.4f}{_batch_note(p.usd, p.usd_list)} "
                  f"of {usd_text(budget)} budget", markup=False)
    return p


def _execute(runner: Any, plan: Any, yes: bool, show_progress: bool, start: Callable[[_Progress], Any]) -> Any:
    """Refuse an over-budget plan, else run one engine coroutine under progress bars."""
    from promptslim.runsetup import execute

    with _Progress(runner, enabled=show_progress) as progress:
        return execute(runner, plan, yes, lambda: start(progress))


@app.command("eval")
@handles_errors
def eval_cmd(template: str = typer.Argument(..., help="prompts/x.j2"), model: Optional[str] = MODEL_OPT,
             judge_model: Optional[str] = JUDGE_OPT, repeats: Optional[int] = REPEATS_OPT,
             calls_per_month: Optional[int] = CPM_OPT, max_cost: Optional[float] = COST_OPT, yes: bool = YES_OPT,
             no_cache: bool = NOCACHE_OPT, batch: bool = BATCH_OPT, as_json: bool = JSON_OPT,
             csv: Optional[Path] = typer.Option(None, "--csv", help="Write the per-case rows to this CSV file.")) -> None:
    """Run the eval set once: per-case table, mean score with 95% CI, pass rate, $ and cost per usable output."""
    from promptslim.evalresult import eval_result
    from promptslim.report.csvsafe import csv_text
    from promptslim.report.evalcsv import eval_frame
    from promptslim.runsetup import prepare
    from promptslim.strategy import Variant

    prepared = prepare(template, model=model, judge_model=judge_model, repeats=repeats, calls_per_month=calls_per_month,
                       max_cost=max_cost, use_cache=not no_cache, command="eval", batch=batch)
    _notices(prepared)
    ev = prepared.evaluator
    plan = _plan(prepared, [Variant("baseline", prepared.template.source)], as_json)

    def start(progress: _Progress) -> Any:
        ev.on_case = progress.phase("eval", len(prepared.evalset.cases))
        return ev.run(prepared.template.source)

    result = _execute(ev.runner, plan, yes, not as_json, start)
    data = eval_result(prepared, result)
    if csv is not None:
        Path(csv).write_text(csv_text(eval_frame(data)), encoding="utf-8")  # answers and ids never run as formulas
    if as_json:
        return _json(data.to_json())
    _print_eval(data)
    if csv is not None:
        out.print(f"wrote {csv}")


def _print_eval(data: Any) -> None:
    approx = _approx(data.tokens_approximate)
    table = Table(title=f"{data.template} on {data.model} — {data.evalset}")
    for col in ("case", "score", "failed assertions", "in tok", "out tok"):
        table.add_column(col, justify="right" if col in ("score", "in tok", "out tok") else "left")
    for row in data.cases:
        score = "judge error" if row.score is None else f"{row.score:.2f}"
        table.add_row(row.id, score, "; ".join(row.failures) or "", f"{row.input_tokens:.0f}{approx}",
                      f"{row.output_tokens:.0f}")
    out.print(table)
    s = data.summary
    score = s.score
    if score.mean is None:
        line = "score: no graded cases"
    elif score.ci is None:
        line = f"score: {score.mean:.3f} (n={score.n}; fewer than 2 cases, no CI)"
    else:
        line = (f"score: {score.mean:.3f}  95% CI [{score.ci[0]:.3f}, {score.ci[1]:.3f}]  "
                f"(n={score.n}, se={score.se:.3f})")
    _line(line)
    rate = "n/a" if s.pass_rate is None else f"{s.pass_rate:.0%}"
    _line(f"pass rate at threshold {data.threshold}: {rate} ({s.passes}/{s.graded} samples)   "
          f"judge errors: {s.judge_errors}")
    _line(f"tokens per call: {s.input_tokens:.1f}{approx} in (mean over the cases), {s.output_tokens:.1f} out "
          f"(measured)   {_usd(s.usd_per_call, 6)}/call, {_usd(s.usd_per_month)}/month at "
          f"{data.calls_per_month:,} calls ({data.price_model} prices)")
    usable = s.usd_per_usable_output
    _line(f"cost per usable output: {_usd(usable, 6) if usable is not None else 'n/a (no usable output)'}")
    run = data.run
    _line(f"this run: {run.calls} API calls, {run.cache_hits} cached, ${run.usd:.4f} "
          f"(target ${run.usd_target:.4f}, judge ${run.usd_judge:.4f})")
    from promptslim.report.facts import fact_lines

    for fact in fact_lines(run, data.prices, data.tokens_note):
        _line(f"  {fact}")
    if data.judge_note:
        _line(f"note: {data.judge_note}")
    for warning in data.warnings:
        _line(f"warning: {warning}")


@app.command()
@handles_errors
def ablate(template: str = typer.Argument(..., help="prompts/x.j2"), model: Optional[str] = MODEL_OPT,
           judge_model: Optional[str] = JUDGE_OPT, repeats: Optional[int] = REPEATS_OPT,
           margin: Optional[float] = typer.Option(None, "--margin", callback=_open_unit,
                                                  help="Non-inferiority margin on the 0..1 score scale."),
           calls_per_month: Optional[int] = CPM_OPT, max_cost: Optional[float] = COST_OPT, yes: bool = YES_OPT,
           write: bool = typer.Option(False, "--write", help="Also apply the slim template to T in place."),
           rewrite: bool = typer.Option(False, "--rewrite", help="Also try shorter wordings of the units the slim "
                                        "prompt keeps (rules; and the rewriter model when one is set)."),
           rewriter_model: Optional[str] = typer.Option(None, "--rewriter-model", help="Model that proposes shorter "
                                                        "wordings (default: config rewriter_model; 'none' = rules only)."),
           also_model: list[str] = typer.Option([], "--also-model", help="Also run the unchanged template on this "
                                                "candidate model (repeatable), decided as `tier` decides."),
           no_cache: bool = NOCACHE_OPT, batch: bool = BATCH_OPT, as_json: bool = JSON_OPT) -> None:
    """Remove one instruction at a time, decide with statistics, verify a slim prompt, write reports/<name>/."""
    from promptslim.ablate import model_strategy, planned_variants, run_ablation
    from promptslim.paths import rewritten_rel
    from promptslim.paths import slim_rel as slim_rel_of
    from promptslim.runsetup import prepare
    from promptslim.strategy import LeaveOneOut
    from promptslim.writers import write_ablation

    prepared = prepare(template, model=model, judge_model=judge_model, repeats=repeats, calls_per_month=calls_per_month,
                       max_cost=max_cost, use_cache=not no_cache, command="ablate", batch=batch,
                       candidates=list(dict.fromkeys(also_model)))
    cheaper = model_strategy(prepared, also_model)
    _notices(prepared)
    ev, tpl = prepared.evaluator, prepared.template
    if not tpl.candidates:
        raise PromptslimError(f"{tpl.rel}: no removable units (all pinned or fixed) — see `promptslim units {tpl.rel}`")
    strategy = LeaveOneOut(tpl)
    shorter, refused = None, []
    if rewrite or rewriter_model:
        from promptslim.runsetup import propose_rewrites
        from promptslim.shorter import SayShorter

        kept, refused = propose_rewrites(prepared, rewriter_model, use_cache=not no_cache)
        shorter = SayShorter(tpl, kept)
        if not as_json:
            err.print(f"rewrites: {len(kept)} shorter wording(s) to test, {len(refused)} refused before any call",
                      markup=False)
    plan = _plan(prepared, planned_variants(strategy, tpl.source) + (shorter.variants() if shorter else [])
                 + (cheaper.variants() if cheaper else []), as_json)
    from promptslim.caveats import local_verdicts, margin_for, margin_line

    the_margin, margin_source = margin_for(prepared.config, tpl.name, margin)
    if not as_json:
        from promptslim.decide import power_plan

        err.print(margin_line(the_margin, margin_source), markup=False)
        err.print(power_plan(len(prepared.evalset.cases), len(tpl.candidates), the_margin), markup=False)
    slim_rel = slim_rel_of(tpl.name, tpl.rel)
    result = _execute(ev.runner, plan, yes, not as_json,
                      lambda progress: run_ablation(ev, the_margin, progress.phase, slim_rel, strategy=strategy,
                                                    shorter=shorter, refused=refused,
                                                    rewritten_path=rewritten_rel(tpl.name, tpl.rel),
                                                    models=cheaper.candidates if cheaper else ()))
    files = write_ablation(prepared.config.root, tpl, result, write)
    if as_json:
        return _json(result.data.to_json())
    from promptslim.report import headline

    _line(headline(result.data))
    if result.data.models is not None:
        from promptslim.report.tier import headline as model_headline

        _line(model_headline(result.data))
    for warning in result.data.warnings:
        _line(f"warning: {warning}")
    for name, path in files.items():
        _line(f"  {name:<6} {path}")
    applied = result.to_apply() if write else None
    if write and applied is None:
        _line(f"nothing removed: no unit was verified removable together, so {tpl.rel} is unchanged")
    elif applied is not None:
        _line(f"applied the {applied[1]} template to {tpl.rel} — review with: git diff {tpl.rel}")
    if result.data.inconclusive_hint:
        _line(result.data.inconclusive_hint)
    if prepared.models.local:
        from promptslim.llm.local import local_name

        _line(local_verdicts(local_name()[0]))


# ---------------------------------------------------------------- check / report
@app.command()
@handles_errors
def tier(template: str = typer.Argument(..., help="prompts/x.j2"),
         candidates: list[str] = typer.Option([], "--model", "-m", help="A candidate model (repeat for several); the "
                                              "configured model is the baseline."),
         judge_model: Optional[str] = JUDGE_OPT, repeats: Optional[int] = REPEATS_OPT,
         margin: Optional[float] = typer.Option(None, "--margin", callback=_open_unit,
                                                help="Non-inferiority margin on the 0..1 score scale."),
         calls_per_month: Optional[int] = CPM_OPT, max_cost: Optional[float] = COST_OPT, yes: bool = YES_OPT,
         no_cache: bool = NOCACHE_OPT, as_json: bool = JSON_OPT) -> None:
    """Same prompt on cheaper models: score delta vs the configured model, verdict, $/month; writes reports/<name>/tier.*"""
    from promptslim.runsetup import prepare
    from promptslim.strategy import Variant
    from promptslim.tier import CheaperModel, check_candidates, run_tier
    from promptslim.writers import write_tier

    if not candidates:
        check_candidates([], "")
    prepared = prepare(template, model=None, judge_model=judge_model, repeats=repeats, calls_per_month=calls_per_month,
                       max_cost=max_cost, use_cache=not no_cache, command="tier", candidates=list(dict.fromkeys(candidates)))
    names = check_candidates(list(candidates), prepared.models.model)
    _notices(prepared)
    ev, tpl = prepared.evaluator, prepared.template
    variants = [Variant("baseline", tpl.source), *CheaperModel(tpl.source, names).variants()]
    plan = _plan(prepared, variants, as_json)
    the_margin = prepared.config.margin if margin is None else margin
    result = _execute(ev.runner, plan, yes, not as_json, lambda progress: run_tier(ev, names, the_margin, progress.phase))
    files = write_tier(prepared.config.root, tpl, result)
    if as_json:
        return _json(result.to_json())
    from promptslim.report.tier import HEADER, headline, rows

    table = Table(title=f"{result.template}: same prompt, other models — {result.evalset}")
    for col in HEADER:
        table.add_column(col, justify="left" if col in ("model", "verdict") else "right")
    for row in rows(result):
        table.add_row(*row)
    out.print(table)
    _line(headline(result))
    for warning in result.warnings:
        _line(f"warning: {warning}")
    for name, path in files.items():
        _line(f"  {name:<6} {path}")


@app.command()
@handles_errors
def check(templates: Optional[list[str]] = typer.Argument(None, help="Only these templates (default: all changed)."),
          base: Optional[str] = typer.Option(None, "--base", help="Git ref to compare against "
                                             "(default: merge base with origin/main, else main)."),
          no_eval: bool = typer.Option(False, "--no-eval", help="Static only: tokens, budgets, dollars; no API call."),
          allow_missing_evalset: bool = typer.Option(False, "--allow-missing-evalset",
                                                     help="Do not fail when a changed template has no eval set."),
          fail_on_cost_increase: Optional[float] = typer.Option(None, "--fail-on-cost-increase", min=0.0,
                                                                help="Fail when $/month rises by more than PCT %."),
          model: Optional[str] = MODEL_OPT, judge_model: Optional[str] = JUDGE_OPT,
          max_cost: Optional[float] = COST_OPT, yes: bool = YES_OPT, no_cache: bool = NOCACHE_OPT,
          batch: bool = BATCH_OPT, require_noninferior: bool = typer.Option(False, "--require-noninferior",
                                                   help="Also exit 1 when the eval set cannot show the head is "
                                                        "within the margin of base (inconclusive)."),
          also_model: list[str] = typer.Option([], "--also-model", help="Also try the head on this cheaper model "
                                               "(repeatable): says which would pass; never fails the check."),
          md: Optional[str] = typer.Option(None, "--md", help="Write the markdown report to FILE instead of "
                                           "reports/check.md (CI: a fresh path outside the checkout); '-' writes "
                                           "no file (stdout only, e.g. in a pre-commit hook)."),
          junit: Optional[Path] = typer.Option(None, "--junit", help="Also write JUnit XML to FILE: one test case "
                                               "per template, a failure on a regression or a budget breach."),
          as_json: bool = JSON_OPT) -> None:
    """PR check: base vs head for changed templates — tokens, quality, dollars; exit 1 on a regression."""
    from promptslim.check import CheckOptions, run_check
    from promptslim.config import find_root
    from promptslim.report.check import render_markdown
    from promptslim.writers import write_check

    options = CheckOptions(base=base, templates=tuple(templates or ()), no_eval=no_eval,
                           allow_missing_evalset=allow_missing_evalset, fail_on_cost_increase=fail_on_cost_increase,
                           model=model, judge_model=judge_model, max_cost=max_cost, yes=yes, use_cache=not no_cache,
                           require_noninferior=require_noninferior, batch=batch,
                           also_models=tuple(dict.fromkeys(also_model)))
    result = run_check(options, notice=lambda line: err.print(line, markup=False))
    markdown = render_markdown(result)
    if md is None:
        write_check(find_root(), markdown)
    elif md != "-":
        from promptslim.safeio import atomic_write

        atomic_write(Path(md), markdown + "\n")
    if junit is not None:
        from promptslim.report.junit import junit_xml
        from promptslim.safeio import atomic_write

        atomic_write(junit, junit_xml(result))
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    if as_json:
        _json(result.to_json())
    else:
        sys.stdout.write(markdown + "\n")
    if result.failed:
        raise typer.Exit(1)


@app.command()
@handles_errors
def report(as_json: bool = JSON_OPT) -> None:
    """Reviewer savings report over every template: reports/index.md and reports/index.html."""
    from promptslim.config import find_root
    from promptslim.report import total_line, write_index_result
    from promptslim.savings import build_index

    from promptslim.report.mdsafe import one_line

    result = build_index()
    files = write_index_result(result, find_root())
    for warning in result.warnings or []:  # a report that could not be believed: skipped, named, never a crash
        err.print(one_line(f"warning: {warning}"), markup=False)
    if as_json:
        return _json(result.to_json())
    _line(total_line(result.totals))
    for name, path in files.items():
        _line(f"  {name:<5} {path}")


# ---------------------------------------------------------------- cache
@cache_app.command("stats")
@handles_errors
def cache_stats(as_json: bool = JSON_OPT) -> None:
    """Entries, size on disk, and the hit rate of the last run."""
    from promptslim.config import ensure_home, load_config
    from promptslim.llm.store import Store

    store = Store(ensure_home(load_config().home) / "cache.sqlite")
    stats = store.stats()
    store.close()
    data = {"path": stats.path, "entries": stats.entries, "size_bytes": stats.size_bytes, "last_run": stats.last_run,
            "last_run_calls": stats.last_run_calls, "last_run_cache_hits": stats.last_run_hits,
            "last_run_hit_rate": stats.hit_rate}
    if as_json:
        return _json(data)
    rate = "n/a" if stats.hit_rate is None else f"{stats.hit_rate:.0%}"
    out.print(f"{stats.path}: {stats.entries} cached responses, {stats.size_bytes / 1024:.1f} KiB", markup=False)
    out.print(f"last run: {stats.last_run or 'none'} — {stats.last_run_hits}/{stats.last_run_calls} calls from cache "
              f"(hit rate {rate})", markup=False)


@cache_app.command("clear")
@handles_errors
def cache_clear() -> None:
    """Delete every cached response (the spend ledger is kept)."""
    from promptslim.config import ensure_home, load_config
    from promptslim.llm.store import Store

    store = Store(ensure_home(load_config().home) / "cache.sqlite")
    removed = store.clear()
    store.close()
    out.print(f"removed {removed} cached responses", markup=False)


# ---------------------------------------------------------------- import / export (other tools' suites)
import_app = typer.Typer(no_args_is_help=True, context_settings=HELP_FLAGS,
                         help="Write prompts/ and evalsets/ from an existing promptfoo or deepeval suite.")
export_app = typer.Typer(no_args_is_help=True, context_settings=HELP_FLAGS,
                         help="Write a result for another tool's viewer.")
app.add_typer(import_app, name="import")
app.add_typer(export_app, name="export")
FORCE_OPT = typer.Option(False, "--force", help="Overwrite files that already exist.")


def _imported(result: Any, force: bool, as_json: bool) -> None:
    """Write an import's files (refusing to overwrite without --force) and list what was not mapped."""
    from promptslim.config import find_root
    from promptslim.writers import write_planned, write_settings

    root = find_root()
    written = write_planned(root, result.files, force)
    config = write_settings(root, result.settings, Path(result.source).name)
    if as_json:
        return _json({**result.to_json(), "written": written + (["promptslim.toml"] if config else [])})
    for path in written:
        _line(f"wrote {path}")
    shown = ", ".join(f"{k} = {json.dumps(v)}" for k, v in result.settings.items())
    if config:
        _line(f"wrote promptslim.toml ({shown})")
    elif result.settings:
        _line(f"promptslim.toml not changed (a config exists) — the suite's model settings: {shown}")
    _line(f"{result.cases} cases")
    groups: dict[tuple[str, str], list[str]] = {}
    for item in result.skipped:
        groups.setdefault((item.kind, item.why), []).append(item.where)
    if groups:
        _line(f"not mapped ({len(result.skipped)}; listed, not dropped):")
    for (kind, why), places in groups.items():
        more = f" … and {len(places) - 3} more" if len(places) > 3 else ""
        _line(f"  {kind} ×{len(places)}: {why} — {'; '.join(places[:3])}{more}")
    for note in result.notes:
        _line(f"note: {note}")
    templates = [f.path for f in result.files if f.path.startswith("prompts/")]
    if templates:
        _line(f"next: promptslim eval {templates[0]}")


@import_app.command("promptfoo")
@handles_errors
def import_promptfoo_cmd(config: Path = typer.Argument(..., help="promptfooconfig.yaml"),
                         criteria: Optional[str] = typer.Option(None, "--criteria", help="The judge's rubric for every "
                                                                "case (replaces the suite's llm-rubric)."),
                         force: bool = FORCE_OPT, as_json: bool = JSON_OPT) -> None:
    """prompts/<name>.j2|.txt and evalsets/<name>.yaml from a promptfoo config; lists what could not be mapped."""
    from promptslim.importers.promptfoo import import_promptfoo

    _imported(import_promptfoo(config, criteria), force, as_json)


@import_app.command("deepeval")
@handles_errors
def import_deepeval_cmd(goldens: Path = typer.Argument(..., help="goldens.json, .jsonl or .csv (EvaluationDataset."
                                                       "save_as)"),
                        template: str = typer.Option(..., "--template", "-t", help="The prompt these goldens grade: "
                                                     "prompts/<name>.j2 (its eval set is evalsets/<name>.yaml)."),
                        criteria: Optional[str] = typer.Option(None, "--criteria", help="The judge's rubric."),
                        geval: Optional[Path] = typer.Option(None, "--geval", help="A GEval definition (YAML/JSON: "
                                                             "criteria, evaluation_steps, threshold)."),
                        force: bool = FORCE_OPT, as_json: bool = JSON_OPT) -> None:
    """evalsets/<name>.yaml from deepeval goldens: input, expected_output, context, additional_metadata."""
    from promptslim.importers.deepeval import import_deepeval

    _imported(import_deepeval(goldens, template, criteria, geval), force, as_json)


@export_app.command("promptfoo")
@handles_errors
def export_promptfoo_cmd(template: str = typer.Argument(..., help="prompts/x.j2 (after `promptslim ablate`)"),
                         variant: str = typer.Option("slim", "--variant", help="slim or rewritten"),
                         output: Optional[str] = typer.Option(None, "--output", "-o", help="Where to write the "
                                                              "config (default reports/<name>/promptfooconfig.yaml)."),
                         as_json: bool = JSON_OPT) -> None:
    """A promptfoo config comparing the original and the slim prompt on the eval set, for promptfoo's viewer."""
    from promptslim.config import find_root
    from promptslim.importers.export import export_promptfoo
    from promptslim.safeio import atomic_write

    result = export_promptfoo(template, variant, output)
    root = find_root()
    target = Path(result.path)
    atomic_write(target if target.is_absolute() else root / target, result.text, root)
    if as_json:
        return _json({"path": result.path, "variant": result.variant_path, "cases": result.cases,
                      "skipped": [s.to_json() for s in result.skipped], "notes": result.notes})
    _line(f"wrote {result.path} ({result.cases} cases: original vs {result.variant_path})")
    for item in result.skipped:
        _line(f"  not exported: {item.where} — {item.why}")
    _line(f"run: npx promptfoo@latest eval -c {result.path} && npx promptfoo@latest view")
