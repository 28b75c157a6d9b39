"""The command line's common parts and its small command groups: the exit-code mapping every command is wrapped in
(DESIGN.md: 2 bad input, 3 budget, 4 endpoint, 70 a bug, never 1 for a crash), and `cache`, `import` and `export`,
which run no engine. promptslim/cli.py holds the app and the engine commands."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any, Callable, Optional

import click
import typer

from promptslim.errors import PromptslimError

HELP_FLAGS = {"help_option_names": ["-h", "--help"]}  # -h is what a newcomer types first
JSON_OPT = typer.Option(False, "--json", help="Print the result as JSON instead of a table.")
INTERNAL_ERROR = 70  # EX_SOFTWARE: a bug, never a verdict (1 means "regression")
DEBUG = {"on": False}  # --debug, set by the app's callback
cache_app = typer.Typer(no_args_is_help=True, context_settings=HELP_FLAGS,
                        help="The response cache in .promptslim/cache.sqlite.")
import_app = typer.Typer(no_args_is_help=True, context_settings=HELP_FLAGS,
                         help="Write prompts/ and evalsets/ from an existing promptfoo or deepeval suite.")
export_app = typer.Typer(no_args_is_help=True, context_settings=HELP_FLAGS,
                         help="Write a result for another tool's viewer.")


def _debugging() -> bool:
    return DEBUG["on"] or os.environ.get("PROMPTSLIM_DEBUG", "") not in ("", "0")


def handles_errors(fn: Callable[..., Any]) -> Callable[..., Any]:
    """One line on stderr and the DESIGN.md exit code; never a traceback for an expected failure, never 1 for a crash."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        from promptslim.console import err
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


# ---------------------------------------------------------------- cache
@cache_app.command("stats")
@handles_errors
def cache_stats(as_json: bool = JSON_OPT) -> None:
    """Entries, size on disk, and the hit rate of the last run."""
    from promptslim import console
    from promptslim.config import ensure_home, load_config
    from promptslim.llm.store import Store

    store = Store(ensure_home(load_config().home) / "cache.sqlite")
    stats = store.stats()
    store.close()
    console.print_cache_stats(stats, as_json)


@cache_app.command("clear")
@handles_errors
def cache_clear() -> None:
    """Delete every cached response (the spend ledger is kept)."""
    from promptslim import console
    from promptslim.config import ensure_home, load_config
    from promptslim.llm.store import Store

    store = Store(ensure_home(load_config().home) / "cache.sqlite")
    removed = store.clear()
    store.close()
    console.out.print(f"removed {removed} cached responses", markup=False)


# ---------------------------------------------------------------- import / export (other tools' suites)
FORCE_OPT = typer.Option(False, "--force", help="Overwrite files that already exist.")


def _imported(result: Any, force: bool, as_json: bool) -> None:
    """Write an import's files (refusing to overwrite without --force) and list what was not mapped."""
    from promptslim import console
    from promptslim.config import find_root
    from promptslim.writers import write_planned, write_settings

    root = find_root()
    written = write_planned(root, result.files, force)
    config = write_settings(root, result.settings, Path(result.source).name)
    if as_json:
        return console.to_json({**result.to_json(), "written": written + (["promptslim.toml"] if config else [])})
    console.print_import(result, written, config)


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
    from promptslim import console
    from promptslim.config import find_root
    from promptslim.importers.export import export_promptfoo
    from promptslim.safeio import atomic_write

    result = export_promptfoo(template, variant, output)
    root = find_root()
    target = Path(result.path)
    atomic_write(target if target.is_absolute() else root / target, result.text, root)
    if as_json:
        return console.to_json({"path": result.path, "variant": result.variant_path, "cases": result.cases,
                                "skipped": [s.to_json() for s in result.skipped], "notes": result.notes})
    console.print_export(result)
