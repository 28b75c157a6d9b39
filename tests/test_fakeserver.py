"""Tests for the fake OpenAI-compatible server, driven by the real openai SDK."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.error
import urllib.request

import openai
import pytest

try:
    from tests.fakeserver import FakeServer, Reply, default_completion_tokens, default_prompt_tokens
except ImportError:  # tests/ itself on sys.path (no package)
    from fakeserver import FakeServer, Reply, default_completion_tokens, default_prompt_tokens  # type: ignore

MODEL = "gpt-test-mini"


@pytest.fixture(scope="module")
def _server():
    with FakeServer() as server:
        yield server


@pytest.fixture
def server(_server):
    _server.reset()
    yield _server
    _server.reset()


def make_client(server: FakeServer, timeout: float = 5.0) -> openai.OpenAI:
    return openai.OpenAI(base_url=server.url, api_key="sk-test", max_retries=0, timeout=timeout)


def words(text: str) -> int:
    return len(text.split())


def chat(client: openai.OpenAI, user: str = "hello there", system: str | None = None, **kw):
    messages = []
    if system is not None:
        messages.append({"role": "system", "content": system})
    messages.append({"role": "user", "content": user})
    return client.chat.completions.create(model=MODEL, messages=messages, **kw)


# --------------------------------------------------------------------------
# normal replies


def test_url_shape(server):
    assert server.url.startswith("http://127.0.0.1:")
    assert server.url.endswith("/v1")


def test_default_reply_and_usage(server):
    client = make_client(server)
    system = "You are a terse assistant."
    user = "Summarise   the following text please"
    resp = chat(client, user, system=system)

    assert resp.object == "chat.completion"
    assert resp.model == MODEL
    assert resp.id
    assert len(resp.choices) == 1
    choice = resp.choices[0]
    assert choice.index == 0
    assert choice.message.role == "assistant"
    assert choice.message.content == "ok"
    assert choice.finish_reason == "stop"

    # Recompute independently: 3 per message + words of each content, + 3.
    expected_prompt = 3 + (3 + words(system)) + (3 + words(user))
    assert expected_prompt == 3 + 3 + 5 + 3 + 5
    assert resp.usage.prompt_tokens == expected_prompt
    assert resp.usage.completion_tokens == 1
    assert resp.usage.total_tokens == expected_prompt + 1
    assert resp.usage.prompt_tokens_details.cached_tokens == 0
    assert server.calls == 1


def test_default_token_functions():
    body = {"messages": [{"role": "system", "content": "a b  c"}, {"role": "user", "content": ""}]}
    assert default_prompt_tokens(body) == 3 + (3 + 3) + (3 + 0)
    assert default_prompt_tokens({"messages": []}) == 3
    assert default_completion_tokens("") == 0
    assert default_completion_tokens("  one two\nthree ") == 3


def test_string_handler_usage(server):
    server.handler = lambda body: "four words right here"
    resp = chat(make_client(server), "x")
    assert resp.choices[0].message.content == "four words right here"
    assert resp.usage.completion_tokens == 4
    assert resp.usage.prompt_tokens == 3 + 3 + 1


def test_reply_overrides(server):
    server.handler = lambda body: Reply(
        "truncated answ", prompt_tokens=1000, completion_tokens=7, cached_tokens=512, finish_reason="length"
    )
    resp = chat(make_client(server))
    assert resp.choices[0].message.content == "truncated answ"
    assert resp.choices[0].finish_reason == "length"
    assert resp.usage.prompt_tokens == 1000
    assert resp.usage.completion_tokens == 7
    assert resp.usage.total_tokens == 1007
    assert resp.usage.prompt_tokens_details.cached_tokens == 512


def test_scripted_handler_by_system_message(server):
    def handler(body):
        system = next(m["content"] for m in body["messages"] if m["role"] == "system")
        user = body["messages"][-1]["content"]
        if system.startswith("Compress"):
            return Reply("short", cached_tokens=3)
        if system.startswith("Judge"):
            return json.dumps({"score": 0.9})
        return f"echo: {user}"

    server.handler = handler
    client = make_client(server)
    assert chat(client, "long text", system="Compress this").choices[0].message.content == "short"
    judged = chat(client, "a vs b", system="Judge equivalence").choices[0].message.content
    assert json.loads(judged) == {"score": 0.9}
    assert chat(client, "hi", system="Other").choices[0].message.content == "echo: hi"
    assert server.calls == 3


def test_requests_recorded(server):
    client = make_client(server)
    chat(client, "first", system="S1", temperature=0.0)
    chat(client, "second")
    assert server.calls == 2
    first, second = server.requests
    assert first["model"] == MODEL
    assert first["messages"] == [
        {"role": "system", "content": "S1"},
        {"role": "user", "content": "first"},
    ]
    assert first["temperature"] == 0.0
    assert second["messages"] == [{"role": "user", "content": "second"}]
    assert server.request_headers[0]["authorization"] == "Bearer sk-test"


def test_stream_false_explicit(server):
    resp = chat(make_client(server), stream=False)
    assert resp.choices[0].message.content == "ok"


def test_stream_minimal(server):
    server.handler = lambda body: "streamed text"
    stream = chat(make_client(server), stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "streamed text"
    assert chunks[-1].usage.completion_tokens == 2


def test_models_endpoint(server):
    assert make_client(server).models.list().data == []  # by default it names no model
    server.served_models = ["models/qwen.gguf"]
    models = make_client(server).models.list()
    assert [m.id for m in models.data] == ["models/qwen.gguf"]
    assert server.calls == 0 and server.model_lists == 2  # not a chat request
    server.served_models = None
    with pytest.raises(openai.NotFoundError):
        make_client(server).models.list()


def test_unknown_path_404(server):
    req = urllib.request.Request(server.url + "/nope", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=2)
    assert info.value.code == 404
    assert "error" in json.loads(info.value.read())


def test_handler_exception_is_500(server):
    def handler(body):
        raise RuntimeError("boom in handler")

    server.handler = handler
    with pytest.raises(openai.InternalServerError) as info:
        chat(make_client(server))
    assert "boom in handler" in str(info.value)


def test_keep_alive_many_sequential(server):
    client = make_client(server)
    for i in range(20):
        server.handler = lambda body, i=i: f"reply {i}"
        assert chat(client).choices[0].message.content == f"reply {i}"
    assert server.calls == 20


# --------------------------------------------------------------------------
# faults


@pytest.mark.parametrize(
    "fault, exc",
    [
        ("500", openai.InternalServerError),
        ("503", openai.InternalServerError),
        ("400", openai.BadRequestError),
        ("401", openai.AuthenticationError),
        ("403", openai.PermissionDeniedError),
        ("404", openai.NotFoundError),
    ],
)
def test_error_faults(server, fault, exc):
    server.add_faults(fault)
    client = make_client(server)
    with pytest.raises(exc) as info:
        chat(client)
    assert info.value.status_code == int(fault)
    assert isinstance(info.value.body, dict) and info.value.body.get("message")
    assert server.calls == 1
    # queue consumed: the next call is normal
    assert chat(client).choices[0].message.content == "ok"
    assert server.calls == 2


def test_401_message(server):
    server.add_faults("401")
    with pytest.raises(openai.AuthenticationError) as info:
        chat(make_client(server))
    assert "Incorrect API key provided" in str(info.value)
    assert info.value.code == "invalid_api_key"


def test_429_retry_after(server):
    server.retry_after = "7"
    server.add_faults("429")
    with pytest.raises(openai.RateLimitError) as info:
        chat(make_client(server))
    assert info.value.status_code == 429
    assert info.value.response.headers["retry-after"] == "7"
    assert info.value.code == "rate_limit_exceeded"


def test_fault_queue_order(server):
    server.add_faults("429", "500", "empty")
    client = make_client(server)
    with pytest.raises(openai.RateLimitError):
        chat(client)
    with pytest.raises(openai.InternalServerError):
        chat(client)
    resp = chat(client)
    assert resp.choices[0].message.content == ""
    assert resp.usage.completion_tokens == 0
    assert chat(client).choices[0].message.content == "ok"
    assert server.calls == 4


def test_unknown_fault_rejected(server):
    with pytest.raises(ValueError):
        server.add_faults("418")


def test_fault_when_predicate(server):
    server.fault_when(lambda body: "503" if "poison" in body["messages"][-1]["content"] else None)
    server.add_faults("400")  # queue is checked first
    client = make_client(server)
    with pytest.raises(openai.BadRequestError):
        chat(client, "poison")
    with pytest.raises(openai.InternalServerError):
        chat(client, "poison")
    assert chat(client, "fine").choices[0].message.content == "ok"
    assert server.calls == 3


def test_hang_times_out(server):
    server.hang_seconds = 1.0
    server.add_faults("hang")
    client = make_client(server, timeout=0.3)
    t0 = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        chat(client)
    assert time.monotonic() - t0 < 1.0
    assert server.calls == 1


def test_hang_then_answers_if_client_waits(server):
    server.hang_seconds = 0.3
    server.add_faults("hang")
    t0 = time.monotonic()
    resp = chat(make_client(server, timeout=3.0))
    assert time.monotonic() - t0 >= 0.3
    assert resp.choices[0].message.content == "ok"


def test_drop_connection(server):
    server.add_faults("drop")
    client = make_client(server)
    with pytest.raises(openai.APIConnectionError) as info:
        chat(client)
    assert not isinstance(info.value, openai.APITimeoutError)
    assert server.calls == 1
    assert chat(client).choices[0].message.content == "ok"


def test_badjson(server):
    server.add_faults("badjson")
    with pytest.raises(Exception) as info:
        chat(make_client(server))
    # the SDK cannot decode the body (openai 1.x-3.x raise json.JSONDecodeError)
    assert isinstance(info.value, (ValueError, openai.OpenAIError))
    assert server.calls == 1


def test_badjson_raw_is_malformed(server):
    server.add_faults("badjson")
    req = urllib.request.Request(
        server.url + "/chat/completions",
        data=json.dumps({"model": MODEL, "messages": []}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=2) as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"] == "application/json"
        raw = resp.read()
    with pytest.raises(ValueError):
        json.loads(raw)


def test_empty_fault(server):
    server.handler = lambda body: "should not be used"
    server.add_faults("empty")
    resp = chat(make_client(server))
    assert resp.choices[0].message.content == ""
    assert resp.choices[0].finish_reason == "stop"


# --------------------------------------------------------------------------
# concurrency


def test_max_in_flight_async(server):
    server.latency = 0.2
    server.handler = lambda body: body["messages"][-1]["content"].upper()

    async def main():
        client = openai.AsyncOpenAI(base_url=server.url, api_key="sk-test", max_retries=0, timeout=5.0)
        try:
            return await asyncio.gather(
                *[
                    client.chat.completions.create(
                        model=MODEL, messages=[{"role": "user", "content": f"msg {i}"}]
                    )
                    for i in range(6)
                ]
            )
        finally:
            await client.close()

    t0 = time.monotonic()
    results = asyncio.run(main())
    elapsed = time.monotonic() - t0
    assert [r.choices[0].message.content for r in results] == [f"MSG {i}" for i in range(6)]
    assert server.max_in_flight == 6
    assert server.calls == 6
    assert elapsed < 1.0  # handled concurrently, not 6 * 0.2


def test_faulted_requests_count_in_flight(server):
    server.latency = 0.2
    server.add_faults("500", "500")

    async def main():
        client = openai.AsyncOpenAI(base_url=server.url, api_key="sk-test", max_retries=0, timeout=5.0)
        try:
            return await asyncio.gather(
                *[
                    client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "x"}])
                    for _ in range(3)
                ],
                return_exceptions=True,
            )
        finally:
            await client.close()

    results = asyncio.run(main())
    assert sum(isinstance(r, openai.InternalServerError) for r in results) == 2
    assert server.max_in_flight == 3
    assert server.calls == 3


def test_reset_clears_everything(server):
    server.handler = lambda body: "custom"
    server.latency = 0.01
    server.add_faults("500")
    server.fault_when(lambda body: "400")
    server.requests.append({"dummy": True})
    server.max_in_flight = 9
    server.reset()
    assert server.calls == 0
    assert server.max_in_flight == 0
    assert server.latency == 0
    assert server.pending_faults == 0
    assert chat(make_client(server)).choices[0].message.content == "ok"


def test_reset_aborts_pending_hang(server):
    server.hang_seconds = 5.0
    server.add_faults("hang")
    with pytest.raises(openai.APITimeoutError):
        chat(make_client(server, timeout=0.2))
    t0 = time.monotonic()
    server.reset()
    assert time.monotonic() - t0 < 1.0
    assert server.in_flight == 0


def test_context_manager_and_restart():
    srv = FakeServer(handler=lambda body: "standalone")
    with srv:
        url = srv.url
        assert chat(make_client(srv)).choices[0].message.content == "standalone"
    port = int(url.rsplit(":", 1)[1].split("/")[0])
    with socket.socket() as s:
        s.settimeout(0.5)
        assert s.connect_ex(("127.0.0.1", port)) != 0
