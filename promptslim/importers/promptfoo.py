"""`promptslim import promptfoo promptfooconfig.yaml`: prompts/, evalsets/ and the model from a promptfoo suite.

A promptfoo prompt is sent as the user message (a chat JSON prompt as its messages), so each becomes a
role-marked template that sends the same messages; nunjucks that Jinja2 reads the same is kept as written
and anything else is listed. Every prompt gets the suite's cases (promptfoo runs every test on every
prompt). llm-rubric becomes the judge's criteria; other assertions map as pfassert.py says.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptslim.errors import InputError
from promptslim.importers import (ImportResult, PlannedFile, Skipped, Source, evalset_yaml, load_data, slug,
                                  template_suffix, unique)
from promptslim.importers import pftests
from promptslim.importers.pfcheck import compile_problem, fill_missing, render_problem
from promptslim.importers.pfprovider import provider_settings

RUBRIC_VIA_EXPECTED = ("The answer meets the requirement given for this case as the expected output "
                       "(each case's own rubric, imported from promptfoo's llm-rubric).")
NO_RUBRIC = "Any answer meets this case's requirement: promptfoo graded it by its assertions alone."
_MARKERS = re.compile(r"\{#-?\s*(?:role|promptslim)\s*:")
_CODE = (".js", ".mjs", ".cjs", ".ts", ".py", ".sh", ".rb")
_KNOWN_TOP = {"description", "prompts", "providers", "targets", "tests", "defaultTest", "scenarios", "env",
              "evaluateOptions", "outputPath", "sharing", "nunjucksFilters", "derivedMetrics", "redteam", "extensions",
              "tags", "metadata", "writeLatestResults", "commandLineOptions", "tracing"}
_LISTED_TOP = {"scenarios": "scenarios: not imported (a cross product of tests promptslim does not build)",
               "nunjucksFilters": "nunjucksFilters: custom filters are JavaScript — never executed; prompts using "
                                  "them are listed below",
               "redteam": "redteam: not imported (generated attacks, not an eval set)",
               "extensions": "extensions: never executed",
               "derivedMetrics": "derivedMetrics: not mapped (promptslim reports score, pass rate and $)"}


@dataclass(frozen=True)
class Prompt:
    """One promptfoo prompt as a promptslim template source, with the name its files get."""

    name: str
    source: str
    suffix: str
    where: str


def import_promptfoo(config: Path, criteria: str | None = None) -> ImportResult:
    """Read a promptfoo config and return the templates, eval sets and settings it maps to."""
    src = Source(Path(config))
    data = load_data(src.read(Path(config), str(config), "promptfoo config"), src.name)
    if not isinstance(data, dict):
        raise InputError(f"{src.name}: a promptfoo config is a mapping (prompts, providers, tests)")
    skipped: list[Skipped] = []
    notes: list[str] = []
    for key in data:
        if key in _LISTED_TOP:
            skipped.append(Skipped("config", f"{src.name}: {key}", _LISTED_TOP[key]))
        elif key not in _KNOWN_TOP:
            skipped.append(Skipped("config", f"{src.name}: {key}", f"{key}: not a promptfoo key promptslim knows"))
    prompts = _prompts(data.get("prompts"), src, skipped)
    settings = provider_settings(data.get("providers", data.get("targets")), src, skipped, notes)
    default = data.get("defaultTest") or {}
    if isinstance(default, str):
        default = pftests.load_file_value(src, default, f"{src.name}: defaultTest")
    if not isinstance(default, dict):
        raise InputError(f"{src.name}: defaultTest: must be a mapping (vars, assert, options)")
    built = pftests.build(pftests.collect(data.get("tests"), src, skipped), default, src)
    if not built.cases:
        first = next(iter(skipped + built.skipped), None)
        raise InputError(f"{src.name}: tests: no test promptslim can import — an eval set needs cases"
                         + (f" (first not imported: {first.where}: {first.why})" if first else ""))
    skipped += built.skipped
    notes += sorted(built.notes)
    set_criteria, threshold = _criteria(built, criteria, skipped, notes, src)
    if not set_criteria and not any("assert" in c for c in built.cases):
        first = next((s for s in skipped if s.kind not in ("provider", "config")), None)
        raise InputError(f"{src.name}: nothing promptslim can grade — no assertion maps and there is no llm-rubric"
                         + (f" (first not mapped: {first.where}: {first.kind}: {first.why})" if first else "")
                         + "; pass --criteria 'the judge's rubric' to grade with the LLM judge")
    ready = []
    for prompt in prompts:
        rel = f"prompts/{prompt.name}{prompt.suffix}"
        problem = compile_problem(prompt.source, rel)
        if problem:
            skipped.append(Skipped("prompt", prompt.where, f"not imported: {problem}"))
            continue
        notes += fill_missing(prompt.source, rel, built.cases)
        ready.append((prompt, rel))
    files: list[PlannedFile] = []
    header = f"imported from {src.name} by `promptslim import promptfoo` ({len(built.cases)} cases)"
    evalset = evalset_yaml(built.cases, set_criteria, threshold, None, header)
    for prompt, rel in ready:
        problem = render_problem(prompt.source, rel, built.cases)
        if problem:
            skipped.append(Skipped("prompt", prompt.where, f"not imported: {problem}"))
            continue
        if "{%" in prompt.source:
            notes.append(f"{rel}: promptslim trims the line break after a {{% … %}} tag line (Jinja's trim_blocks); "
                         "nunjucks keeps it, so blank lines around blocks may differ")
        files += [PlannedFile(rel, prompt.source), PlannedFile(f"evalsets/{prompt.name}.yaml", evalset)]
    if not files:
        raise InputError(f"{src.name}: prompts: no prompt promptslim can import"
                         + (f" — {skipped[-1].where}: {skipped[-1].why}" if skipped else ""))
    return ImportResult(source=str(config), files=files, cases=len(built.cases), skipped=_dedupe(skipped),
                        notes=list(dict.fromkeys(notes)), settings=settings)


def _dedupe(items: list[Skipped]) -> list[Skipped]:
    return list(dict.fromkeys(items))


def _criteria(built: pftests.Cases, given: str | None, skipped: list[Skipped], notes: list[str],
              src: Source) -> tuple[str | None, float | None]:
    """llm-rubric as the judge's criteria: one set-level rubric when every case has the same, else per case."""
    rubric_sets = [tuple(text for text, _ in dict.fromkeys(r)) for r in built.rubrics]
    thresholds = {t for r in built.rubrics for _, t in r}
    if given:
        if any(rubric_sets):
            skipped.append(Skipped("llm-rubric", f"{src.name}: tests", "replaced by --criteria"))
        return given.strip(), None
    if not any(rubric_sets):
        return None, None
    threshold = None
    if len(thresholds) == 1 and None not in thresholds:
        value = thresholds.pop()
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value <= 1:
            threshold = float(value)
    elif thresholds - {None}:
        notes.append("llm-rubric thresholds differ between cases: the eval set uses promptslim's one threshold (0.7)")
    if len(set(rubric_sets)) == 1:
        return "\n".join(rubric_sets[0]), threshold
    for case, rubrics in zip(built.cases, rubric_sets):
        case["expected"] = "\n".join(rubrics) if rubrics else NO_RUBRIC
    notes.append("llm-rubric differs between cases: each case's rubric is its `expected`, judged by one criteria")
    return RUBRIC_VIA_EXPECTED, threshold


# ---------------------------------------------------------------- prompts
def _prompts(spec: Any, src: Source, skipped: list[Skipped]) -> list[Prompt]:
    """Each promptfoo prompt (inline text, file://, chat JSON/YAML, CSV of prompts) as a template source."""
    if spec is None:
        spec = ["{{prompt}}"]  # promptfoo's default: the `prompt` var passed through
    if isinstance(spec, dict):  # legacy: {path or text: label}
        spec = [{"raw": k, "label": v} for k, v in spec.items()]
    if not isinstance(spec, list):
        spec = [spec]
    taken: set[str] = set()
    out: list[Prompt] = []
    for i, item in enumerate(spec):
        where = f"{src.name}: prompts[{i}]"
        label = None
        if isinstance(item, dict):
            label = item.get("label")
            for key in set(item) - {"id", "raw", "label"}:
                skipped.append(Skipped("prompt", where, f"{key}: not mapped (per-prompt provider settings)"))
            item = item.get("raw", item.get("id"))
        if not isinstance(item, str) or not item.strip():
            raise InputError(f"{where}: a prompt is text, file://path, or a mapping with id/raw and label")
        for name, text, kind, shown in _expand_prompt(item, where, src, skipped):
            base = slug(label, "prompt") if label else name
            source, suffix = _to_template(text, kind, where, skipped)
            if source is not None:
                out.append(Prompt(unique(base, taken), source, suffix, shown))
    return out


def _expand_prompt(item: str, where: str, src: Source, skipped: list[Skipped]) -> list[tuple[str, Any, str, str]]:
    """(name, text or messages, kind, where) for one prompts entry; files may hold several prompts."""
    if not item.startswith("file://"):
        if item.startswith(("exec:", "langfuse://", "portkey://", "helicone://", "http://", "https://")):
            skipped.append(Skipped("prompt", where, f"not imported: {item.split(':', 1)[0]} prompts are fetched or "
                                                    "generated elsewhere; promptslim reads prompt text"))
            return []
        return [("prompt", item, "text", where)]
    path_text = item[len("file://"):]
    if path_text.split(":", 1)[0].endswith(_CODE):
        skipped.append(Skipped("prompt", where, f"not imported: {item} is a prompt function — never executed"))
        return []
    paths = src.glob(path_text, where) if any(c in path_text for c in "*?[") else [src.resolve(item, where)]
    out: list[tuple[str, Any, str, str]] = []
    for path in paths:
        shown = f"{where} ({src.shown(path)})"
        text = src.read(path, where, "prompt file")
        stem = slug(path.stem, "prompt")
        if path.suffix == ".json" or (path.suffix in (".yaml", ".yml")):
            out.append((stem, load_data(text, src.shown(path), "json" if path.suffix == ".json" else "yaml"),
                        "chat", shown))
        elif path.suffix == ".csv":
            out += _csv_prompts(text, src.shown(path), stem, where)
        else:
            parts = [p for p in re.split(r"(?m)^---[ \t]*\r?\n", text) if p.strip()]
            out += [(stem if len(parts) == 1 else f"{stem}-{k}", part, "text", shown)
                    for k, part in enumerate(parts, start=1)]
    return out


def _csv_prompts(text: str, shown: str, stem: str, where: str) -> list[tuple[str, Any, str, str]]:
    reader = csv.DictReader(io.StringIO(text, newline=""))
    out = []
    try:
        for row in reader:
            body = row.get("prompt")
            if not body:
                raise InputError(f"{shown}:{reader.line_num}: a prompts CSV has a 'prompt' column")
            out.append((slug(row.get("label") or "", f"{stem}-{len(out) + 1}"), body, "text",
                        f"{where} ({shown}:{reader.line_num})"))
    except csv.Error as exc:
        raise InputError(f"{shown}:{reader.line_num}: invalid CSV: {exc}") from None
    return out


def _to_template(text: Any, kind: str, where: str, skipped: list[Skipped]) -> tuple[str | None, str]:
    """promptfoo sends a text prompt as the user message, a chat prompt as its messages: role markup says the same."""
    if kind == "text" and isinstance(text, str) and text.lstrip().startswith("["):
        try:
            parsed = load_data(text, where, "json")
            if isinstance(parsed, list) and parsed and all(isinstance(m, dict) and "role" in m for m in parsed):
                text, kind = parsed, "chat"
        except InputError:
            pass  # not JSON: a text prompt that starts with '['
    if kind == "chat":
        if not isinstance(text, list) or not text:
            skipped.append(Skipped("prompt", where, "not imported: a chat prompt is a list of {role, content}"))
            return None, ""
        messages = []
        for k, message in enumerate(text):
            role = message.get("role") if isinstance(message, dict) else None
            content = message.get("content") if isinstance(message, dict) else None
            if role not in ("system", "user", "assistant") or not isinstance(content, str):
                why = (f"message {k}: role '{role}' (promptslim templates have system, user and assistant messages)"
                       if isinstance(content, str) else
                       f"message {k}: content that is not text (images, audio, tool calls)")
                skipped.append(Skipped("prompt", where, f"not imported: {why}"))
                return None, ""
            messages.append((role, content.strip("\n")))
    else:
        messages = [("user", str(text).strip("\n"))]
    body = "\n".join(content for _, content in messages)
    if _MARKERS.search(body):
        skipped.append(Skipped("prompt", where, "not imported: it contains '{# role: …' or '{# promptslim: …' "
                                                "text, which promptslim reads as markup"))
        return None, ""
    source = "".join(f"{{# role: {role} #}}\n{content}\n" for role, content in messages)
    return source, template_suffix(body)
