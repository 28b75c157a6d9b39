"""The two strategies beyond deletion on the example prompts, against the fake server: calls, wall time, verdicts.

A temp copy of prompts/, evalsets/ and promptslim.toml; the fake server (from tests/) answers after a fixed
latency with the README test's plausible model. `tier` compares the configured gpt-4o-mini with gpt-4.1-nano
(planted to answer exactly as gpt-4o-mini does) and gpt-3.5-turbo (planted to answer "I am not sure." to every
other case); `ablate --rewrite --rewriter-model none` tests the rule-based rewordings. Both through the CLI
(`--json`), assertions only (`--judge-model none`), margin 0.15: the example eval sets hold 4–23 cases, and a
model that changes no answer needs 72 at the default 0.05.

    python benchmarks/strategies_bench.py [--latency 0.02]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from fakeserver import FakeServer  # noqa: E402
from test_readme import answer as plausible  # noqa: E402
from typer.testing import CliRunner  # noqa: E402

from promptslim.cli import app  # noqa: E402

PROMPTS = ["prompts/support_reply.j2", "prompts/ticket_classifier.j2", "prompts/summarize.j2", "prompts/ci_helper.txt"]
MARGIN = "0.15"


def answer(body: dict) -> str:
    """gpt-4.1-nano answers as the configured model; gpt-3.5-turbo gives up on every other case."""
    if body["model"] == "gpt-3.5-turbo" and sum(map(ord, body["messages"][-1]["content"])) % 2:
        return "I am not sure."
    return plausible(body)


def run(server: FakeServer, args: list[str]) -> tuple[dict, int, float]:
    before = len(server.requests)
    started = time.perf_counter()
    result = CliRunner().invoke(app, [*args, "--judge-model", "none", "--margin", MARGIN, "--yes", "--json"])
    wall = time.perf_counter() - started
    if result.exit_code != 0:
        raise SystemExit(f"{' '.join(args)}: exit {result.exit_code}\n{result.output}")
    return json.loads(result.stdout), len(server.requests) - before, wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.02)
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeServer(answer, latency=opts.latency) as server:
        repo = Path(tmp)
        for name in ("prompts", "evalsets"):
            shutil.copytree(ROOT / name, repo / name)
        shutil.copy(ROOT / "promptslim.toml", repo / "promptslim.toml")
        os.chdir(repo)
        os.environ.update(OPENAI_BASE_URL=server.url, OPENAI_API_KEY="sk-bench", PROMPTSLIM_HOME=str(repo / ".home"))
        print(f"fake server latency {opts.latency * 1000:.0f} ms, margin {MARGIN}, assertions only")
        for prompt in PROMPTS:
            data, calls, wall = run(server, ["tier", prompt, "--model", "gpt-4.1-nano", "--model", "gpt-3.5-turbo"])
            verdicts = ", ".join(f"{m['model']} {m['verdict']} ({m['score_delta']:+.3f})" for m in data["models"])
            print(f"tier    {prompt:<30} {data['cases']:>3} cases {calls:>4} calls {wall:6.2f} s  {verdicts}; "
                  f"recommended: {data['recommendation'] or 'none'} (${data['usd_per_month_saved']:,.2f}/month)")
            data, calls, wall = run(server, ["ablate", prompt, "--model", "gpt-4o-mini", "--rewrite",
                                             "--rewriter-model", "none"])
            rewrites = data.get("rewrites") or []
            shown = ", ".join(f"unit {r['unit_ids'][0]} {r['verdict']}{' (adopted)' if r['adopted'] else ''}"
                              for r in rewrites) or "no rule applies"
            kept = data["rewritten"]
            print(f"rewrite {prompt:<30} {data['cases']:>3} cases {calls:>4} calls {wall:6.2f} s  "
                  f"{len(rewrites)} rule rewrite(s): {shown}; rewritten prompt verified: {kept['verified']}; "
                  f"slim removes {len(data['slim']['removed'])} of {len(data['units'])} units")
        again, calls, wall = run(server, ["tier", PROMPTS[0], "--model", "gpt-4.1-nano", "--model", "gpt-3.5-turbo"])
        print(f"tier rerun {PROMPTS[0]}: {calls} calls in {wall:.2f} s (all answers from the cache)")


if __name__ == "__main__":
    main()
