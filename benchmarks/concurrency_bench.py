"""`promptslim eval` against a single-slot endpoint (as llama.cpp's server with one slot): does the run finish, how
many requests did it take, and how did the adaptive concurrency move?

The fake server (from tests/) serves one request at a time with a fixed latency; requests queue, and a client
that times out while queued is dropped (llama.cpp cancels those). With concurrency 8 and a timeout shorter than
eight answers, a fixed limit keeps re-queueing timed-out requests behind each other; AIMD halves the limit on a
timeout and adds one back per window of successes.

    python benchmarks/concurrency_bench.py [--cases 24] [--latency 0.1] [--timeout 0.35] [--concurrency 8]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml
from typer.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from fakeserver import FakeServer  # noqa: E402

import promptslim.cli  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=24)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--timeout", type=float, default=0.35)
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, FakeServer() as fake:
        root = Path(tmp)
        (root / "prompts").mkdir()
        (root / "evalsets").mkdir()
        (root / "prompts" / "x.j2").write_text("You answer.\n- Be brief.\n", encoding="utf-8")
        cases = [{"id": f"c{i}", "input": f"Q {i}?", "assert": [{"type": "icontains", "value": "yes"}]}
                 for i in range(args.cases)]
        (root / "evalsets" / "x.yaml").write_text(yaml.safe_dump({"cases": cases}), encoding="utf-8")
        (root / "promptslim.toml").write_text(f'timeout = {args.timeout}\nconcurrency = {args.concurrency}\n'
                                              '[prices."fake-model"]\ninput = 1.0\noutput = 2.0\n', encoding="utf-8")
        os.chdir(root)
        os.environ.update(PROMPTSLIM_HOME=str(root / "home"), PROMPTSLIM_RETRY_BASE="0",
                          OPENAI_BASE_URL=fake.url, OPENAI_API_KEY="sk-bench")
        fake.slots, fake.latency = 1, args.latency
        fake.handler = lambda body: "Yes."
        started = time.monotonic()
        result = CliRunner().invoke(promptslim.cli.app, ["eval", "prompts/x.j2", "--model", "fake-model",
                                                         "--judge-model", "none", "--json", "--no-cache"])
        wall = time.monotonic() - started
        print(f"exit {result.exit_code}, {fake.calls} requests for {args.cases} cases, {wall:.1f} s wall "
              f"(ideal {args.cases * args.latency:.1f} s)")
        if result.exit_code == 0:
            run = json.loads(result.stdout)["run"]
            c = run["concurrency"]["target"]
            print(f"timeouts {run['timeouts']}, retries {run['retries']}; concurrency start {c['start']}, lowest "
                  f"{c['lowest']}, end {c['end']}, {len(c['changes'])} changes")
        else:
            print(result.output.strip().splitlines()[-1])


if __name__ == "__main__":
    main()
