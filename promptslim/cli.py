"""The command line: parse options, call one engine function, render what it returns, map errors to exit codes."""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Optional

import typer

from promptslim.cli_tools import DEBUG, HELP_FLAGS, JSON_OPT, cache_app, export_app, handles_errors, import_app

# locals in a pretty traceback can hold API keys: never show them
app = typer.Typer(no_args_is_help=True, add_completion=False, rich_markup_mode=None,
                  pretty_exceptions_show_locals=False, context_settings=HELP_FLAGS,
                  help="Find the prompt tokens you pay for on every call but do not need.")
for sub, name in ((cache_app, "cache"), (import_app, "import"), (export_app, "export")):
    app.add_typer(sub, name=name)


def _open_unit(value: float | None) -> float | None:
    """A margin of 0 proves nothing and a margin of 1 lets anything through: strictly between."""
    if value is not None and not (math.isfinite(value) and 0 < value < 1):
        raise typer.BadParameter(f"must be strictly between 0 and 1, got {value}")
    return value


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

        from promptslim.console import line

        line(f"promptslim {version('promptslim')}")
        raise typer.Exit(0)


@app.callback()
def _options(debug: bool = typer.Option(False, "--debug", help="Show the full traceback of an internal error "
                                        "(also PROMPTSLIM_DEBUG=1)."),
             _show_version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                                help="Print the installed version and exit.")) -> None:
    """Find the prompt tokens you pay for on every call but do not need."""
    DEBUG["on"] = debug




# ---------------------------------------------------------------- units / count
@app.command()
@handles_errors
def units(template: str = typer.Argument(..., help="prompts/x.j2"), as_json: bool = JSON_OPT,
          model: str = typer.Option("gpt-4o-mini", "--model", "-m", help="Tokenizer for the token column."),
          tree: bool = typer.Option(False, "--tree", help="Show the prompt's tree (sections, blocks, units) with "
                                    "tokens per node: what `ablate --design tree` tests top-down.")) -> None:
    """List the instruction units the ablation can remove, and the fixed parts it never touches."""
    from promptslim import console, static_views

    data = static_views.list_units(template, model, tree=tree)
    if as_json:
        return console.to_json(data)
    console.print_tree(data) if tree else console.print_units(data)


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
    from promptslim import console, static_views

    data = static_views.count_template(template, models or [], calls_per_month, vars_file, output_tokens)
    console.to_json(data) if as_json else console.print_count(data)


# ---------------------------------------------------------------- eval / ablate / tier
@app.command("eval")
@handles_errors
def eval_cmd(template: str = typer.Argument(..., help="prompts/x.j2"), model: Optional[str] = MODEL_OPT,
             judge_model: Optional[str] = JUDGE_OPT, repeats: Optional[int] = REPEATS_OPT,
             calls_per_month: Optional[int] = CPM_OPT, max_cost: Optional[float] = COST_OPT, yes: bool = YES_OPT,
             no_cache: bool = NOCACHE_OPT, batch: bool = BATCH_OPT, as_json: bool = JSON_OPT,
             csv: Optional[Path] = typer.Option(None, "--csv", help="Write the per-case rows to this CSV file.")) -> None:
    """Run the eval set once: per-case table, mean score with 95% CI, pass rate, $ and cost per usable output."""
    from promptslim import console
    from promptslim.engine.evaluation import evaluate
    from promptslim.engine.requests import EvalRequest
    from promptslim.report.csvsafe import csv_text
    from promptslim.report.evalcsv import eval_frame

    request = EvalRequest(template, model=model, judge_model=judge_model, repeats=repeats,
                          calls_per_month=calls_per_month, max_cost=max_cost, use_cache=not no_cache, batch=batch,
                          yes=yes)
    with console.Shown(as_json) as shown:
        data = evaluate(request, shown)
    if csv is not None:
        Path(csv).write_text(csv_text(eval_frame(data)), encoding="utf-8")  # answers and ids never run as formulas
    if as_json:
        return console.to_json(data.to_json())
    console.print_eval(data)
    if csv is not None:
        console.out.print(f"wrote {csv}")


MARGIN_OPT = typer.Option(None, "--margin", callback=_open_unit, help="Non-inferiority margin on the 0..1 score scale.")


@app.command()
@handles_errors
def ablate(template: str = typer.Argument(..., help="prompts/x.j2"), model: Optional[str] = MODEL_OPT,
           judge_model: Optional[str] = JUDGE_OPT, repeats: Optional[int] = REPEATS_OPT,
           margin: Optional[float] = MARGIN_OPT,
           calls_per_month: Optional[int] = CPM_OPT, max_cost: Optional[float] = COST_OPT, yes: bool = YES_OPT,
           write: bool = typer.Option(False, "--write", help="Also apply the slim template to T in place."),
           rewrite: bool = typer.Option(False, "--rewrite", help="Also try shorter wordings of the units the slim "
                                        "prompt keeps (rules; and the rewriter model when one is set)."),
           rewriter_model: Optional[str] = typer.Option(None, "--rewriter-model", help="Model that proposes shorter "
                                                        "wordings (default: config rewriter_model; 'none' = rules only)."),
           also_model: list[str] = typer.Option([], "--also-model", help="Also run the unchanged template on this "
                                                "candidate model (repeatable), decided as `tier` decides."),
           design: str = typer.Option("auto", "--design", help="flat (leave-one-out over every unit), tree (sections "
                                      "first, then blocks and units), auto (the cheaper design that can decide)."),
           no_cache: bool = NOCACHE_OPT, batch: bool = BATCH_OPT, as_json: bool = JSON_OPT) -> None:
    """Remove one instruction at a time, decide with statistics, verify a slim prompt, write reports/<name>/."""
    from promptslim import console
    from promptslim.engine.ablation import ablate as run_ablate
    from promptslim.engine.requests import AblateRequest
    from promptslim.engine.strategies.cheaper_model import CheaperModel
    from promptslim.engine.strategies.rewrite import SayShorter
    from promptslim.writers import write_ablation

    levers = [SayShorter(rewriter_model)] if rewrite or rewriter_model else []
    levers += [CheaperModel(also_model)] if also_model else []
    request = AblateRequest(template, model=model, judge_model=judge_model, repeats=repeats, margin=margin,
                            calls_per_month=calls_per_month, max_cost=max_cost, use_cache=not no_cache, batch=batch,
                            yes=yes, strategies=tuple(levers), design=design)
    with console.Shown(as_json) as shown:
        result = run_ablate(request, shown)
    files = write_ablation(result, write)
    console.to_json(result.data.to_json()) if as_json else console.print_ablation(result, files, write)


@app.command()
@handles_errors
def runs(template: str = typer.Argument(..., help="prompts/x.j2"), as_json: bool = JSON_OPT) -> None:
    """The kept ablation runs of a template, newest first: id, date, margin, design, verdicts, $ found."""
    from promptslim import console
    from promptslim.history import list_runs

    result = list_runs(template)
    console.to_json(result.to_json()) if as_json else console.print_runs(result)


@app.command()
@handles_errors
def tier(template: str = typer.Argument(..., help="prompts/x.j2"),
         candidates: list[str] = typer.Option([], "--model", "-m", help="A candidate model (repeat for several); the "
                                              "configured model is the baseline."),
         judge_model: Optional[str] = JUDGE_OPT, repeats: Optional[int] = REPEATS_OPT,
         margin: Optional[float] = MARGIN_OPT,
         calls_per_month: Optional[int] = CPM_OPT, max_cost: Optional[float] = COST_OPT, yes: bool = YES_OPT,
         no_cache: bool = NOCACHE_OPT, as_json: bool = JSON_OPT) -> None:
    """Same prompt on cheaper models: score delta vs the configured model, verdict, $/month; writes reports/<name>/tier.*"""
    from promptslim import console
    from promptslim.config import find_root
    from promptslim.engine.requests import TierRequest
    from promptslim.engine.tier import tier as run_tier
    from promptslim.writers import write_tier

    request = TierRequest(template, judge_model=judge_model, repeats=repeats, margin=margin,
                          calls_per_month=calls_per_month, max_cost=max_cost, use_cache=not no_cache, yes=yes,
                          candidates=tuple(candidates))
    with console.Shown(as_json) as shown:
        result = run_tier(request, shown)
    files = write_tier(find_root(), result)
    console.to_json(result.to_json()) if as_json else console.print_tier(result, files)


# ---------------------------------------------------------------- check / report
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
    from promptslim import console
    from promptslim.config import find_root
    from promptslim.prcheck.engine import CheckRequest
    from promptslim.prcheck.engine import check as run_check
    from promptslim.report.check import render_markdown
    from promptslim.writers import write_check, write_junit

    request = CheckRequest(base=base, templates=tuple(templates or ()), no_eval=no_eval,
                           allow_missing_evalset=allow_missing_evalset, fail_on_cost_increase=fail_on_cost_increase,
                           model=model, judge_model=judge_model, max_cost=max_cost, yes=yes, use_cache=not no_cache,
                           require_noninferior=require_noninferior, batch=batch,
                           also_models=tuple(dict.fromkeys(also_model)))
    result = run_check(request, console.Shown(as_json, plan_always=True, progress=False))
    markdown = render_markdown(result)
    write_check(find_root(), markdown, md)
    if junit is not None:
        write_junit(junit, result)
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown + "\n")
    console.to_json(result.to_json()) if as_json else console.line(markdown)
    if result.failed:
        raise typer.Exit(1)


@app.command()
@handles_errors
def report(as_json: bool = JSON_OPT) -> None:
    """Reviewer savings report over every template: reports/index.md and reports/index.html."""
    from promptslim import console
    from promptslim.config import find_root
    from promptslim.report import total_line, write_index_result
    from promptslim.savings import build_index

    from promptslim.report.mdsafe import one_line

    result = build_index()
    files = write_index_result(result, find_root())
    for warning in result.warnings or []:  # a report that could not be believed: skipped, named, never a crash
        console.err.print(one_line(f"warning: {warning}"), markup=False)
    if as_json:
        return console.to_json(result.to_json())
    console.line(total_line(result.totals))
    console.print_files(files, width=5)
