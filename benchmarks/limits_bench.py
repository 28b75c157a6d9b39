"""Resource limits (issue 25): how long a refused or a largest-allowed plan takes to print, through the CLI.

Each run is a fresh `promptslim` process in a temp repo whose budget is a millionth of a cent, so it stops right
after printing its plan (exit 3) or refuses the input (exit 2); no model call is made. Figures are wall seconds.

    python benchmarks/limits_bench.py [--big-cases 769656]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from fakeserver import FakeServer  # noqa: E402

PRICED = 'judge_model = "none"\n[prices."fake-model"]\ninput = 1.0\noutput = 1.0\n'


def cases(n: int, compact: bool = False) -> str:
    if compact:  # the shape: 769,656 cases in under 20 MB (the eval-set size limit)
        return "cases:\n" + "".join(f"- {{id: {i}, input: q}}\n" for i in range(n))
    return "cases:\n" + "".join(f"  - id: c{i}\n    input: \"question {i}\"\n    assert: [{{type: contains, value: ok}}]\n"
                                for i in range(n))


def units(n: int) -> str:
    return "You are helpful.\n" + "".join(f"- Rule number {i}: be nice.\n" for i in range(n - 1))


def run(root: Path, env: dict, *args: str) -> tuple[float, int, str]:
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-m", "promptslim", *args, "--model", "fake-model", "--max-cost", "1e-9"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=1800)
    last = [line for line in done.stderr.splitlines() if line.strip()][-1:] or [""]
    return time.monotonic() - started, done.returncode, last[0][:110]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--big-cases", type=int, default=769_656, help="the issue's 19.9 MB eval set")
    args = parser.parse_args()
    scenarios = [("eval, 10,000 cases (the default max_cases): plan", "eval", units(2), cases(10_000)),
                 ("eval, 100,000 cases: refused", "eval", units(2), cases(100_000)),
                 (f"eval, {args.big_cases:,} cases: refused", "eval", units(2), cases(args.big_cases, compact=True)),
                 ("ablate, 300 units x 20 cases (the default max_units): plan", "ablate", units(300), cases(20)),
                 ("ablate, 20,000 units: refused", "ablate", units(20_000), cases(20))]
    with FakeServer() as server, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "OPENAI_BASE_URL": server.url, "OPENAI_API_KEY": "sk-bench",
               "PROMPTSLIM_HOME": str(Path(tmp) / "home")}
        for i, (label, command, source, evalset) in enumerate(scenarios):
            root = Path(tmp) / f"r{i}"
            (root / "prompts").mkdir(parents=True)
            (root / "evalsets").mkdir()
            (root / "promptslim.toml").write_text(PRICED)
            (root / "prompts" / "p.j2").write_text(source)
            (root / "evalsets" / "p.yaml").write_text(evalset)
            size = (root / "evalsets" / "p.yaml").stat().st_size
            seconds, code, line = run(root, env, command, "prompts/p.j2")
            print(f"{label}: {seconds:.1f} s, exit {code} (eval set {size / 1e6:.1f} MB) — {line}")
        assert server.calls == 0


if __name__ == "__main__":
    main()
