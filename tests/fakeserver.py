"""A fake OpenAI-compatible chat-completions server for tests.

Stdlib only.  Runs a ``ThreadingHTTPServer`` on 127.0.0.1 (ephemeral port) in a
daemon thread, so the real ``openai`` SDK can talk to it with
``base_url=server.url``.

Usage::

    with FakeServer() as server:
        server.handler = lambda body: "hello"
        server.add_faults("429", "500")
        client = openai.OpenAI(base_url=server.url, api_key="sk-test")
        ...

Faults (queued with ``add_faults`` or chosen per request by ``fault_when``):
``429``, ``500``, ``503``, ``400``, ``401``, ``403``, ``404``, ``hang``,
``drop``, ``badjson``, ``empty``.

``served_models`` is what ``GET /v1/models`` lists (default ``[]``: nothing, so a run keeps its configured
model; ``["x.gguf"]``: llama.cpp's one model, issue 24; ``None``: 404). ``model_lists`` counts those requests.

Like a real server (issue 17):

- ``server.slots = 1`` answers one request at a time, as llama.cpp's server
  does with one slot: the others wait in a queue, and that wait counts
  against the client's timeout. With ``latency`` this makes slow responses.
- ``server.cut_at_max_tokens = True`` cuts an answer longer than the
  request's ``max_tokens`` (in words, the fake's token) and reports
  ``finish_reason: "length"``; a handler can also return
  ``Reply(..., finish_reason="length")`` itself.

The Batch API (issue 15): ``POST /v1/files`` (multipart upload), ``GET /v1/files/{id}``,
``GET /v1/files/{id}/content``, ``POST /v1/batches``, ``GET /v1/batches/{id}``. Every line of a batch is
answered by the same code as the chat endpoint (handler, ``cut_at_max_tokens``, error faults).

- ``batch_delay`` seconds after creation a batch ends (``in_progress`` before, with counts rising);
- ``batch_outcome``: ``completed`` (default), ``expired`` (only the first ``batch_expire_after`` lines
  answered, the rest ``batch_expired`` in the error file), ``cancelled``, or ``failed`` (input rejected);
- ``batch_line_fault(body) -> fault or None`` fails single lines (partial failures, in the error file);
- ``batch_api = False`` answers 404 on those paths, as vLLM, Ollama and llama.cpp do.
``batches`` holds every created batch (``batches[i]["lines"]`` the request bodies in it).
"""

from __future__ import annotations

import collections
import email.parser
import email.policy
import json
import select
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Optional, Union

__all__ = [
    "FAULTS",
    "FakeServer",
    "Reply",
    "count_words",
    "default_completion_tokens",
    "default_prompt_tokens",
]


@dataclass
class Reply:
    content: str
    prompt_tokens: Optional[int] = None  # None -> default_prompt_tokens(request)
    completion_tokens: Optional[int] = None  # None -> default_completion_tokens(content)
    cached_tokens: int = 0
    finish_reason: str = "stop"


Handler = Callable[[dict], Union[Reply, str]]
FaultPredicate = Callable[[dict], Optional[str]]


def count_words(text: Any) -> int:
    """Whitespace-separated words in ``text`` (0 for None/empty).

    Also accepts OpenAI "content parts" lists; the text of every part of type
    ``text`` is counted.
    """
    if text is None:
        return 0
    if isinstance(text, str):
        return len(text.split())
    if isinstance(text, list):
        total = 0
        for part in text:
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                total += len(part["text"].split())
            elif isinstance(part, str):
                total += len(part.split())
        return total
    return len(str(text).split())


def default_prompt_tokens(body: dict) -> int:
    """3 per message + number of whitespace-separated words of every message's
    content, + 3."""
    messages = body.get("messages") or []
    total = 3
    for msg in messages:
        total += 3
        if isinstance(msg, dict):
            total += count_words(msg.get("content"))
    return total


def default_completion_tokens(content: str) -> int:
    """Number of whitespace-separated words in content (0 for empty)."""
    return count_words(content)


def _default_handler(body: dict) -> Reply:
    return Reply("ok")


# fault name -> (status, error message, error type, error code)
_ERROR_FAULTS: dict[str, tuple[int, str, str, Optional[str]]] = {
    "400": (400, "Invalid request (fake 400).", "invalid_request_error", None),
    "401": (
        401,
        "Incorrect API key provided: sk-***. You can find your API key at "
        "https://platform.openai.com/account/api-keys.",
        "invalid_request_error",
        "invalid_api_key",
    ),
    "403": (
        403,
        "You are not allowed to sample from this model (fake 403).",
        "permission_denied",
        "permission_denied",
    ),
    "404": (
        404,
        "The model does not exist or you do not have access to it (fake 404).",
        "invalid_request_error",
        "model_not_found",
    ),
    "429": (
        429,
        "Rate limit reached for requests (fake 429).",
        "requests",
        "rate_limit_exceeded",
    ),
    "500": (
        500,
        "The server had an error while processing your request (fake 500).",
        "server_error",
        None,
    ),
    "503": (
        503,
        "The engine is currently overloaded, please try again later (fake 503).",
        "server_error",
        None,
    ),
}

FAULTS = frozenset(_ERROR_FAULTS) | {"hang", "drop", "badjson", "empty"}

_CHAT_PATHS = ("/v1/chat/completions", "/chat/completions")
_MODELS_PATHS = ("/v1/models", "/models")


class _Aborted(Exception):
    """A hang/latency sleep was interrupted by reset() or stop()."""


def _client_gone(rh: "_RequestHandler") -> bool:
    """True when the client closed its connection (it timed out): readable with nothing to read."""
    try:
        readable, _, _ = select.select([rh.connection], [], [], 0)
        return bool(readable) and rh.connection.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True


def _error_body(message: str, type_: str = "invalid_request_error", code: Any = None) -> dict:
    return {"error": {"message": message, "type": type_, "param": None, "code": code}}


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # eight clients connecting at once must not overflow the listen queue
    fake: "FakeServer"

    def handle_error(self, request, client_address):  # pragma: no cover - noise only
        # Clients time out / disconnect on purpose in tests; stay quiet.
        pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # avoid 40 ms delayed-ACK stalls on keep-alive
    server: _HTTPServer

    # -- plumbing -------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        pass

    def _path(self) -> str:
        path = self.path.split("?", 1)[0]
        if len(path) > 1:
            path = path.rstrip("/")
        return path

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send_bytes(
        self,
        status: int,
        payload: bytes,
        content_type: str = "application/json",
        headers: Optional[dict] = None,
    ) -> None:
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(payload)))
            for key, value in (headers or {}).items():
                self.send_header(key, str(value))
            self.end_headers()
            self.wfile.write(payload)
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError, socket.timeout, OSError):
            # The client gave up (e.g. after a "hang"); nothing to do.
            self.close_connection = True

    def _send_json(self, status: int, obj: Any, headers: Optional[dict] = None) -> None:
        self._send_bytes(status, json.dumps(obj).encode("utf-8"), headers=headers)

    def _drop(self) -> None:
        """Close the socket without writing any response."""
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    # -- HTTP verbs -----------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        if self._path().startswith(("/v1/files/", "/v1/batches/")):
            self.server.fake._handle_batch_api(self, "GET", b"")
            return
        if self._path() in _MODELS_PATHS:
            fake = self.server.fake
            fake.model_lists += 1
            if fake.served_models is None:  # a server without the route (some proxies)
                self._not_found()
                return
            models = [{"id": m, "object": "model", "created": 0, "owned_by": "promptslim-tests"}
                      for m in fake.served_models]
            self._send_json(200, {"object": "list", "data": models})
        else:
            self._not_found()

    def do_POST(self) -> None:  # noqa: N802
        raw = self._read_body()  # always consume the body (keep-alive)
        if self._path() in ("/v1/files", "/v1/batches"):
            self.server.fake._handle_batch_api(self, "POST", raw)
            return
        if self._path() not in _CHAT_PATHS:
            self._not_found()
            return
        self.server.fake._handle_chat(self, raw)

    def do_PUT(self) -> None:  # noqa: N802
        self._read_body()
        self._not_found()

    do_DELETE = do_PUT
    do_PATCH = do_PUT

    def _not_found(self) -> None:
        self._send_json(
            404,
            _error_body(f"Unknown path {self.command} {self.path}", "invalid_request_error", "unknown_url"),
        )


class FakeServer:
    """Fake OpenAI chat-completions server (see module docstring)."""

    def __init__(
        self,
        handler: Optional[Handler] = None,
        *,
        latency: float = 0.0,
        retry_after: str = "0",
        hang_seconds: float = 5.0,
    ) -> None:
        self.handler: Handler = handler or _default_handler
        self.latency: float = latency
        self.retry_after: str = retry_after
        self.hang_seconds: float = hang_seconds
        self.requests: list[dict] = []
        self.request_headers: list[dict] = []  # parallel to ``requests``
        self.max_in_flight: int = 0
        self.in_flight: int = 0
        self.slots: Optional[int] = None  # None: unlimited; N: at most N requests served at once, the rest queue
        self.cut_at_max_tokens: bool = False
        # GET /v1/models lists these; [] (the default) names none, like an answer-anything test server;
        # ["x.gguf"] is llama.cpp's one model; None answers 404, like a proxy without the route
        self.served_models: Optional[list[str]] = []
        self.model_lists: int = 0  # GET /v1/models requests seen
        self._reset_batches()
        self._slot_lock = threading.Condition()
        self._busy = 0
        self._faults: collections.deque[str] = collections.deque()
        self._fault_predicate: Optional[FaultPredicate] = None
        self._lock = threading.Lock()
        self._abort = threading.Event()
        self._httpd: Optional[_HTTPServer] = None
        self._thread: Optional[threading.Thread] = None

    # -- lifecycle ------------------------------------------------------

    def start(self) -> "FakeServer":
        if self._httpd is not None:
            return self
        self._abort = threading.Event()
        httpd = _HTTPServer(("127.0.0.1", 0), _RequestHandler)
        httpd.fake = self
        self._httpd = httpd
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="promptslim-fakeserver",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._abort.set()  # wake up any hang/latency sleeps
        httpd.shutdown()
        httpd.server_close()
        if thread is not None:
            thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> "FakeServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("FakeServer is not started")
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    # -- test controls --------------------------------------------------

    def reset(self) -> None:
        """Handler back to default, latency 0, faults (queue and predicate)
        cleared, retry_after/hang_seconds back to defaults, requests cleared,
        max_in_flight 0.

        Requests still sleeping in a "hang" (or latency) from a previous test
        are aborted (their connection is dropped) and we wait briefly for them
        to finish so they do not count toward the next test's in-flight
        numbers.
        """
        old_abort = self._abort
        self._abort = threading.Event()
        old_abort.set()
        deadline = time.monotonic() + 2.0
        while self.in_flight > 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        with self._lock:
            self.handler = _default_handler
            self.latency = 0.0
            self.retry_after = "0"
            self.hang_seconds = 5.0
            self._faults.clear()
            self._fault_predicate = None
            self.requests.clear()
            self.request_headers.clear()
            self.max_in_flight = 0
            self.slots = None
            self.cut_at_max_tokens = False
            self.served_models = []
            self.model_lists = 0
            self._reset_batches()

    def add_faults(self, *faults: str) -> None:
        for fault in faults:
            if fault not in FAULTS:
                raise ValueError(f"unknown fault {fault!r}; expected one of {sorted(FAULTS)}")
        with self._lock:
            self._faults.extend(faults)

    def fault_when(self, predicate: Optional[FaultPredicate]) -> None:
        """Per-request fault chooser, consulted when the queue is empty.
        Pass None to remove it."""
        self._fault_predicate = predicate

    @property
    def calls(self) -> int:
        return len(self.requests)

    @property
    def pending_faults(self) -> int:
        return len(self._faults)

    # -- request handling ----------------------------------------------

    def _sleep(self, seconds: float, abort: threading.Event) -> None:
        if seconds and seconds > 0 and abort.wait(seconds):
            raise _Aborted()

    def _handle_chat(self, rh: _RequestHandler, raw: bytes) -> None:
        abort = self._abort
        parse_error = ""
        try:
            body = json.loads(raw.decode("utf-8")) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("request body is not a JSON object")
        except ValueError as exc:
            body = None
            parse_error = str(exc)
        with self._lock:
            self.requests.append(body if body is not None else {"_invalid_json": raw.decode("utf-8", "replace")})
            self.request_headers.append({k.lower(): v for k, v in rh.headers.items()})
            self.in_flight += 1
            if self.in_flight > self.max_in_flight:
                self.max_in_flight = self.in_flight
            fault = self._faults.popleft() if self._faults else None
        try:
            if body is None:
                rh._send_json(400, _error_body(f"Invalid JSON body: {parse_error}"))
                return
            try:
                if fault is None and self._fault_predicate is not None:
                    fault = self._fault_predicate(body)
                    if fault is not None and fault not in FAULTS:
                        raise ValueError(f"fault_when predicate returned unknown fault {fault!r}")
                with self._slot(abort, rh):
                    self._sleep(self.latency, abort)
                    self._respond(rh, body, fault, abort)
            except _Aborted:
                rh._drop()
            except Exception as exc:  # handler bug -> surface it as a 500
                rh._send_json(
                    500,
                    _error_body(f"FakeServer handler raised {type(exc).__name__}: {exc}", "server_error"),
                )
        finally:
            with self._lock:
                self.in_flight -= 1

    def _slot(self, abort: threading.Event, rh: "_RequestHandler"):
        """Hold one of ``slots`` while serving (a no-op when slots is None). A request whose client gave up
        while it queued is dropped, as llama.cpp's server cancels it, so abandoned requests do not pile up."""
        server = self

        class _Held:
            def __enter__(self) -> None:
                if server.slots is None:
                    return
                with server._slot_lock:
                    while server._busy >= server.slots:
                        if abort.is_set() or _client_gone(rh):
                            raise _Aborted()
                        server._slot_lock.wait(0.01)
                    server._busy += 1
                self.held = True

            def __exit__(self, *exc: Any) -> None:
                if getattr(self, "held", False):
                    with server._slot_lock:
                        server._busy -= 1
                        server._slot_lock.notify_all()

        return _Held()

    def _respond(self, rh: _RequestHandler, body: dict, fault: Optional[str], abort: threading.Event) -> None:
        if fault in _ERROR_FAULTS:
            status, message, type_, code = _ERROR_FAULTS[fault]
            headers = {"Retry-After": self.retry_after} if fault == "429" else None
            rh._send_json(status, _error_body(message, type_, code), headers=headers)
            return
        if fault == "drop":
            rh._drop()
            return
        if fault == "badjson":
            rh._send_bytes(200, b'{"id": "chatcmpl-bad", "object": "chat.completion", "choices": [{"index": 0, "mess')
            return
        if fault == "hang":
            self._sleep(self.hang_seconds, abort)
            # then answer normally (the client has most likely given up)

        reply = self._reply(body, fault)
        if body.get("stream"):
            self._respond_stream(rh, body, reply)
            return
        rh._send_json(200, self._completion(body, reply))

    def _reply(self, body: dict, fault: Optional[str]) -> Reply:
        """The answer to one chat request (the handler's, cut at max_tokens when asked): online or a batch line."""
        if fault == "empty":
            reply = Reply("")
        else:
            result = self.handler(body)
            if isinstance(result, str):
                reply = Reply(result)
            elif isinstance(result, Reply):
                reply = result
            elif hasattr(result, "content") and hasattr(result, "finish_reason"):
                # a Reply from a second import of this module (tests.fakeserver vs fakeserver)
                reply = Reply(
                    result.content,
                    result.prompt_tokens,
                    result.completion_tokens,
                    result.cached_tokens,
                    result.finish_reason,
                )
            else:
                raise TypeError(f"handler must return Reply or str, got {type(result).__name__}")

        limit = body.get("max_tokens") or body.get("max_completion_tokens")
        if self.cut_at_max_tokens and isinstance(limit, int) and count_words(reply.content) > limit:
            words = reply.content.split()[:limit]
            reply = Reply(" ".join(words), reply.prompt_tokens, limit, reply.cached_tokens, "length")
        return reply

    def _usage(self, body: dict, reply: Reply) -> dict:
        prompt = reply.prompt_tokens if reply.prompt_tokens is not None else default_prompt_tokens(body)
        completion = (
            reply.completion_tokens
            if reply.completion_tokens is not None
            else default_completion_tokens(reply.content)
        )
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
            "prompt_tokens_details": {"cached_tokens": reply.cached_tokens},
            "completion_tokens_details": {"reasoning_tokens": 0},
        }

    def _completion(self, body: dict, reply: Reply) -> dict:
        return {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model") or "fake-model",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": reply.content},
                    "finish_reason": reply.finish_reason,
                    "logprobs": None,
                }
            ],
            "usage": self._usage(body, reply),
        }

    def _respond_stream(self, rh: _RequestHandler, body: dict, reply: Reply) -> None:
        """Minimal SSE streaming (one content chunk + final chunk)."""
        cid = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        base = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": body.get("model") or "fake-model",
        }
        chunks = [
            {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": reply.content}, "finish_reason": None}]},
            {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": reply.finish_reason}]},
        ]
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({**base, "choices": [], "usage": self._usage(body, reply)})
        payload = "".join(f"data: {json.dumps(c)}\n\n" for c in chunks) + "data: [DONE]\n\n"
        rh._send_bytes(200, payload.encode("utf-8"), content_type="text/event-stream")

    # -- the Batch API ----------------------------------------------------

    def _reset_batches(self) -> None:
        self.batch_api: bool = True
        self.batch_delay: float = 0.0
        self.batch_outcome: str = "completed"
        self.batch_expire_after: int = 0
        self.batch_line_fault: Optional[Callable[[dict], Optional[str]]] = None
        self.files: dict[str, dict] = {}
        self.batches: list[dict] = []
        self.batch_polls: int = 0

    def _handle_batch_api(self, rh: _RequestHandler, method: str, raw: bytes) -> None:
        if not self.batch_api:
            rh._not_found()
            return
        path = rh._path()
        try:
            with self._lock:
                if method == "POST" and path == "/v1/files":
                    status, payload = self._upload(rh.headers.get("Content-Type") or "", raw)
                elif method == "POST" and path == "/v1/batches":
                    status, payload = self._create_batch(json.loads(raw.decode("utf-8") or "{}"))
                elif path.startswith("/v1/batches/"):
                    status, payload = self._retrieve_batch(path.rsplit("/", 1)[1])
                elif path.startswith("/v1/files/") and path.endswith("/content"):
                    found = self.files.get(path.split("/")[3])
                    if found is None:
                        status, payload = 404, _error_body("No such file", code="not_found")
                    else:
                        rh._send_bytes(200, found["data"], content_type="application/octet-stream")
                        return
                elif path.startswith("/v1/files/"):
                    found = self.files.get(path.split("/")[3])
                    status, payload = (200, found["object"]) if found else (404, _error_body("No such file"))
                else:
                    status, payload = 404, _error_body(f"Unknown path {method} {path}", code="unknown_url")
        except Exception as exc:  # a bug in the fake: a 500, as for the chat handler
            status, payload = 500, _error_body(f"FakeServer batch API raised {type(exc).__name__}: {exc}",
                                               "server_error")
        rh._send_json(status, payload)

    def _new_file(self, data: bytes, purpose: str, filename: str) -> dict:
        file_id = f"file-{uuid.uuid4().hex[:24]}"
        obj = {"id": file_id, "object": "file", "bytes": len(data), "created_at": int(time.time()),
               "filename": filename, "purpose": purpose, "status": "processed"}
        self.files[file_id] = {"data": data, "object": obj}
        return obj

    def _upload(self, content_type: str, raw: bytes) -> tuple[int, dict]:
        if not content_type.startswith("multipart/form-data"):
            return 400, _error_body("expected multipart/form-data")
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = (part.get_filename(), part.get_payload(decode=True))
        if "file" not in fields or "purpose" not in fields:
            return 400, _error_body("'file' and 'purpose' are required")
        filename, data = fields["file"]
        return 200, self._new_file(data, fields["purpose"][1].decode("utf-8"), filename or "upload.jsonl")

    def _create_batch(self, body: dict) -> tuple[int, dict]:
        found = self.files.get(body.get("input_file_id", ""))
        if found is None or found["object"]["purpose"] != "batch":
            return 400, _error_body("input_file_id must name a file uploaded with purpose 'batch'")
        if body.get("endpoint") != "/v1/chat/completions" or body.get("completion_window") != "24h":
            return 400, _error_body("endpoint must be /v1/chat/completions and completion_window 24h")
        lines = [json.loads(line) for line in found["data"].decode("utf-8").splitlines() if line.strip()]
        ids = [line["custom_id"] for line in lines]
        if len(set(ids)) != len(ids):
            return 400, _error_body("custom_id values must be unique within a batch")
        batch = {"id": f"batch_{uuid.uuid4().hex[:24]}", "object": "batch", "endpoint": body["endpoint"],
                 "input_file_id": body["input_file_id"], "completion_window": "24h", "status": "validating",
                 "created_at": int(time.time()), "metadata": body.get("metadata"), "output_file_id": None,
                 "error_file_id": None, "errors": None,
                 "request_counts": {"total": len(lines), "completed": 0, "failed": 0}}
        self.batches.append({"object": batch, "lines": [line["body"] for line in lines], "records": lines,
                             "started": time.monotonic(), "outcome": self.batch_outcome})
        return 200, batch

    def _retrieve_batch(self, batch_id: str) -> tuple[int, dict]:
        self.batch_polls += 1
        entry = next((b for b in self.batches if b["object"]["id"] == batch_id), None)
        if entry is None:
            return 404, _error_body(f"No batch found with id '{batch_id}'", code="not_found")
        batch = entry["object"]
        if batch["status"] in ("completed", "expired", "cancelled", "failed"):
            return 200, batch
        elapsed = time.monotonic() - entry["started"]
        total = batch["request_counts"]["total"]
        if elapsed < self.batch_delay:
            batch["status"] = "in_progress"
            batch["request_counts"]["completed"] = int(total * elapsed / self.batch_delay)
            return 200, batch
        self._finish(entry)
        return 200, batch

    def _finish(self, entry: dict) -> None:
        """Answer every line with the chat endpoint's code; write the output and error files."""
        batch, outcome = entry["object"], entry["outcome"]
        if outcome == "failed":
            batch.update(status="failed", errors={"object": "list", "data": [
                {"code": "invalid_request", "message": "fake: the input file was rejected", "line": 1}]})
            return
        answered = len(entry["records"]) if outcome == "completed" else self.batch_expire_after
        output, errors = [], []
        for i, record in enumerate(entry["records"]):
            cid, body = record["custom_id"], record["body"]
            line_id = f"batch_req_{uuid.uuid4().hex[:16]}"
            if i >= answered:
                code = "batch_expired" if outcome == "expired" else "batch_cancelled"
                errors.append({"id": line_id, "custom_id": cid, "response": None,
                               "error": {"code": code, "message": "fake: not executed before the batch ended"}})
                continue
            fault = self.batch_line_fault(body) if self.batch_line_fault else None
            if fault in _ERROR_FAULTS:
                status, message, type_, code = _ERROR_FAULTS[fault]
                errors.append({"id": line_id, "custom_id": cid, "error": None,
                               "response": {"status_code": status, "request_id": line_id,
                                            "body": _error_body(message, type_, code)}})
                continue
            reply = self._reply(body, fault)
            output.append({"id": line_id, "custom_id": cid, "error": None,
                           "response": {"status_code": 200, "request_id": line_id,
                                        "body": self._completion(body, reply)}})
        for name, rows in (("output_file_id", output), ("error_file_id", errors)):
            if rows:
                data = "".join(json.dumps(row) + "\n" for row in rows).encode("utf-8")
                batch[name] = self._new_file(data, "batch_output", f"{batch['id']}_{name}.jsonl")["id"]
        batch["status"] = outcome
        batch["request_counts"].update(completed=len(output), failed=len(errors))
