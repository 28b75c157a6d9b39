"""Both sides of a changed template, loaded and rendered before any call: the head from the working tree, the base
from git (`git show REF:path`, never the working tree), both in the same sandbox, on the eval set that gates
them (evalset_gate.py: a pull request must not choose the cases that gate it)."""

from __future__ import annotations

import difflib
from dataclasses import dataclass, replace
from pathlib import Path

from promptslim import gitutil
from promptslim.config import Config, PromptConfig, TemplateSettings
from promptslim.engine.evaluator import Evaluator, VariantResult
from promptslim.errors import InputError, SandboxRefusal
from promptslim.evalset import EvalSet
from promptslim.prcheck import evalset_gate as evalsetgate
from promptslim.results import EvalsetChanges
from promptslim.results.models import ModelsSection
from promptslim.safeio import MAX_TEMPLATE_BYTES, read_repo_text
from promptslim.template.load import Message, Template, template_from_source, template_name


@dataclass
class Target:
    """One changed template with both sides loaded and rendered (before any call)."""

    status: str  # added | modified | renamed | copied | deleted
    path: str  # head path; the base path when deleted
    base_path: str | None  # where a renamed or copied template came from
    name: str
    prompt: PromptConfig  # the base's settings of the file it came from (its name at the base)
    settings: TemplateSettings  # the base revision's, like every gate setting
    evalset: EvalSet | None = None  # the set that grades both sides: the base's whenever the base has one
    evalset_revision: str | None = None  # "base" | "head"
    evalset_note: str | None = None  # "changed" | "deleted" | "new" when the head eval set differs from the base's
    evalset_changes: EvalsetChanges | None = None  # shown for review, not applied
    head_cases: EvalSet | None = None  # the head's added/changed cases: graded for the reviewer, never the gate
    unchecked: str | None = None  # why the head cannot be graded on the base's eval set (the row fails)
    base: Template | None = None
    head: Template | None = None
    base_msgs: list[list[Message]] | None = None
    head_msgs: list[list[Message]] | None = None
    base_note: str | None = None  # why the base side has no figures
    review_note: str | None = None  # what a reviewer must know about how this file was matched to the base
    # what the evaluation found (None: not evaluated)
    base_result: VariantResult | None = None
    head_result: VariantResult | None = None
    new_cases_result: VariantResult | None = None  # the head on this PR's added or changed cases
    also: ModelsSection | None = None  # check --also-model: the head on cheaper models
    head_ev: Evaluator | None = None  # the head's evaluator, which the cheaper-model strategy runs on

    @property
    def evaluable(self) -> bool:
        return self.status != "deleted" and self.evalset is not None and self.head_msgs is not None

    @property
    def graded(self) -> bool:
        """Anything to send to the model: the gate's sides, or the head on this PR's new cases."""
        return self.evaluable or (self.head is not None and self.head_cases is not None)


def load(change: gitutil.Change, root: Path, sha: str, config: Config) -> Target:
    """Both sides of one changed template loaded and rendered on the eval set that gates it (before any call)."""
    head_rel = None if change.status == "deleted" else change.path
    base_rel = change.base_path
    name = template_name(head_rel or base_rel or change.path)
    # a renamed or copied template is gated by the settings of the file it came from, never by a name the PR chose —
    # unless the base already has settings of its own for the new name (landed first, so trusted)
    gate = name if name in config.prompts or not base_rel else template_name(base_rel)
    t = Target(change.status, change.path, base_rel, name, config.prompt(gate), config.settings(gate))
    if head_rel:
        source = read_repo_text(root / head_rel, root, "template", MAX_TEMPLATE_BYTES)
        t.head = template_from_source(source, head_rel)
    if base_rel:
        source = gitutil.show(root, sha, base_rel)
        if source is None:
            raise InputError(f"{base_rel}: not found at {sha[:7]} (git show failed)")
        # rel names the git object, so errors read "abc1234:prompts/x.j2:3: …"; the config key is the head's.
        # A base that does not compile is what a PR may be fixing: report it, do not block on it.
        try:
            t.base = replace(template_from_source(source, f"{sha[:7]}:{base_rel}"), name=name)
        except InputError as exc:
            t.base_note = f"the base version does not compile ({exc.message})"
    if change.status == "deleted":  # static figures of what goes away, on the base's eval set
        at_base = evalsetgate.base_text(root, sha, base_rel)
        t.evalset = evalsetgate.from_text(*at_base, t.prompt) if at_base else None
        t.evalset_revision = "base" if t.evalset else None
    else:
        g = evalsetgate.choose(root, sha, base_rel, head_rel, t.prompt)
        t.evalset, t.evalset_revision, t.evalset_note, t.evalset_changes = g.gate, g.revision, g.note, g.changes
        t.head_cases = g.head_cases()
        if t.head is not None and g.head is not None:
            _render(t.head, g.head, strict=True)  # the PR's template and eval set must agree: bad input otherwise
    if t.head is not None:
        if t.evalset_revision == "base" and t.evalset_note in ("changed", "deleted"):
            t.head_msgs, t.unchecked = evalsetgate.render_on_base(t.head, t.evalset)
        else:
            t.head_msgs = _render(t.head, t.evalset, strict=t.evalset is not None)
    if t.base is not None:
        t.base_msgs = _render(t.base, t.evalset, strict=False)
        if t.base_msgs is None:
            t.base_note = (f"the base version does not render with {_whose(t)} eval set"
                           if t.evalset else "the base version does not render without variables")
    return t


def review_notes(targets: list[Target], config: Config, head_config: Config) -> None:
    """How a renamed, copied or replacing file was gated, for the reviewer (a rename git cannot see is an add)."""
    deleted = [t.path for t in targets if t.status == "deleted"]
    for t in targets:
        if t.status in ("renamed", "copied") and t.base_path:
            old, new = template_name(t.base_path), t.name
            if old in config.prompts and new not in head_config.prompts:
                t.review_note = (f"gated by the base settings of `{t.base_path}` ([prompts.\"{old}\"]); this PR's "
                                 f"config has no [prompts.\"{new}\"], so once merged it has none")
        elif t.status == "added" and deleted:
            t.review_note = (f"new in this PR while it deletes {', '.join(f'`{p}`' for p in deleted)} — if it replaces "
                             "it, it was gated as new, without that template's settings and eval set")


def _whose(t: Target) -> str:
    return "the base revision's" if t.evalset_revision == "base" else "this PR's"


def _render(tpl: Template, evalset: EvalSet | None, strict: bool) -> list[list[Message]] | None:
    """Messages per eval case (or one render with no variables); None when that is not possible.

    A sandbox refusal always raises, strict or not: a template that tries to escape is an error
    on either side, never a figure we leave out.
    """
    try:
        if evalset is not None:
            return [tpl.render(c.vars, c.input, c.where(evalset.path)) for c in evalset.cases]
        return [tpl.render({}, "", None)]
    except SandboxRefusal:
        raise
    except InputError:
        if strict:
            raise
        return None


def _prompt_text(msgs: list[list[Message]] | None) -> str | None:
    """The rendered system prompt of the first case (every template message when there is no system one)."""
    if not msgs:
        return None
    first = msgs[0]
    system = [m["content"] for m in first if m["role"] == "system"]
    if system:
        return "\n\n".join(system)
    return "\n\n".join(f"[{m['role']}]\n{m['content']}" for m in first)


def prompt_diff(t: Target) -> str:
    """Unified diff of the rendered prompt, base vs head; empty when the rendering did not change."""
    old, new = _prompt_text(t.base_msgs), _prompt_text(t.head_msgs)
    if old == new or t.unchecked:  # a head with no rendering on the base's cases: no diff against nothing
        return ""
    base_name = f"base {t.base.rel}" if t.base is not None else "/dev/null"
    head_name = f"head {t.path}" if t.head is not None else "/dev/null"
    return "\n".join(difflib.unified_diff((old or "").splitlines(), (new or "").splitlines(), base_name, head_name,
                                         lineterm=""))
