"""What `check` trusts: the base revision's config, and no state a pull request can plant.

`check` gates the pull request it runs on, so nothing in the head revision may decide its own
gate. The margin, budgets, thresholds, prices, traffic figures and endpoints come from the base
revision's promptslim.toml (or pyproject.toml), read through git; the head's changes to them are
listed in the report for a reviewer and applied only once merged. State found in the checkout
(a force-added `.promptslim/`, a symlinked one) is refused rather than used as cache or judge steps.
"""

from __future__ import annotations

import os
import stat
from dataclasses import asdict
from pathlib import Path
from typing import Any

from promptslim import gitutil
from promptslim.config import CONFIG_FILE, Config, config_from_texts
from promptslim.errors import InputError
from promptslim.redact import redact_url
from promptslim.safeio import read_repo_text


def base_config(root: Path, sha: str) -> Config:
    """The config as the base revision has it (DESIGN.md defaults when the base has none)."""
    toml = gitutil.show(root, sha, CONFIG_FILE)
    pyproject = None if toml is not None else gitutil.show(root, sha, "pyproject.toml")
    return config_from_texts(root, toml, pyproject, label=f"{sha[:7]}:")


def _flat(value: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, inner in value.items():
            out.update(_flat(inner, f"{prefix}.{key}" if prefix else str(key)))
        return out
    return {prefix: value}


def _settings(config: Config) -> dict[str, Any]:
    data = asdict(config)
    data.pop("root", None)
    data.pop("source", None)
    flat = _flat(data)
    return {k: redact_url(v) if k.endswith("base_url") and isinstance(v, str) else v for k, v in flat.items()}


def config_changes(base: Config, head: Config) -> list[dict[str, Any]]:
    """Every setting the head changes relative to the base: shown for review, not applied."""
    old, new = _settings(base), _settings(head)
    return [{"key": key, "base": old.get(key), "head": new.get(key)}
            for key in sorted(set(old) | set(new)) if old.get(key) != new.get(key)]


def refuse_linked_config(root: Path) -> None:
    """The head's config is read for the change list: never through a link to a file outside the repository."""
    for name in (CONFIG_FILE, "pyproject.toml"):
        path = root / name
        if path.is_symlink():
            raise InputError(f"{name}: is a symlink (-> {os.readlink(path)}) — `check` reads the config only as a "
                             "regular file")


def check_state(root: Path, home: Path) -> None:
    """Refuse a state folder a pull request could have planted: a symlink, or files tracked in git."""
    try:
        mode = os.lstat(home).st_mode
    except FileNotFoundError:
        return
    try:
        rel = Path(os.path.abspath(home)).relative_to(Path(os.path.abspath(root))).as_posix()
    except ValueError:
        rel = None
    shown = rel or str(home)
    if stat.S_ISLNK(mode):
        raise InputError(f"{shown}: the state folder is a symlink (-> {os.readlink(home)}) — `check` does not use "
                         "state from the checkout; remove it, or set PROMPTSLIM_HOME outside the work tree")
    if rel is not None:
        planted = gitutil.tracked(root, rel)
        if planted:
            raise InputError(f"{planted[0]}: state is tracked in git ({len(planted)} file(s) under {rel}/) — a pull "
                             f"request cannot bring its own cache or judge steps; `git rm -r --cached {rel}`, or set "
                             "PROMPTSLIM_HOME outside the work tree")


OWN_REPORT_MAX = 20_000_000


def own_report(root: Path, rel: str) -> str | None:
    """A report file this checkout's own runs wrote, or None: untracked (no commit, so no pull request, put it
    there), a regular file reached through no symlink, size-capped. `check --no-eval` right after a local ablate
    reads its measured output from it, as `count` does (reports/ is git-ignored, so the base had none to give)."""
    if gitutil.tracked(root, rel):
        return None  # in git: a pull request could have written it; the base revision's own copy is read instead
    try:
        return read_repo_text(root / rel, root, "report", OWN_REPORT_MAX)
    except InputError:
        return None
