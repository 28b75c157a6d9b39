"""`promptslim units` and `promptslim count`: what a template is made of and what one call of it costs, without a
model call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptslim.config import load_config
from promptslim.cost.figure import ESTIMATED, Output, cost_of, layout_hint, no_traffic_warning
from promptslim.results.readback import static_output
from promptslim.errors import InputError
from promptslim.evalset import evalset_for, load_evalset, load_yaml_text
from promptslim.engine.setup import resolve_template
from promptslim.cost.caching import shared_prefix
from promptslim.cost.prices import price_for
from promptslim.engine.setup import DEFAULT_MODEL, endpoint_configured
from promptslim.template.load import load_template, relpath
from promptslim.template.sandbox import NO_EVALSET
from promptslim.tokens import count_messages, count_text, encoding_for
from promptslim.template.units import large_units


def list_units(template_path: str, model: str = DEFAULT_MODEL, tree: bool = False) -> dict[str, Any]:
    """`units`: every unit with its tokens and the fixed parts; with `tree`, also the prompt's tree (`nodes`, each with
    its parent, depth and tokens), as `ablate --design tree` tests it."""
    config = load_config()
    template = load_template(resolve_template(template_path, config.root), config.root)
    _, approximate = encoding_for(model)
    tokens = [count_text(u.text, model) for u in template.units]
    extra: dict[str, Any] = {}
    if tree:
        from promptslim.template.tree import build_tree

        shape = build_tree(template.source, template.units, template.fixed)
        by_id = dict(zip((u.id for u in template.units), tokens))
        extra["nodes"] = [{"id": n.id, "kind": n.kind, "parent": n.parent, "depth": shape.depth(n.id),
                           "line": n.line, "title": n.title, "units": list(n.units),
                           "tokens": sum(by_id[u] for u in n.units)} for n in shape.walk()]
    return {
        "template": template.rel,
        "tokens_model": model,
        "tokens_approximate": approximate,
        "units": [{"id": u.id, "line": u.line, "kind": u.kind, "pinned": u.pinned, "tokens": n, "text": u.text}
                  for u, n in zip(template.units, tokens)],
        "fixed": [{"line": f.line, "kind": f.kind, "text": f.text} for f in template.fixed],
        "warnings": list(template.warnings)
        + large_units(template.rel, template.units, tokens, count_text(template.source, model)),
        **extra,
    }


def _renders(template, root: Path, vars_file: Path | None) -> tuple[list[list[dict]], str, str]:
    """Every eval case's messages (input is averaged over them, like eval's), or the one --vars render; and what
    they were rendered with, as --json has it and as a sentence says it."""
    path = evalset_for(template.rel, root) if vars_file is None else None
    if path is not None:
        evalset = load_evalset(path, root)
        msgs = [template.render(c.vars, c.input if c.input is not None else "", c.where(evalset.path))
                for c in evalset.cases]
        return msgs, f"{evalset.path} ({len(msgs)} cases, mean)", f"mean over the {len(msgs)} cases of {evalset.path}"
    variables, user_input, shown = _variables(template.rel, root, vars_file)
    where = f"{NO_EVALSET} {shown}" if vars_file else NO_EVALSET
    return [template.render(variables, user_input, where)], shown, f"one render, {shown}"


def _variables(template_rel: str, root: Path, vars_file: Path | None) -> tuple[dict[str, Any], str | None, str]:
    if vars_file is not None:
        shown = relpath(vars_file, root)
        try:
            text = Path(vars_file).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"{shown}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{shown}: cannot read ({exc})") from None
        data = load_yaml_text(text, shown) or {}
        if not isinstance(data, dict):
            raise InputError(f"{shown}:1: --vars must be a mapping of variable names to values")
        user_input = data.pop("input", None)
        return data, None if user_input is None else str(user_input), shown
    path = evalset_for(template_rel, root)
    if path is None:
        return {}, "", "no variables (no eval set; pass --vars)"
    evalset = load_evalset(path, root)
    case = evalset.cases[0]
    return case.vars, case.input if case.input is not None else "", f"{evalset.path} case '{case.id}'"


def count_template(template_path: str, models: list[str], calls_per_month: int | None, vars_file: Path | None,
                   output_tokens: int | None = None) -> dict[str, Any]:
    """Tokens and dollars of one rendered call, side by side for several models (the tiering view)."""
    config = load_config()
    template = load_template(resolve_template(template_path, config.root), config.root)
    no_evalset = vars_file is None and evalset_for(template.rel, config.root) is None
    renders, shown, basis = _renders(template, config.root, vars_file)
    prompt = config.prompt(template.name)
    cpm = prompt.calls_per_month if calls_per_month is None else calls_per_month
    notes = []
    if no_evalset:
        notes.append(f"no eval set for {template.rel}, so this is the prompt with no variables and an empty user "
                     "message — pass --vars FILE.yaml with the variables (an input: key there is the user message)")
    if not cpm:
        notes.append(no_traffic_warning(template.name))
    output = (Output(float(output_tokens), ESTIMATED, f"{output_tokens} tokens/call, as given by --output-tokens")
              if output_tokens is not None else static_output(config.root, template.name, template.source))
    if output.warning:
        notes.append(output.warning)
    if not models:
        # the model the prompt is sent to; the judge's tokens are not this prompt's cost, so it is not listed
        models = [config.model or DEFAULT_MODEL]
        if not endpoint_configured(config):
            models.append("local")
    rows = []
    for model in models:
        counts = [count_messages(m, model) for m in renders]
        price = price_for(model, config)
        # another model answers differently: the measured output is the configured model's, so it is an estimate
        figure = cost_of(price, sum(c.tokens for c in counts) / len(counts), output, prompt, cpm,
                         shared_prefix(renders, model))
        if figure.caching is not None:
            hint = layout_hint(figure)
            if figure.caching.cached_tokens:
                notes.append(f"{model}: {figure.caching.describe()}")
            if hint:
                notes.append(f"{model}: {hint}")
        rows.append({"model": model, "input_tokens": figure.input_tokens, "approximate": counts[0].approximate,
                     "encoding": counts[0].encoding, "output_tokens": output.tokens, "output_basis": output.basis,
                     "output_note": output.note, "usd_per_call": figure.usd_per_call,
                     "usd_per_month": figure.usd_per_month, "price_source": price.source,
                     "usd_per_mtok": {"input": price.input, "cached_input": price.cached_input, "output": price.output,
                                      "batch_input": price.batch_input, "batch_output": price.batch_output}})
    return {"template": template.rel, "calls_per_month": cpm, "rendered_with": shown, "input_basis": basis,
            "cached_input_fraction": prompt.cached_input_fraction, "max_input_tokens": prompt.max_input_tokens,
            "output_note": output.note, "models": rows, "notes": notes}
