"""Reading untrusted repository files and writing state files, without following links out of the repository.

Templates and eval sets arrive in pull requests: a symlink `prompts/x.j2 -> /proc/self/environ`
would render the process environment (API key included) into the prompt and the report. So
they are read only as regular files whose every path component inside the repository is a real
directory, never a link. State files are written to a temporary file and renamed into place:
a reader never sees half a file, and a symlink planted at the target is replaced, not followed.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

from promptslim.errors import InputError

MAX_TEMPLATE_BYTES = 1_000_000  # a prompt template larger than this is not a prompt
MAX_EVALSET_BYTES = 20_000_000


def relative_inside(path: Path, root: Path) -> str | None:
    """path relative to root as posix text, without resolving links; None when outside."""
    absolute = Path(os.path.abspath(path))
    for base in (Path(os.path.abspath(root)), root.resolve()):
        try:
            return absolute.relative_to(base).as_posix()
        except ValueError:
            continue
    return None


def repo_rel(path: Path, root: Path, what: str = "file") -> str:
    """The repo-relative path of a file that must live inside the repository (exit 2 otherwise)."""
    rel = relative_inside(path, root)
    if rel is None or rel in ("", ".") or rel.startswith("../"):
        raise InputError(f"{Path(path).as_posix()}: {what} is outside the repository ({root}) — promptslim reads "
                         "templates and eval sets only from inside the repository")
    return rel


def _no_links(root: Path, rel: str) -> None:
    """Refuse when any component of rel under root is a symlink (a link can point anywhere)."""
    here = Path(os.path.abspath(root))
    parts = Path(rel).parts
    for i, part in enumerate(parts):
        here = here / part
        try:
            mode = os.lstat(here).st_mode
        except FileNotFoundError:
            return
        if stat.S_ISLNK(mode):
            shown = "/".join(parts[: i + 1])
            target = os.readlink(here)
            raise InputError(f"{shown}: is a symlink (-> {target}) — promptslim reads templates and eval sets only "
                             "as regular files inside the repository")


def read_repo_text(path: Path, root: Path, what: str, max_bytes: int) -> str:
    """Text of a regular file inside root: no symlink anywhere on the way, no device, size-capped, UTF-8."""
    rel = repo_rel(path, root, what)
    _no_links(root, rel)
    full = Path(os.path.abspath(root)) / rel
    try:
        fd = os.open(full, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise InputError(f"{rel}: no such {what}") from None
    except OSError as exc:
        raise InputError(f"{rel}: cannot read {what}: {exc.strerror}") from None
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise InputError(f"{rel}: not a regular file — promptslim reads {what}s only as regular files")
        if info.st_size > max_bytes:
            raise InputError(f"{rel}: {info.st_size:,} bytes is over the {max_bytes:,}-byte limit for a {what}")
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise InputError(f"{rel}: over the {max_bytes:,}-byte limit for a {what}")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"{rel}: not UTF-8 text ({exc.reason})") from None


def check_text_size(text: str, shown: str, what: str, max_bytes: int) -> None:
    size = len(text.encode("utf-8", errors="replace"))
    if size > max_bytes:
        raise InputError(f"{shown}: {size:,} bytes is over the {max_bytes:,}-byte limit for a {what}")


def safe_dir(folder: Path, root: Path) -> Path:
    """A folder inside root reached through no symlink (created), to write generated files into."""
    rel = repo_rel(folder, root, "output folder")
    _no_links(root, rel)
    Path(folder).mkdir(parents=True, exist_ok=True)
    return Path(folder)


def atomic_write(path: Path, text: str, root: Path | None = None) -> Path:
    """Write text to path via a temporary file and os.replace; with root, refuse to write outside it.

    os.replace swaps the directory entry: a symlink planted at `path` is replaced by the new
    file, its target is never opened. A linked parent folder that leads outside root is refused.
    """
    path = Path(path)
    if root is not None:
        rel = repo_rel(path, root, "output file")
        if Path(rel).parent != Path("."):
            _no_links(root, Path(rel).parent.as_posix())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        mode = 0o644
        try:
            current = os.lstat(path)
            if stat.S_ISREG(current.st_mode):
                mode = stat.S_IMODE(current.st_mode)
        except FileNotFoundError:
            pass
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path
