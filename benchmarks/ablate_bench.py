"""The ablation engine end to end against a slow fake endpoint: wall time vs ideal, and the calls reuse saves.

A temp repo holds a K=12-unit template and N=30 cases; the fake server (from tests/) answers after a fixed
latency with a deterministic function of the system prompt. Two units render identically when removed (a
duplicated line: the runner makes those calls once, in flight) and one is an `{% if vip %}` block that renders
nothing for most cases (those variant calls equal baseline calls and come from the cache). A second run of the
same command must make zero calls.

    python benchmarks/ablate_bench.py [--n 30] [--latency 0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import re
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import fakeserver  # noqa: E402
from fakeserver import FakeServer  # noqa: E402

from promptslim.engine.ablation import run_ablation  # noqa: E402
from promptslim.engine.requests import AblateRequest  # noqa: E402
from promptslim.engine.setup import prepare  # noqa: E402
from promptslim.writers import write_ablation  # noqa: E402
from promptslim.report import headline  # noqa: E402
from promptslim.tokens import get_encoding  # noqa: E402

CONCURRENCY = 8
TEMPLATE = """\
You are the support assistant for {{ shop }}.
Be warm and professional.

- Start every answer with HELLO.
- Mention the ticket id.
- Reply in English.
- Reply in English.
- Keep it short.
{% if vip %}
- Offer the VIP hotline.
{% endif %}
- Never share internal notes.
- Use British spelling.
- End with THANKS.
- Always close by saying THANKS.
"""
K = 12
# With every paired delta 0, removable needs (1 − margin)^N ≤ 0.05/K: at N = 30 and K = 12 a margin of 0.25
# (0.75^30 = 0.0002) lets the deterministic fake reach "removable" (0.05 would need 107 cases).
CONFIG = f"""concurrency = {CONCURRENCY}
margin = 0.25
max_cost_usd = 100.0
[prompts."bench"]
calls_per_month = 1_000_000
[prices."fake-model"]
input = 2.0
output = 8.0
"""


def answer(body: dict) -> str:
    """The planted truth: each load-bearing rule adds a checkable word; the rest change nothing (or the length)."""
    system = " ".join(m["content"] for m in body["messages"] if m["role"] == "system")
    user = body["messages"][-1]["content"]
    parts = ["HELLO!"] if "HELLO" in system else []
    if "ticket id" in system:
        parts.append(f"About ticket {re.search(r'T-[0-9]+', user).group(0)}:")
    parts.append("Done." if "Keep it short." in system else "Here is a long answer. " + "More detail. " * 25)
    if "VIP hotline" in system:
        parts.append("Call the HOTLINE.")
    if "THANKS" in system:
        parts.append("THANKS.")
    return " ".join(parts)


def cases(n: int) -> str:
    lines = ["cases:"]
    for i in range(1, n + 1):
        vip = i % 3 == 0
        lines += [f"  - id: c{i}", f"    vars: {{shop: Shop{i % 4}, vip: {str(vip).lower()}}}",
                  f'    input: "Ticket T-{1000 + i}: where is my order?"', "    assert:",
                  "      - {type: contains, value: HELLO}", f"      - {{type: contains, value: T-{1000 + i}}}",
                  "      - {type: contains, value: THANKS}"]
        if vip:
            lines.append("      - {type: contains, value: HOTLINE}")
    return "\n".join(lines) + "\n"


def ablate_once() -> dict:
    """What `promptslim ablate prompts/bench.j2 --model fake-model --judge-model none` does, instrumented."""
    prepared = prepare(AblateRequest("prompts/bench.j2", model="fake-model", judge_model="none"))
    ev, runner = prepared.evaluator, prepared.evaluator.runner
    store_hits = 0
    get = runner.store.get

    def counting_get(key):
        nonlocal store_hits
        hit = get(key)
        store_hits += hit is not None
        return hit

    runner.store.get = counting_get  # type: ignore[method-assign]
    phases: list[tuple[str, float, int]] = []  # (name, started, api calls so far)

    def phase(name: str, total: int):
        phases.append((name, time.perf_counter(), runner.api_calls))
        return lambda: None

    async def go():
        try:
            return await run_ablation(ev, prepared.config.margin, phase, "reports/bench/slim.j2")
        finally:
            await runner.aclose()

    started = time.perf_counter()
    result = asyncio.run(go())
    wall = time.perf_counter() - started
    ended = started + wall
    timings = [(name, (phases[i + 1][1] if i + 1 < len(phases) else ended) - t0,
                (phases[i + 1][2] if i + 1 < len(phases) else runner.api_calls) - c0)
               for i, (name, t0, c0) in enumerate(phases)]
    write_ablation(result)
    runner.store.finish_run(runner.run_id, "done")
    return {"result": result, "wall": wall, "api": runner.api_calls, "hits": runner.cache_hits,
            "store_hits": store_hits, "dedup": runner.cache_hits - store_hits, "usd": runner.spent,
            "phases": timings}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="eval cases (default 30)")
    parser.add_argument("--latency", type=float, default=0.1, help="fake server latency per call, seconds (0.1)")
    parser.add_argument("--backlog", type=int, default=128,
                        help="listen backlog of the fake server (default 128; 0 keeps socketserver's 5, with which "
                             "8 simultaneous first connections stall ~1 s on a dropped SYN)")
    args = parser.parse_args()
    if args.backlog:
        fakeserver._HTTPServer.request_queue_size = args.backlog

    with tempfile.TemporaryDirectory() as tmp, FakeServer(answer, latency=args.latency) as server:
        root = Path(tmp) / "repo"
        (root / "prompts").mkdir(parents=True)
        (root / "evalsets").mkdir()
        (root / "prompts" / "bench.j2").write_text(TEMPLATE, encoding="utf-8")
        (root / "evalsets" / "bench.yaml").write_text(cases(args.n), encoding="utf-8")
        (root / "promptslim.toml").write_text(CONFIG, encoding="utf-8")
        os.environ.update(PROMPTSLIM_HOME=str(Path(tmp) / "home"), OPENAI_BASE_URL=server.url,
                          OPENAI_API_KEY="sk-bench", DEEPEVAL_TELEMETRY_OPT_OUT="YES")
        os.chdir(root)

        started = time.perf_counter()
        get_encoding("o200k_base")  # one-time tokenizer load (verified BPE file), kept out of the timed runs
        tokenizer_load = time.perf_counter() - started
        first = ablate_once()
        served_first = server.calls
        rerun = ablate_once()
        served_rerun = server.calls - served_first
        os.chdir("/")

    data = first["result"].data
    units = data.units
    assert len(units) == K, f"expected {K} units, segmented {len(units)}"
    slim = data.slim
    attempts = sum(1 for name, _, _ in first["phases"] if name.startswith("slim"))
    logical = first["api"] + first["hits"]
    naive = (K + 2) * args.n
    ideal = first["api"] * args.latency / CONCURRENCY

    print(f"ablate benchmark: K={K} units, N={args.n} cases, latency {args.latency * 1000:.0f} ms, "
          f"concurrency {CONCURRENCY}")
    print("  verdicts : " + ", ".join(f"{u.id}:{u.verdict}" for u in units))
    print(f"  slim     : removed {slim.removed}, restored {slim.restored} ({attempts} slim attempt(s)), "
          f"verdict {slim.verdict}")
    print(f"  headline : {headline(data)}")
    print()
    print("=" * 78)
    print("SUMMARY")
    print(f"  logical target calls     {logical}  (baseline, leave-one-out in two stages, {attempts} slim step(s); "
          "per phase below)")
    print(f"    API calls              {first['api']}  (fake server saw {served_first})")
    print(f"    cache hits             {first['store_hits']}  (variant calls identical to an earlier call)")
    print(f"    deduplicated in flight {first['dedup']}  (identical calls running at the same time)")
    print(f"  wall time                {first['wall']:.3f} s   ideal (api × latency / concurrency) {ideal:.3f} s   "
          f"ratio {first['wall'] / ideal:.3f}")
    for name, seconds, api in first["phases"]:
        rounds = math.ceil(api / CONCURRENCY)
        print(f"    {name:<20} {seconds:6.3f} s for {api:3d} API calls   ideal {api * args.latency / CONCURRENCY:.3f} s, "
              f"{rounds} full rounds = {rounds * args.latency:.3f} s")
    print(f"  one-time tokenizer load  {tokenizer_load:.3f} s (not in the wall times)")
    print(f"  naive (K+2)×N calls      {naive}   saved vs naive {naive - first['api']} "
          f"({(naive - first['api']) / naive:.0%}); saved vs this run's logical calls {logical - first['api']}")
    print(f"  rerun                    {rerun['api']} API calls (server saw {served_rerun}), {rerun['hits']} cache hits, "
          f"{rerun['wall']:.3f} s wall   saved {logical} calls")
    print(f"  spend (fake usage)       ${first['usd']:.4f} first run, ${rerun['usd']:.4f} rerun")
    print("=" * 78)


if __name__ == "__main__":
    main()
