"""Issue 24 finding 2: README's llama.cpp row has no --model, so a run went out as the config's gpt-4o-mini and said
so — "on gpt-4o-mini", gpt-4o-mini's tokenizer, gpt-4o-mini's list price for a model on this machine. The endpoint
knows what it serves (GET /v1/models): a run without --model uses it, or refuses in one line naming --model.
The fake server on 127.0.0.1 lists what a test sets in `served_models`, as llama.cpp lists its one GGUF."""

from __future__ import annotations

import json

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.errors import InputError
from promptslim.llm.served import choose

GGUF = "qwen2.5-coder-1.5b-instruct-q4_k_m.gguf"
TEMPLATE = "You answer Yes or No.\n- Answer with one word.\n"
EVALSET = yaml.safe_dump({"cases": [{"id": case, "input": question, "assert": [{"type": "icontains", "value": answer}]}
                                    for case, question, answer in (("one", "Is water wet?", "yes"),
                                                                   ("two", "Is fire cold?", "no"))]})
# the repository's own promptslim.toml names gpt-4o-mini, as the run had it
FILES = {"prompts/p.j2": TEMPLATE, "evalsets/p.yaml": EVALSET,
         "promptslim.toml": 'model = "gpt-4o-mini"\n[prompts."p"]\ncalls_per_month = 1000\n'}


def run(*args: str):
    return CliRunner().invoke(app, list(args))


def test_the_llama_cpp_recipe_without_model_runs_as_the_served_model(fake, make_repo):
    make_repo(FILES)
    fake.served_models = [GGUF]
    fake.handler = lambda body: "Yes"
    result = run("eval", "prompts/p.j2", "--judge-model", "none", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {r["model"] for r in fake.requests} == {GGUF}  # the calls name what the server serves
    assert (data["model"], data["price_model"]) == (GGUF, GGUF)
    # its own price (no list price on a loopback endpoint: $0, said so), the server's own token counts
    assert data["prices"]["price_model"]["kind"] == "self-hosted" and data["summary"]["usd_per_call"] == 0.0
    assert data["tokens_source"] == "server-reported" and GGUF in data["tokens_note"]
    assert "gpt-4o-mini" not in data["tokens_note"]
    notice = [line for line in result.stderr.splitlines() if "serves" in line]
    assert notice == [f"promptslim: {fake.url} serves '{GGUF}', not 'gpt-4o-mini' (model in promptslim.toml): running "
                      f"as '{GGUF}' — its tokenizer and price, not gpt-4o-mini's; pass --model to choose"]
    table = run("eval", "prompts/p.j2", "--judge-model", "none")
    assert f"prompts/p.j2 on {GGUF}" in table.stdout and "on gpt-4o-mini" not in table.stdout


def test_an_endpoint_serving_several_other_models_is_refused_naming_model(fake, make_repo):
    make_repo(FILES)
    fake.served_models = ["llama3.2", "qwen2.5", "mistral"]
    result = run("eval", "prompts/p.j2", "--judge-model", "none")
    assert result.exit_code == 2 and fake.calls == 0
    assert result.stderr.strip() == (f"error: {fake.url} serves 3 models but not 'gpt-4o-mini' (model in "
                                     "promptslim.toml) — pass --model with one of them: 'llama3.2', 'qwen2.5', 'mistral'")


@pytest.mark.parametrize("served", [["gpt-4o-mini", "gpt-4o"], [], None])
def test_the_configured_model_stays_when_served_or_when_the_endpoint_cannot_say(fake, make_repo, served):
    make_repo(FILES)
    fake.served_models = served
    fake.handler = lambda body: "Yes"
    result = run("eval", "prompts/p.j2", "--judge-model", "none", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "gpt-4o-mini" and fake.model_lists == 1
    assert "serves" not in result.stderr


def test_model_flag_and_static_check_ask_nothing(fake, make_repo):
    make_repo(FILES)
    fake.served_models = [GGUF]
    fake.handler = lambda body: "Yes"
    assert run("eval", "prompts/p.j2", "--model", "llama3.2", "--judge-model", "none").exit_code == 0
    assert fake.model_lists == 0 and {r["model"] for r in fake.requests} == {"llama3.2"}
    import subprocess

    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["-c", "user.email=t@e", "-c", "user.name=t", "commit",
                                                                 "-qm", "base"]):
        subprocess.run(["git", *args], check=True, capture_output=True)
    result = run("check", "--base", "HEAD", "--no-eval")  # "no API call" includes this one
    assert result.exit_code == 0, result.output
    assert fake.model_lists == 0


def test_a_local_candidate_needs_a_price(fake, make_repo):
    make_repo(FILES)
    result = run("tier", "prompts/p.j2", "--model", "local", "--judge-model", "none")
    assert result.exit_code == 2 and fake.calls == 0
    assert "no price for candidate model 'local'" in result.stderr and '[prices."local"]' in result.stderr
    result = run("ablate", "prompts/p.j2", "--also-model", "local", "--judge-model", "none")
    assert result.exit_code == 2 and "no price for candidate model 'local'" in result.stderr


def test_choose_names_what_the_endpoint_lists():
    assert choose("m", "the default model", None, "http://x/v1").model == "m"
    assert choose("m", "the default model", ["a"], "http://u:p@x/v1").notice.startswith("http://***@x/v1 serves 'a'")
    many = [f"m{i}" for i in range(8)]
    with pytest.raises(InputError, match="one of them: 'm0', 'm1', 'm2', 'm3', 'm4' and 3 more$"):
        choose("z", "the default model", many, "http://x/v1")


def _hostile_list(kind: str):
    import gzip

    from hostileserver import Answer

    listed = json.dumps({"object": "list", "data": [{"id": GGUF, "object": "model"}]}).encode()
    return {"dripped": Answer(listed, drip=0.3),  # ~20 s for the whole list, each byte inside the per-read timeout
            "huge": Answer(listed + b" " * (2 << 20)),  # 2 MB: over the list's 1 MB cap
            "gzip": Answer(gzip.compress(listed), headers={"Content-Encoding": "gzip"})}[kind]


@pytest.mark.parametrize("kind", ["dripped", "huge", "gzip"])
def test_a_hostile_model_list_is_read_under_the_answers_bounds(make_repo, monkeypatch, kind):
    # the list comes from the endpoint the answers do (issue 25): a total deadline, a byte cap, no compressed body;
    # one that breaks a bound says nothing, so the configured model runs (and gpt-4o-mini's calls then succeed)
    import time

    from hostileserver import Answer, HostileServer, completion

    make_repo({**FILES, "promptslim.toml": "timeout = 1\n" + FILES["promptslim.toml"]})
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with HostileServer(lambda r: _hostile_list(kind) if r.method == "GET" else Answer(completion("yes"))) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.url)
        started = time.monotonic()
        result = run("eval", "prompts/p.j2", "--judge-model", "none", "--json")
        seconds = time.monotonic() - started
        gets = [r.path for r in server.requests if r.method == "GET"]
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["model"] == "gpt-4o-mini" and "serves" not in result.stderr
    assert gets == ["/v1/models"] and seconds < 10, (gets, seconds)
