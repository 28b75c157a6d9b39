"""What bounded rendering costs and how fast the bounds bite.

Per-render overhead of the worker process (vs. rendering in-process), and the wall time and peak
memory for promptslim to refuse each resource bomb from tests/hostile/ through the real CLI.

    python benchmarks/render_bench.py [--renders 2000]
"""

from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from promptslim.template import worker as renderworker
from promptslim.template.load import render_text
from promptslim.template.sandbox import compile_source

HOSTILE = Path(__file__).resolve().parents[1] / "tests" / "hostile"
SOURCE = (Path(__file__).resolve().parents[1] / "prompts" / "support_reply.j2").read_text()
VARS = {"customer_name": "Ana", "plan": "pro", "shop": "Acme", "company": "Acme", "tone": "friendly",
        "language": "English", "product": "toaster", "input": "hi"}


def overhead(n: int) -> None:
    from jinja2 import Undefined

    from promptslim.template import sandbox as template

    template._ENV.undefined = Undefined  # benchmark only: tolerate variables this bench does not know
    local = compile_source(SOURCE, "bench.j2")
    started = time.perf_counter()
    for _ in range(n):
        local.render(**VARS)
    in_process = (time.perf_counter() - started) / n
    try:
        render_text(SOURCE, "bench.j2", VARS)  # start the worker outside the timing
        started = time.perf_counter()
        for _ in range(n):
            render_text(SOURCE, "bench.j2", VARS)
        worker = (time.perf_counter() - started) / n
        print(f"render of prompts/support_reply.j2: in-process {in_process * 1e6:.0f} µs, "
              f"bounded worker {worker * 1e6:.0f} µs per render (n={n})")
    except Exception as exc:  # StrictUndefined in the worker: report instead of guessing the variables
        print(f"worker render failed: {exc}")


def bombs() -> None:
    root = Path(tempfile.mkdtemp())
    (root / "prompts").mkdir()
    (root / "promptslim.toml").write_text("")
    for path in sorted(HOSTILE.glob("bomb_*.j2")):
        (root / "prompts" / path.name).write_text(path.read_text())
        vars_file = root / "vars.yaml"
        vars_file.write_text("input: hi\n")
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "promptslim", "count", f"prompts/{path.name}", "--vars",
                               str(vars_file)], cwd=root, capture_output=True, text=True, timeout=120)
        elapsed = time.perf_counter() - started
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        print(f"{path.name:<30} exit {done.returncode}  {elapsed:5.2f} s  peak RSS (max over children so far) "
              f"{max(peak, before) / 1024:6.0f} MiB  {done.stderr.strip()[:90]}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--renders", type=int, default=2000)
    args = parser.parse_args()
    overhead(args.renders)
    bombs()
    renderworker._WORKER.kill()
