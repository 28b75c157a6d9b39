"""How close the runner gets to the ideal N × latency / concurrency, and what a fully cached rerun costs.

Real HTTP: the openai SDK (through promptslim's OpenAIBackend) talks to the fake server from tests/, so
the SDK, the semaphore, the store and the ledger are all on the path being timed.

    python benchmarks/runner_bench.py [--n 400] [--latency 0.1] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fakeserver  # noqa: E402
from fakeserver import FakeServer  # noqa: E402

from promptslim.llm.base import Params  # noqa: E402
from promptslim.llm.openai_backend import OpenAIBackend  # noqa: E402
from promptslim.llm.retry import RetryPolicy  # noqa: E402
from promptslim.llm.runner import Role, Runner  # noqa: E402
from promptslim.llm.store import Store  # noqa: E402
from promptslim.cost.prices import Price  # noqa: E402

MODEL = "fake-model"
PRICE = Price(MODEL, 2.0, 2.0, 8.0, "benchmark")  # USD per million tokens


def echo(body: dict) -> str:
    return "Answer to: " + body["messages"][-1]["content"]


def calls(n: int) -> list[list[dict[str, str]]]:
    return [[{"role": "system", "content": "Answer briefly."}, {"role": "user", "content": f"question number {i}"}]
            for i in range(n)]


async def run_once(url: str, store: Store, messages: list[list[dict[str, str]]], concurrency: int) -> tuple[float, Runner]:
    backend = OpenAIBackend(url, "sk-bench", timeout=60.0)
    runner = Runner(roles={"target": Role(backend, PRICE)}, store=store, concurrency=concurrency,
                    retry=RetryPolicy(max_retries=0))
    params = Params(model=MODEL)
    started = time.perf_counter()
    try:
        answers = await runner.gather(runner.complete("target", m, params) for m in messages)
    finally:
        await runner.aclose()
    wall = time.perf_counter() - started
    wrong = [i for i, (m, a) in enumerate(zip(messages, answers)) if a.text != "Answer to: " + m[-1]["content"]]
    if wrong:
        raise SystemExit(f"answers came back mixed up at {len(wrong)} positions, e.g. {wrong[:5]}")
    return wall, runner


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=400, help="distinct calls (default 400)")
    parser.add_argument("--latency", type=float, default=0.1, help="fake server latency per call, seconds (0.1)")
    parser.add_argument("--concurrency", type=int, default=8, help="runner concurrency cap (8)")
    parser.add_argument("--backlog", type=int, default=128,
                        help="listen backlog of the fake server (default 128; 0 keeps socketserver's 5, with which "
                             "8 simultaneous first connections stall ~1 s on a dropped SYN)")
    args = parser.parse_args()
    if args.backlog:
        fakeserver._HTTPServer.request_queue_size = args.backlog

    messages = calls(args.n)
    ideal = args.n * args.latency / args.concurrency
    with tempfile.TemporaryDirectory() as tmp, FakeServer(echo, latency=args.latency) as server:
        store = Store(Path(tmp) / "cache.sqlite")
        cold, first = asyncio.run(run_once(server.url, store, messages, args.concurrency))
        served_cold, peak = server.calls, server.max_in_flight
        warm, second = asyncio.run(run_once(server.url, store, messages, args.concurrency))
        served_warm = server.calls - served_cold
        store.close()

    print(f"runner benchmark: {args.n} distinct calls, latency {args.latency * 1000:.0f} ms, "
          f"concurrency {args.concurrency}")
    print(f"  cold run : {cold:7.3f} s wall   ideal {ideal:.3f} s   ratio {cold / ideal:.3f}   "
          f"{args.n / cold:,.0f} calls/s   server saw {served_cold} calls, at most {peak} in flight")
    print(f"  cached   : {warm:7.3f} s wall   {second.cache_hits} cache hits, {served_warm} server calls   "
          f"{args.n / warm:,.0f} calls/s")
    print()
    print("=" * 72)
    print("SUMMARY")
    print(f"  calls                 {args.n}")
    print(f"  ideal (N×lat/conc)    {ideal:.3f} s")
    print(f"  cold wall             {cold:.3f} s   (ratio {cold / ideal:.3f}; {cold - ideal:+.3f} s over ideal = "
          f"{(cold - ideal) / args.n * 1000:.2f} ms per call)")
    print(f"  cached rerun wall     {warm:.3f} s   ({warm / args.n * 1e6:.0f} µs per call, "
          f"{served_warm} server calls)")
    print(f"  API calls / hits      {first.api_calls} / {first.cache_hits} cold,  "
          f"{second.api_calls} / {second.cache_hits} cached")
    print(f"  spend (fake usage)    ${first.spent:.6f} cold, ${second.spent:.6f} cached")
    print("=" * 72)


if __name__ == "__main__":
    main()
