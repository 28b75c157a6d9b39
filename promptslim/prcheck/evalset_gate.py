"""Which eval set gates a changed template in `check`, and what the pull request changed in it.

A pull request could drop a rule and, in the same change, delete the cases that catch it, lower the
threshold or loosen the judge's criteria. So the base revision's eval set (read through git, as a
regular file) grades both sides whenever the base has one; the head's changes to it are listed for a
reviewer and take effect once merged — as the head's config changes do (trust.py). Only a template
whose eval set is new in this pull request is graded on the head's set: there is nothing older to trust.
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
from dataclasses import dataclass, replace
from pathlib import Path

from promptslim import gitutil, paths
from promptslim.config import PromptConfig
from promptslim.errors import InputError, SandboxRefusal
from promptslim.evalset import Case, EvalSet, evalset_for, load_evalset
from promptslim.results import ConfigChange, EvalsetChanges
from promptslim.template.load import Message, Template


@dataclass(frozen=True)
class GateSet:
    """The eval set that gates one template, the head's own (when it differs) and the difference."""

    gate: EvalSet | None
    revision: str | None  # "base" | "head": whose eval set `gate` is
    head: EvalSet | None  # the head's eval set when it differs from the gate's, else None
    note: str | None  # "changed" | "deleted" | "new", or None when the pull request left it alone
    changes: EvalsetChanges | None

    def head_cases(self) -> EvalSet | None:
        """The head's added and changed cases as an eval set of their own (its criteria and threshold)."""
        if self.head is None or self.changes is None:
            return None
        wanted = set(self.changes.added) | set(self.changes.changed)
        cases = tuple(c for c in self.head.cases if c.id in wanted)
        return replace(self.head, cases=cases) if cases else None


def choose(root: Path, sha: str, base_rel: str | None, head_rel: str | None, prompt: PromptConfig) -> GateSet:
    """The gate's eval set for a template at base_rel (base) / head_rel (head; None when deleted)."""
    head_path = evalset_for(head_rel, root) if head_rel else None
    head = load_evalset(head_path, root, prompt.criteria, prompt.threshold) if head_path else None
    # a renamed or copied template: its own eval set when the base already has one (landed first), else the one of
    # the file it came from — never none, which would let the pull request's own set grade it
    moved = bool(head_rel and base_rel and head_rel != base_rel)
    at_base = (base_text(root, sha, head_rel) if moved else None) or (
        base_text(root, sha, base_rel or head_rel) if (base_rel or head_rel) else None)
    if at_base is None:
        return GateSet(head, "head" if head else None, None, "new" if head else None, None)
    if head is not None and _sha(at_base[1]) == head.sha256:
        return GateSet(head, "base", None, None, None)  # unchanged: the working tree's copy is the base's
    try:
        base = from_text(*at_base, prompt)
    except InputError:
        if head is None:
            raise
        # a base eval set that no longer loads is what a PR may be fixing: graded on the head's (revision "head"
        # with note "changed" says so in the report), as a base template that does not compile is reported
        return GateSet(head, "head", None, "changed", None)
    return GateSet(base, "base", head, "changed" if head else "deleted", diff(base, head))


def base_text(root: Path, sha: str, template_rel: str) -> tuple[str, str] | None:
    """(path, text) of the template's eval set at the base ref; a symlink there is refused, never followed."""
    for rel in paths.evalset_candidates(template_rel):
        text = gitutil.show(root, sha, rel)
        if text is not None:
            return rel, text
    return None


def from_text(rel: str, text: str, prompt: PromptConfig | None = None) -> EvalSet:
    """Load an eval set that only exists in git; error messages still name its repo path."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        if prompt is None:
            return load_evalset(path, Path(tmp))
        return load_evalset(path, Path(tmp), prompt.criteria, prompt.threshold)


def diff(base: EvalSet, head: EvalSet | None) -> EvalsetChanges:
    """Cases added, removed and changed (by id), and the grading settings that differ."""
    old = {c.id: c for c in base.cases}
    new = {c.id: c for c in head.cases} if head else {}
    settings = [] if head is None else [
        ConfigChange(key=key, base=a, head=b) for key, a, b in (
            ("criteria", base.criteria, head.criteria), ("threshold", base.threshold, head.threshold),
            ("steps", list(base.steps) if base.steps else None, list(head.steps) if head.steps else None))
        if a != b]
    return EvalsetChanges(
        base_path=base.path, head_path=head.path if head else None,
        added=[i for i in new if i not in old], removed=[i for i in old if i not in new],
        changed=[i for i in new if i in old and _content(new[i]) != _content(old[i])], settings=settings)


def _content(case: Case) -> str:
    """What a case asks and checks; its line numbers are where it sits, not what it says."""
    return json.dumps([case.vars, case.input, case.expected, [[a.type, a.value] for a in case.asserts]],
                      sort_keys=True, default=repr)


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def render_on_base(tpl: Template, evalset: EvalSet | None) -> tuple[list[list[Message]] | None, str | None]:
    """The head on the base's eval set, or why it cannot be checked there (a failure of the row, not bad input:
    the head and its own eval set agree; the trusted set does not give what the head now needs)."""
    assert evalset is not None
    msgs = []
    for case in evalset.cases:
        try:
            msgs.append(tpl.render(case.vars, case.input, case.where(evalset.path)))
        except SandboxRefusal:
            raise
        except InputError as exc:
            return None, _needs_more(case.id, exc.message)
    return msgs, None


def _needs_more(case_id: str, message: str) -> str:
    """The row's failure when the head template does not render on a case of the base's eval set."""
    var = re.search(r"undefined variable '([^']+)'", message)
    what = (f"the head needs variables the base eval set does not give (`{var.group(1)}`, case {case_id})" if var
            else f"the head does not render on the base eval set (case {case_id}: {message})")
    return f"{what}: land the eval set change first, then this change is checked against it"

