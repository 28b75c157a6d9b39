"""Which prompts a pull request changed: the base commit, templates changed or renamed, and templates whose
eval set alone changed — read from git, never from the working tree's idea of the base."""

from __future__ import annotations

from pathlib import Path

from promptslim import gitutil, paths
from promptslim.errors import InputError
from promptslim.template.load import relpath

PROMPTS, EVALSETS = paths.PROMPTS, paths.EVALSETS


def resolve_base(root: Path, base: str | None) -> tuple[str, str]:
    if gitutil.git(root, "rev-parse", "--is-inside-work-tree", check=False).strip() != "true":
        raise InputError(f"{root}: not a git repository — `promptslim check` compares templates against a git ref")
    ref = base or gitutil.default_base(root)
    sha = gitutil.git(root, "rev-parse", "--verify", "-q", f"{ref}^{{commit}}", check=False).strip()
    if not sha:
        raise InputError(f"--base {ref}: no such commit in this repository — fetch it first "
                         "(in CI: actions/checkout with fetch-depth: 0)")
    return ref, sha


def is_template(path: str | None) -> bool:
    return bool(path) and path.startswith(f"{PROMPTS}/") and paths.is_prompt(path)


def discover(root: Path, sha: str) -> list[gitutil.Change]:
    """Changed templates, plus templates whose eval set alone changed."""
    found = gitutil.changes(root, sha, (PROMPTS, EVALSETS))
    templates: dict[str, gitutil.Change] = {}
    for c in found:
        if c.status in ("renamed", "copied"):
            head_ok, base_ok = is_template(c.path), is_template(c.base_path)
            if head_ok and base_ok:
                templates[c.path] = c
            elif head_ok:
                templates[c.path] = gitutil.Change("added", c.path, None)
            elif base_ok and c.status == "renamed":  # a copy leaves its original where it was
                templates[c.base_path] = gitutil.Change("deleted", c.base_path, c.base_path)
        elif is_template(c.path):
            templates[c.path] = c
    covered = set(templates) | {c.base_path for c in templates.values() if c.base_path and c.status != "copied"}
    for c in found:
        # a copied eval set changes nothing about its original's template
        for path in (c.path,) if c.status == "copied" else (c.path, c.base_path):
            tpl = paths.prompt_of_evalset(path, root)
            if tpl and tpl not in covered and (root / tpl).is_file():
                templates[tpl] = gitutil.Change("modified", tpl, tpl)
                covered.add(tpl)
    return sorted(templates.values(), key=lambda c: c.path)


def restrict(changes: list[gitutil.Change], templates: list[str], root: Path) -> list[gitutil.Change]:
    if not templates:
        return changes
    wanted = set()
    for given in templates:
        path = Path(given)
        options = [path] if path.is_absolute() else [Path.cwd() / path, root / path]
        found = next((p for p in options if p.exists()), options[-1])
        rel = relpath(found, root)
        if not paths.is_prompt(rel):
            raise InputError(paths.not_a_prompt(given))
        refusal = paths.outside_prompts(given, found, root)
        if refusal:
            raise InputError(refusal)
        wanted.add(rel)
    return [c for c in changes if c.path in wanted or (c.status != "copied" and c.base_path in wanted)]
