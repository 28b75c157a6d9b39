"""The few git questions promptslim asks, through the git command line."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from promptslim.errors import InputError


def git(root: Path, *args: str, check: bool = True) -> str:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise InputError("git is not installed; `promptslim check` needs it") from None
    if check and done.returncode != 0:
        raise InputError(f"git {' '.join(args)}: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else 'failed'}")
    return done.stdout if done.returncode == 0 else ""


def head_commit(root: Path) -> str | None:
    """The commit HEAD points at, or None outside a repository (or before the first commit)."""
    out = git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).strip()
    return out or None


def file_dirty(root: Path, rel: str) -> bool:
    return bool(git(root, "status", "--porcelain", "--", rel, check=False).strip())


def show(root: Path, ref: str, rel: str) -> str | None:
    """A file's text at a ref, or None when it does not exist there."""
    done = subprocess.run(["git", "show", f"{ref}:{rel}"], cwd=root, capture_output=True, timeout=60)
    if done.returncode != 0:
        return None
    return done.stdout.decode("utf-8", errors="replace")


@dataclass(frozen=True)
class Change:
    """One changed file between a base ref and the working tree."""

    status: str  # added | modified | deleted | renamed
    path: str  # head path (base path for deleted)
    base_path: str | None


def changes(root: Path, base: str, folders: tuple[str, ...]) -> list[Change]:
    """Files under folders changed between base and the working tree (renames followed; untracked count as added)."""
    out = git(root, "diff", "--name-status", "-M", base, "--", *folders)
    found: list[Change] = []
    for line in out.splitlines():
        parts = line.split("\t")
        code = parts[0][:1]
        if code == "R":
            found.append(Change("renamed", parts[2], parts[1]))
        elif code == "A":
            found.append(Change("added", parts[1], None))
        elif code == "D":
            found.append(Change("deleted", parts[1], parts[1]))
        elif code in ("M", "T"):
            found.append(Change("modified", parts[1], parts[1]))
    untracked = git(root, "ls-files", "--others", "--exclude-standard", "--", *folders).splitlines()
    known = {c.path for c in found}
    found += [Change("added", path, None) for path in untracked if path not in known]
    return found


def default_base(root: Path) -> str:
    """The merge base with origin/main, else main; the PR check compares against it."""
    for ref in ("origin/main", "main", "origin/master", "master"):
        base = git(root, "merge-base", ref, "HEAD", check=False).strip()
        if base:
            return base
    raise InputError("no base to compare against: pass --base REF (no origin/main or main found)")
