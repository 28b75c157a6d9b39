"""`promptslim export promptfoo T`: the original and the slim (or rewritten) prompt as one promptfoo config.

So a promptfoo user can compare both in their own viewer. Each test carries the exact chat messages
promptslim sends for that case, rendered by promptslim (Jinja2, role markup, the case's input), as JSON
text that the prompt passes through; promptfoo's OpenAI provider sends a JSON message list as those
messages. Rendering here rather than translating Jinja2 to nunjucks is what makes both tools send the same
bytes. The eval set's assertions become promptfoo assertions with the same meaning (JavaScript where
promptfoo's built-ins differ), its criteria an llm-rubric.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from promptslim import paths
from promptslim.config import find_root, load_config
from promptslim.errors import InputError
from promptslim.evalset import Assertion, evalset_for, load_evalset
from promptslim.importers import Skipped
from promptslim.safeio import MAX_TEMPLATE_BYTES, read_repo_text
from promptslim.template.load import load_template, render_messages, template_from_source

VARIANTS = ("slim", "rewritten")
_FENCE_JSON = r"/^\s*```(?:json)?\s*([\s\S]*?)\s*```\s*$/"
_SENTENCES = r"""/(?<=[.!?])["')\]]*\s+|\n+/"""


@dataclass(frozen=True)
class Export:
    """The promptfoo config to write, where, and what it could not carry over."""

    path: str
    text: str
    variant_path: str
    cases: int
    skipped: list[Skipped]
    notes: list[str]


def export_promptfoo(template: str, variant: str = "slim", output: str | None = None) -> Export:
    """The config comparing T with reports/<name>/slim.<ext> (or rewritten.<ext>) on T's eval set."""
    if variant not in VARIANTS:
        raise InputError(f"--variant {variant}: one of {', '.join(VARIANTS)}")
    root = find_root()
    config = load_config(root)
    path = Path(template) if Path(template).is_absolute() else Path.cwd() / template
    refusal = paths.outside_prompts(template, path, root)
    if refusal:
        raise InputError(refusal)
    original = load_template(path, root)
    other_rel = paths.prompt_rel(variant, original.name, original.rel)
    if not (root / other_rel).is_file():
        raise InputError(f"{other_rel}: no {variant} prompt yet — run `promptslim ablate {original.rel}"
                         f"{' --rewrite' if variant == 'rewritten' else ''}` first")
    other = template_from_source(read_repo_text(root / other_rel, root, "template", MAX_TEMPLATE_BYTES), other_rel)
    evalset_path = evalset_for(original.rel, root)
    if evalset_path is None:
        raise InputError(f"{original.rel}: no eval set (evalsets/{original.name}.yaml) — the export runs its cases")
    prompt = config.prompt(original.name)
    evalset = load_evalset(evalset_path, root, prompt.criteria, prompt.threshold)
    skipped: list[Skipped] = []
    tests = []
    for case in evalset.cases:
        where = case.where(evalset.path)
        sides = {}
        for key, tpl in (("original", original), (variant, other)):
            messages = render_messages(tpl.source, tpl.rel, case.vars, case.input, evalset.path)
            sides[f"promptslim_{key}"] = json.dumps(messages, ensure_ascii=False)
        test: dict[str, Any] = {"description": case.id, "vars": sides}
        if case.expected:
            test["vars"]["promptslim_expected"] = case.expected
        asserts = [a for a in (_assertion(x, f"{where}: {x.type}", skipped) for x in case.asserts) if a]
        if asserts:
            test["assert"] = asserts
        tests.append(test)
    data: dict[str, Any] = {
        "description": f"promptslim: {original.rel} vs its {variant} prompt ({other_rel}) on {evalset.path}",
        "prompts": [{"raw": "{{ promptslim_original }}", "label": f"{original.rel} (original)"},
                    {"raw": f"{{{{ promptslim_{variant} }}}}", "label": f"{other_rel} ({variant})"}],
        "providers": [_provider(config)],
    }
    notes = ["each test's vars hold the exact messages promptslim renders; the prompts pass them through, so "
             "promptfoo sends what promptslim sends"]
    if evalset.criteria:
        rubric = evalset.criteria
        if any(c.expected for c in evalset.cases):
            rubric += "\n\nReference answer (may be empty): {{ promptslim_expected }}"
        data["defaultTest"] = {"assert": [{"type": "llm-rubric", "value": rubric, "threshold": evalset.threshold}]}
    if config.model is None:
        notes.append("no model in promptslim.toml: the config names openai:chat:gpt-4o-mini")
    data["tests"] = tests
    header = (f"# promptfoo config written by `promptslim export promptfoo {original.rel}`\n"
              f"# run: npx promptfoo@latest eval -c <this file>  then  npx promptfoo@latest view\n")
    text = header + yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=120)
    out = output or f"{paths.reports_dir(original.name)}/promptfooconfig.yaml"
    return Export(out, text, other_rel, len(tests), list(dict.fromkeys(skipped)), notes)


def _provider(config: Any) -> Any:
    model = config.model if config.model and config.model != "local" else "gpt-4o-mini"
    settings: dict[str, Any] = {}
    if config.target.base_url:
        settings["apiBaseUrl"] = config.target.base_url
    if config.target.api_key_env and config.target.api_key_env != "OPENAI_API_KEY":
        settings["apiKeyEnvar"] = config.target.api_key_env
    settings["temperature"] = config.temperature
    if config.max_tokens:
        settings["max_tokens"] = config.max_tokens
    return {"id": f"openai:chat:{model}", "config": settings}


def _js(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _assertion(a: Assertion, where: str, skipped: list[Skipped]) -> dict[str, Any] | None:
    """A promptslim assertion as a promptfoo one with the same pass/fail (JavaScript where built-ins differ)."""
    kind, value = a.type, a.value
    if kind in ("contains", "not-contains", "icontains"):
        return {"type": kind, "value": value}
    if kind == "equals":
        return {"type": "javascript", "value": f"output.trim() === {_js(str(value).strip())}"}
    if kind == "one-of":
        allowed = [str(v).strip().lower() for v in value]
        return {"type": "javascript", "value": f"{_js(allowed)}.includes(output.trim().toLowerCase())"}
    if kind == "regex":
        translated = js_regex(str(value))
        if translated is None:
            skipped.append(Skipped(kind, where, "not exported: Python-only regex syntax"))
            return None
        source, flags = translated
        return {"type": "javascript", "value": f"new RegExp({_js(source)}, {_js(flags)}).test(output)"}
    if kind == "is-json":
        return {"type": "javascript", "value": f"(() => {{ const m = output.match({_FENCE_JSON}); "
                                               "try { JSON.parse(m ? m[1] : output); return true; } "
                                               "catch (e) { return false; } })()"}
    if kind == "json-schema":
        return {"type": "is-json", "value": value}
    if kind == "max-words":
        return {"type": "javascript", "value": f"output.split(/\\s+/).filter(Boolean).length <= {int(value)}"}
    if kind == "max-sentences":
        return {"type": "javascript", "value": f"output.split({_SENTENCES}).filter(s => /[A-Za-z0-9]/.test(s))"
                                               f".length <= {int(value)}"}
    skipped.append(Skipped(kind, where, "not exported: promptfoo has no tokenizer for this model"
                           if kind == "max-tokens" else "not exported"))
    return None


def js_regex(pattern: str) -> tuple[str, str] | None:
    """A Python regex as a JavaScript RegExp source and flags; None when it uses syntax JavaScript lacks."""
    flags = ""
    lead = re.match(r"\(\?([aiLmsux]+)\)", pattern)
    if lead:
        if set(lead.group(1)) - set("ims"):
            return None
        flags, pattern = "".join(sorted(set(lead.group(1)))), pattern[lead.end():]
    out = pattern.replace("(?s:.*?)", "[\\s\\S]*?")
    out = re.sub(r"\(\?P<", "(?<", out)
    out = re.sub(r"\(\?P=(\w+)\)", r"\\k<\1>", out)
    if "m" not in flags:  # \A and \Z are ^ and $ without the m flag (a doubled backslash is a literal one)
        out = re.sub(r"(?<!\\)((?:\\\\)*)\\A", r"\1^", out)
        out = re.sub(r"(?<!\\)((?:\\\\)*)\\Z", r"\1$", out)
    if re.search(r"\(\?[aiLmsux-]+[:)]|\(\?#|\(\?\(|(?<!\\)(?:\\\\)*\\[AZ]", out):
        return None
    return out, flags
