"""An endpoint that lies: it answers each request with whatever bytes a test gives it, as slowly as it likes.

tests/fakeserver.py is an honest OpenAI-compatible server; this one is for what an endpoint the tool does not
control can do to a run (issue 25): usage that is negative, NaN or 10^400, a body dripped one byte per second, a
100 MB answer or a million choices, a batch left in_progress long past its expiry. Stdlib only, 127.0.0.1.

    with HostileServer(lambda req: Answer(body=completion(usage='{"prompt_tokens": NaN}'))) as server:
        ... OPENAI_BASE_URL=server.url ...
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterable, Union


@dataclass
class Request:
    method: str
    path: str
    body: dict


@dataclass
class Answer:
    """status, then `body` (bytes, or an iterable of chunks sent as they come); `drip` seconds between chunks."""

    body: Union[bytes, Iterable[bytes]] = b""
    status: int = 200
    length: int | None = None  # Content-Length to announce (default: len(body) when body is bytes)
    drip: float = 0.0
    headers: dict = field(default_factory=dict)


Responder = Callable[[Request], Answer]


def completion(content: str = "ok", usage: str | None = None, choices: str | None = None) -> bytes:
    """A chat completion as raw JSON text, so a test can put in what json.dumps would never write (10^400, NaN)."""
    usage = usage or '{"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}'
    choice = json.dumps({"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"})
    return (f'{{"id": "chatcmpl-hostile", "object": "chat.completion", "created": {int(time.time())}, '
            f'"model": "m", "choices": {choices or "[" + choice + "]"}, "usage": {usage}}}').encode()


def usage(**fields: str) -> str:
    """A usage object from raw JSON values: usage(completion_tokens="-1e9")."""
    values = {"prompt_tokens": "10", "completion_tokens": "2", "total_tokens": "12", **fields}
    details = values.pop("cached_tokens", None)
    text = ", ".join(f'"{k}": {v}' for k, v in values.items())
    return "{" + text + (f', "prompt_tokens_details": {{"cached_tokens": {details}}}' if details else "") + "}"


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "_Server"

    def log_message(self, *args) -> None:
        pass

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw and self.headers.get("Content-Type", "").startswith("application/json") else {}
        except ValueError:
            body = {}
        request = Request(method, self.path.split("?", 1)[0], body)
        self.server.owner.requests.append(request)
        answer = self.server.owner.respond(request)
        chunks = [answer.body] if isinstance(answer.body, bytes) else answer.body
        size = answer.length if answer.length is not None else (
            len(answer.body) if isinstance(answer.body, bytes) else None)
        try:
            self.send_response(answer.status)
            self.send_header("Content-Type", "application/json")
            if size is not None:
                self.send_header("Content-Length", str(size))
            else:  # no length: the body ends when the connection closes
                self.send_header("Connection", "close")
                self.close_connection = True
            for key, value in answer.headers.items():
                self.send_header(key, value)
            self.end_headers()
            for chunk in chunks:
                if self.server.owner.stopping.is_set():
                    break
                if answer.drip:
                    for i in range(len(chunk)):
                        self.wfile.write(chunk[i:i + 1])
                        self.wfile.flush()
                        if self.server.owner.stopping.wait(answer.drip):
                            break
                else:
                    self.wfile.write(chunk)
            self.wfile.flush()
        except OSError:  # the client gave up, as it should
            self.close_connection = True

    def do_GET(self) -> None:  # noqa: N802
        self._serve("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._serve("POST")


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: "HostileServer"

    def handle_error(self, request, client_address) -> None:
        pass


class HostileServer:
    def __init__(self, respond: Responder | None = None) -> None:
        self.respond: Responder = respond or (lambda request: Answer(completion()))
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.owner = self

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/v1"

    def chat_calls(self) -> int:
        return sum(1 for r in self.requests if r.path.endswith("/chat/completions"))

    def __enter__(self) -> "HostileServer":
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
