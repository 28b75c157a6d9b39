"""Writing a repository under test: one helper instead of a copy per test file (the fixture is make_repo)."""

from __future__ import annotations

from pathlib import Path


def write_files(root: Path, files: dict[str, str | None]) -> None:
    """Write each relative path's text (parents created); None deletes the file."""
    for rel, text in files.items():
        path = root / rel
        if text is None:
            path.unlink()
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
