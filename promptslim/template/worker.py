"""Compile and render untrusted templates in a child process the parent can kill: a hard bound on time and memory.

The worker runs with an empty environment (no API key to find), an address-space limit, and
no stdout but the reply pipe. Requests go down as pickles (parent data), replies come back as
JSON (the worker ran untrusted code; the parent never unpickles what it says). The time limit
(render_timeout) counts the worker's CPU time: a profiling timer stops a render that passes it
and names the template line; a kernel CPU limit a second later kills a worker stuck in one C
call, and a generous wall-clock backstop kills one that stops answering. A killed worker is
replaced by a fresh one at the next render.
"""

from __future__ import annotations

import atexit
import json
import math
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from promptslim import limits
from promptslim.errors import InputError, SandboxRefusal

STARTUP_TIMEOUT = 60.0
# Where the worker can count its own CPU time (POSIX); elsewhere the limit is wall time, as before.
CPU_TIMED = os.name == "posix" and hasattr(signal, "setitimer")
WALL_BACKSTOP = 30.0  # seconds, at least: a worker that stops answering without using CPU is killed


def _frame(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def _read_exact(fd: int, n: int, deadline: float | None) -> bytes:
    chunks, got = [], 0
    while got < n:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, n - got)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


class _Worker:
    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def _start(self) -> None:
        package_parent = str(Path(__file__).resolve().parents[2])
        code = (f"import sys; sys.path.insert(0, {package_parent!r}); "
                "from promptslim.template.worker import main; main()")
        env = {"PATH": os.defpath, "LC_ALL": "C.UTF-8", "PYTHONIOENCODING": "utf-8"}
        self.proc = subprocess.Popen([sys.executable, "-I", "-c", code],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     env=env, bufsize=0, close_fds=True, cwd="/" if os.name == "posix" else None)
        try:
            self._reply(time.monotonic() + STARTUP_TIMEOUT)
        except (TimeoutError, EOFError):
            self.kill()
            raise RuntimeError("the template render worker did not start") from None

    def _reply(self, deadline: float | None) -> dict:
        assert self.proc is not None and self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        size = struct.unpack(">I", _read_exact(fd, 4, deadline))[0]
        return json.loads(_read_exact(fd, size, deadline).decode("utf-8"))

    def kill(self) -> int | None:
        """Stop the worker; its exit status (negative: the signal that ended it), if it had one."""
        code = None
        if self.proc is not None:
            try:
                code = self.proc.poll()
                self.proc.kill()
                self.proc.wait(timeout=5)
                code = self.proc.returncode if code is None else code
            except (OSError, subprocess.TimeoutExpired):
                pass
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    stream.close()  # type: ignore[union-attr]
                except OSError:
                    pass
            self.proc = None
        return code

    def request(self, payload: dict, rel: str) -> dict:
        bounds = limits.current()
        payload = {**payload, "max_bytes": bounds.max_bytes, "timeout": bounds.timeout}
        wall = max(WALL_BACKSTOP, 10 * bounds.timeout) if CPU_TIMED else bounds.timeout
        with self.lock:
            for attempt in range(2):
                if self.proc is None or self.proc.poll() is not None:
                    self.kill()
                    self._start()
                assert self.proc is not None and self.proc.stdin is not None
                try:
                    self.proc.stdin.write(_frame(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)))
                    break
                except (BrokenPipeError, OSError):
                    self.kill()
                    if attempt:
                        raise
            try:
                return self._reply(time.monotonic() + wall)
            except TimeoutError:
                self.kill()
                if not CPU_TIMED:
                    raise SandboxRefusal(limits.cpu_message(rel, None, bounds.timeout)) from None
                raise SandboxRefusal(f"{rel}: rendering did not finish within {wall:g} s of wall time — refused; "
                                     "a prompt template renders in milliseconds") from None
            except EOFError:
                code = self.kill()
                if code is not None and -code in (getattr(signal, "SIGXCPU", 0), getattr(signal, "SIGPROF", 0)):
                    raise SandboxRefusal(limits.cpu_message(rel, None, bounds.timeout)) from None
                raise SandboxRefusal(f"{rel}: rendering was stopped: it needed more than the worker's "
                                     f"{limits.WORKER_MEMORY_BYTES >> 20} MiB of memory, or crashed — refused"
                                     ) from None


_WORKER = _Worker()
atexit.register(_WORKER.kill)


def _raise(reply: dict) -> dict:
    if "error" in reply:
        kind = SandboxRefusal if reply["error"] == "sandbox" else InputError
        raise kind(reply["message"])
    return reply


def compile_check(source: str, rel: str) -> None:
    """Compile in the worker: a syntax error becomes an InputError naming the file and line."""
    _raise(_WORKER.request({"op": "compile", "source": source, "rel": rel}, rel))


def render_pieces(source: str, rel: str, variables: dict[str, Any], evalset: str | None) -> list[str]:
    """The rendered text split at role markers, as the worker's template module produced it."""
    try:
        payload = {"op": "render", "source": source, "rel": rel, "variables": variables, "evalset": evalset}
        pickle.dumps(payload)
    except Exception as exc:
        raise InputError(f"{rel}: variables cannot be passed to the renderer ({type(exc).__name__})") from None
    return _raise(_WORKER.request(payload, rel))["pieces"]


# ---------------------------------------------------------------- the worker side
def _limit_memory() -> None:
    try:
        import resource
    except ImportError:  # pragma: no cover - not POSIX: the wall-clock limit still holds
        return
    try:
        resource.setrlimit(resource.RLIMIT_AS, (limits.WORKER_MEMORY_BYTES, limits.WORKER_MEMORY_BYTES))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError):  # pragma: no cover
        pass


def _serve(source: str, rel: str, request: dict) -> dict:
    from promptslim.template import sandbox as template

    if request["op"] == "compile":
        template.compile_source(source, rel)
        return {"ok": True}
    return {"pieces": template.render_local(source, rel, request["variables"], request["evalset"],
                                            int(request["max_bytes"]))}


_armed = False


def _time_up(signum: int, frame: Any) -> None:
    if _armed:  # a tick that lands after the render ended is ignored
        raise limits.CpuTimeUp()


def _arm(seconds: float) -> None:
    """Start this request's CPU clock: the timer raises at `seconds` (and every 50 ms after, should template code
    swallow it); the kernel kills the worker a second later if one C call keeps it from returning to Python."""
    global _armed
    if not CPU_TIMED:
        return
    _armed = True
    signal.setitimer(signal.ITIMER_PROF, seconds, 0.05)
    try:
        import resource

        used = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(used.ru_utime + used.ru_stime + seconds) + 1
        hard = resource.getrlimit(resource.RLIMIT_CPU)[1]
        if hard == resource.RLIM_INFINITY or soft <= hard:
            resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
    except (ImportError, ValueError, OSError):  # pragma: no cover - the timer still holds
        pass


def _disarm() -> None:
    global _armed
    _armed = False
    if CPU_TIMED:
        signal.setitimer(signal.ITIMER_PROF, 0)


def _compile_line(tb: Any) -> int | None:
    """The template line Jinja's lexer or parser was on when compiling ran out of time (innermost frame that says)."""
    line = None
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_filename.replace("\\", "/").rsplit("/", 2)[-2:-1] == ["jinja2"]:
            lineno = frame.f_locals.get("lineno")
            stream = getattr(frame.f_locals.get("self"), "stream", None)
            if isinstance(lineno, int):
                line = lineno
            elif stream is not None and isinstance(getattr(stream.current, "lineno", None), int):
                line = stream.current.lineno
        tb = tb.tb_next
    return line


def main() -> None:
    """Serve compile/render requests on stdin/stdout until the parent closes the pipe."""
    _limit_memory()
    if CPU_TIMED:
        signal.signal(signal.SIGPROF, _time_up)
    inp, out = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but replies on the pipe
    from promptslim.template import sandbox as template  # noqa: F401 - import before the first request so startup is not timed

    out.write(_frame(b'{"ready": true}'))
    out.flush()
    while True:
        try:
            header = inp.read(4)
            if len(header) < 4:
                return
            request = pickle.loads(inp.read(struct.unpack(">I", header)[0]))
        except Exception:
            return
        rel = request.get("rel", "template")
        seconds = float(request.get("timeout") or limits.DEFAULT_TIMEOUT)
        try:
            _arm(seconds)
            try:
                reply = _serve(request["source"], rel, request)
            finally:
                _disarm()
        except limits.CpuTimeUp as exc:
            _disarm()
            line = exc.line if exc.rendering else _compile_line(exc.__traceback__)
            reply = {"error": "sandbox", "message": limits.cpu_message(rel, line, seconds, not exc.rendering)}
        except SandboxRefusal as exc:
            reply = {"error": "sandbox", "message": exc.message}
        except InputError as exc:
            reply = {"error": "input", "message": exc.message}
        except MemoryError:
            reply = {"error": "sandbox", "message": f"{rel}: rendering needed more than the worker's "
                                                  f"{limits.WORKER_MEMORY_BYTES >> 20} MiB of memory — refused"}
        except RecursionError:
            reply = {"error": "sandbox", "message": f"{rel}: rendering recursed too deeply — refused"}
        except Exception as exc:  # a bug on our side; still one line for the user
            reply = {"error": "input", "message": f"{rel}: render error: {type(exc).__name__}: {exc}"[:500]}
        out.write(_frame(json.dumps(reply).encode("utf-8")))
        out.flush()
