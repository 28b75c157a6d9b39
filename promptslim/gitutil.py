"""The few git questions promptslim asks, through the git command line."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from promptslim.errors import InputError


def git(root: Path, *args: str, check: bool = True) -> str:
    try:
        # bytes, decoded without newline translation: a file name may hold "\r\n" (text=True would make it "\n")
        done = subprocess.run(["git", *args], cwd=root, capture_output=True, timeout=60)
    except FileNotFoundError:
        raise InputError("git is not installed; `promptslim check` needs it") from None
    stderr = done.stderr.decode("utf-8", "replace").strip()
    if check and done.returncode != 0:
        raise InputError(f"git {' '.join(args)}: {stderr.splitlines()[-1] if stderr else 'failed'}")
    return done.stdout.decode("utf-8", "replace") if done.returncode == 0 else ""


def head_commit(root: Path) -> str | None:
    """The commit HEAD points at, or None outside a repository (or before the first commit)."""
    out = git(root, "rev-parse", "--verify", "-q", "HEAD", check=False).strip()
    return out or None


def show(root: Path, ref: str, rel: str, max_bytes: int = 20_000_000) -> str | None:
    """A regular file's text at a ref, or None when it does not exist there.

    The entry's mode is read first (`git ls-tree -z`): a symlink (120000) committed in a pull
    request is refused, never followed, and a blob over max_bytes is refused before it is read.
    """
    listing = subprocess.run(["git", "ls-tree", "-z", "-l", ref, "--", rel], cwd=root, capture_output=True,
                             timeout=60)
    entries = [e for e in listing.stdout.split(b"\0") if e] if listing.returncode == 0 else []
    entry = next((e for e in entries if e.split(b"\t", 1)[-1].decode("utf-8", "replace") == rel), None)
    if entry is None:
        return None
    meta = entry.split(b"\t", 1)[0].split()
    mode, kind, sha, size = (m.decode() for m in meta[:4])
    shown = f"{ref[:7]}:{rel}"
    if mode == "120000":
        raise InputError(f"{shown}: is a symlink in git — promptslim reads templates, eval sets and config only as "
                         "regular files")
    if kind != "blob" or mode not in ("100644", "100755"):
        raise InputError(f"{shown}: not a regular file in git (mode {mode})")
    if size.isdigit() and int(size) > max_bytes:
        raise InputError(f"{shown}: {int(size):,} bytes is over the {max_bytes:,}-byte limit")
    done = subprocess.run(["git", "cat-file", "blob", sha], cwd=root, capture_output=True, timeout=60)
    if done.returncode != 0:
        return None
    try:
        return done.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{shown}: not UTF-8 text ({exc.reason})") from None


def tracked(root: Path, rel: str) -> list[str]:
    """Paths git tracks at or under rel (NUL-separated output: any file name survives)."""
    out = git(root, "ls-files", "-z", "--", rel, check=False)
    return [p for p in out.split("\0") if p]


@dataclass(frozen=True)
class Change:
    """One changed file between a base ref and the working tree."""

    status: str  # added | modified | deleted | renamed | copied
    path: str  # head path (base path for deleted)
    base_path: str | None  # where a renamed or copied file came from


def changes(root: Path, base: str, folders: tuple[str, ...]) -> list[Change]:
    """Files under folders changed between base and the working tree (renames and copies followed; untracked files
    count as added).

    A renamed or copied file must stay tied to the file it came from (its settings and eval set gate it), so copies
    are looked for among every file under folders (`-C -C`), not only the modified ones: the folders hold prompts
    and eval sets, a few hundred small files at most.
    """
    # -z: without it git quotes and escapes non-ASCII names ("prompts/caf\303\251.j2"), which then match nothing
    fields = git(root, "diff", "-z", "--name-status", "-M", "-C", "-C", base, "--", *folders).split("\0")
    found: list[Change] = []
    i = 0
    while i < len(fields) and fields[i]:
        code = fields[i][:1]
        if code in ("R", "C"):
            old, new = fields[i + 1], fields[i + 2]
            i += 3
            found.append(Change("renamed" if code == "R" else "copied", new, old))
            continue
        path = fields[i + 1]
        i += 2
        if code == "A":
            found.append(Change("added", path, None))
        elif code == "D":
            found.append(Change("deleted", path, path))
        elif code in ("M", "T"):
            found.append(Change("modified", path, path))
    untracked = [p for p in git(root, "ls-files", "-z", "--others", "--exclude-standard", "--",
                                *folders).split("\0") if p]
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
