"""Do the verdicts decide, and is "removable" still right? Planted truths through the real decision code.

Each cell plants K = 12 units with known effects on an eval set of N cases, draws the scores a model and
judge would give, and decides. Three unit mixes per cell:
- mix:   4 harmless, 3 at −margin/2, 3 at −margin, 2 harmful (−0.15) — power, keep, calls;
- null:  all 12 at exactly −margin — the least favourable case for "any wrong removable";
- clean: all 12 harmless — can the slim prompt be verified.
Score types: binary pass/fail (assertions; 0 / 5 / 15% answer churn), judge scores 0–10 integer and
probability-weighted (judge noise; per-case delta sd ≈ 0.1; every answer rescored), and sparse large harm
(a unit breaks a few cases by −0.8 and leaves the rest byte-identical, so the judge is skipped there).

The bulk grid runs the exact functions the engine calls (promptslim.decide: decide_units, interim,
slim_order, slim_sizes, slim_step, check_outcome) on the drawn score vectors. An engine-level cross-check
then runs promptslim.ablate.run_ablation with an in-process scripted backend (no HTTP, no cache) on binary
cells and asserts that the engine's verdicts and slim prompt equal the pure path's on the same scores.

    python benchmarks/decision_bench.py [--reps 500] [--quick] [--seed 11] [--method new|old] [--engine-reps 10]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from promptslim.decide import (MIN_TWO_STAGE, check_outcome, decide_units, interim, slim_order, slim_sizes,
                               slim_step, stage_one_indices)
from promptslim.stats import mean_ci

K = 12
MARGIN = 0.05
HARM = -0.15
MIXES = {
    "mix": [0.0] * 4 + [-MARGIN / 2] * 3 + [-MARGIN] * 3 + [HARM] * 2,
    "null": [-MARGIN] * K,
    "clean": [0.0] * K,
}
TYPES = ["binary c=0", "binary c=5%", "binary c=15%", "judge 0-10", "judge prob", "sparse harm"]
JUDGED = {"judge 0-10", "judge prob", "sparse harm"}


# ---------------------------------------------------------------- planted scores
class Draw:
    """One eval set under one mix: baseline scores, leave-one-out scores, and slim scores for any set."""

    def __init__(self, kind: str, n: int, effects: list[float], rng: np.random.Generator) -> None:
        self.kind, self.n, self.effects, self.rng = kind, n, effects, rng
        k = len(effects)
        if kind.startswith("binary"):
            self.churn = {"binary c=0": 0.0, "binary c=5%": 0.05, "binary c=15%": 0.15}[kind]
            self.base = (rng.random(n) < 0.8).astype(float)
            # churn redraws a share c of answers after the harm, diluting it by (1 − c): plant e / (1 − c)
            p_break = np.array([-e / (0.8 * (1 - self.churn)) for e in effects])[:, None]
            self.broken = (rng.random((k, n)) < p_break) & (self.base[None, :] == 1)
        elif kind == "sparse harm":
            self.base = rng.uniform(0.85, 1.0, n)
            p_break = np.array([-e / 0.8 for e in effects])[:, None]
            self.broken = rng.random((k, n)) < p_break
        else:
            self.quality = rng.uniform(0.3, 0.8, n)
            self.case_effect = np.array(effects)[:, None] + rng.normal(0, 0.03, (k, n))
            self.base = self._judge(self.quality)
        self.loo = np.stack([self.slim([u]) for u in range(k)])

    def _judge(self, latent: np.ndarray) -> np.ndarray:
        noisy = np.clip(latent + self.rng.normal(0, 0.06, latent.shape), 0, 1)
        return np.round(noisy * 10) / 10 if self.kind == "judge 0-10" else noisy

    def slim(self, units: list[int]) -> np.ndarray:
        """Scores of the prompt without `units`: a case breaks when any removed unit breaks it."""
        if self.kind.startswith("binary"):
            broken = self.broken[units].any(axis=0)
            score = np.where(broken, 0.0, self.base)
            flip = self.rng.random(self.n) < self.churn
            return np.where(flip, (self.rng.random(self.n) < 0.8).astype(float), score)
        if self.kind == "sparse harm":
            return np.where(self.broken[units].any(axis=0), self.base - 0.8, self.base)
        return self._judge(self.quality + self.case_effect[units].sum(axis=0))

    def true_effect(self, units: list[int]) -> float:
        if self.kind.startswith("binary"):
            keep = 1 - self.churn
            return -0.8 * keep * (1 - math.prod(1 + self.effects[u] / (0.8 * keep) for u in units))
        if self.kind == "sparse harm":
            return -0.8 * (1 - math.prod(1 + self.effects[u] / 0.8 for u in units))
        return sum(self.effects[u] for u in units)

    def judge_calls(self, scores: np.ndarray, idx: list[int]) -> int:
        """Judge calls a variant needs on these cases: none for assertions, none for byte-identical answers."""
        if self.kind not in JUDGED:
            return 0
        if self.kind == "sparse harm":
            return int(np.sum(scores[idx] != self.base[idx]))
        return len(idx)


# ---------------------------------------------------------------- the new method (promptslim.decide)
def run_new(d: Draw, two_stage: bool = True, usd_saved: list[float] | None = None) -> dict:
    n, k = d.n, len(d.effects)
    deltas = [list(d.loo[u] - d.base) for u in range(k)]
    adaptive = two_stage and n >= MIN_TWO_STAGE
    first = stage_one_indices(n) if adaptive else list(range(n))
    stopped: dict[int, str] = {}
    calls = n + (0 if d.kind not in JUDGED else n)  # baseline (+ its judge calls)
    if adaptive:
        for u in range(k):
            early = interim([deltas[u][i] for i in first], n, MARGIN, k)
            if early is not None:
                stopped[u] = early
    used = []
    for u in range(k):
        idx = first if u in stopped else list(range(n))
        used.append(idx)
        calls += len(idx) + d.judge_calls(d.loo[u], idx)
    decisions = decide_units([[deltas[u][i] for i in used[u]] for u in range(k)], MARGIN, stopped, adaptive)
    # $ saved per unit is known before any score; planted at random so the order says nothing about the effect
    usd = usd_saved if usd_saved is not None else list(d.rng.random(k))
    order = slim_order(decisions, [True] * k, usd)
    shipped: list[int] = []
    slim_runs = 0
    for size in slim_sizes(len(order)):
        group = order[:size]
        # a one-unit slim prompt is that unit's leave-one-out prompt: the engine reuses its answers (cache hit)
        scores = d.loo[group[0]] if size == 1 else d.slim(group)
        slim_runs += size > 1
        if not slim_step(list(scores - d.base), MARGIN)[0]:
            break
        shipped = group
    return {"verdicts": [x.verdict for x in decisions], "slim": shipped, "calls": calls, "slim_runs": slim_runs}


def fixed_calls(d: Draw) -> int:
    """The fixed exhaustive design: baseline and every variant on every case, every answer judged."""
    return d.n * (2 if d.kind in JUDGED else 1) * (1 + len(d.effects))


# ---------------------------------------------------------------- the method before issue 11 (for the table)
def _old_ci(values: list[float], level: float) -> tuple[float, float] | None:
    n = len(values)
    if n < 2:
        return None
    mean = sum(values) / n
    se = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1) / n)
    if se == 0:  # the exact float test the old code used
        half = -math.log((1 - level) / 2) / n * 2 / 2
    else:
        est = mean_ci(values, level, bounds=(-1.0, 1.0))
        return est.ci
    return max(-1.0, mean - half), min(1.0, mean + half)


def _old_verdict(ci: tuple[float, float] | None) -> str:
    if ci is None:
        return "inconclusive"
    if ci[0] > -MARGIN:
        return "removable"
    return "keep" if ci[1] < 0 else "inconclusive"


def run_old(d: Draw) -> dict:
    """Bonferroni two-sided t (rule of three only when se == 0), slim = all removable, put back the lowest bound."""
    k, n = len(d.effects), d.n
    level = 1 - 0.05 / k
    cis = [_old_ci(list(d.loo[u] - d.base), level) for u in range(k)]
    verdicts = [_old_verdict(ci) for ci in cis]
    calls = (n * (2 if d.kind in JUDGED else 1)) * (1 + k)
    chosen = [u for u in range(k) if verdicts[u] == "removable"]
    slim_runs = 0
    while chosen:
        slim_runs += 1
        scores = d.loo[chosen[0]] if len(chosen) == 1 else d.slim(chosen)
        if _old_verdict(_old_ci(list(scores - d.base), 0.95)) == "removable":
            break
        chosen.remove(min(chosen, key=lambda u: cis[u][0]))
    return {"verdicts": verdicts, "slim": chosen, "calls": calls, "slim_runs": slim_runs}


# ---------------------------------------------------------------- the check (promptslim.decide.check_outcome)
def check_flags(kind: str, n: int, effect: float, reps: int, rng: np.random.Generator, old: bool) -> float:
    flags = 0
    for _ in range(reps):
        d = Draw(kind, n, [effect], rng)
        deltas = list(d.loo[0] - d.base)
        if old:
            ci = _old_ci(deltas, 0.95)
            flags += ci is not None and ci[1] < -MARGIN
        else:
            flags += check_outcome(deltas, MARGIN)["outcome"] == "regression"
    return flags / reps


# ---------------------------------------------------------------- the grid
def cell(kind: str, n: int, reps: int, null_reps: int, rng: np.random.Generator, old: bool) -> dict:
    run = run_old if old else run_new
    harmless = removable_harmless = keep_harmless = harm = keep_harm = fw_null = fw_mix = 0
    slim_wrong = slim_clean = calls = fixed = slim_runs = slim_tries = 0
    for rep in range(max(reps, null_reps)):
        for mix, effects in MIXES.items():
            if rep >= (null_reps if mix == "null" else reps):
                continue
            slim_tries += 1
            d = Draw(kind, n, effects, rng)
            out = run(d)
            v = out["verdicts"]
            wrong_slim = bool(out["slim"]) and d.true_effect(out["slim"]) <= -MARGIN + 1e-12
            slim_wrong += wrong_slim
            wrong_unit = any(v[u] == "removable" for u in range(K) if effects[u] <= -MARGIN)
            if mix == "null":
                fw_null += wrong_unit
            elif mix == "mix":
                fw_mix += wrong_unit
                harmless += sum(1 for e in effects if e == 0)
                removable_harmless += sum(1 for u in range(K) if effects[u] == 0 and v[u] == "removable")
                keep_harmless += sum(1 for u in range(K) if effects[u] == 0 and v[u] == "keep")
                harm += sum(1 for e in effects if e == HARM)
                keep_harm += sum(1 for u in range(K) if effects[u] == HARM and v[u] == "keep")
                calls += out["calls"]
                fixed += fixed_calls(d)
                slim_runs += out["slim_runs"]
            else:
                slim_clean += bool(out["slim"])
    return {"removable|0": removable_harmless / harmless, "keep|0": keep_harmless / harmless, "fwer": max(fw_null / null_reps, fw_mix / reps),
            "keep|-.15": keep_harm / harm, "slim wrong": slim_wrong / slim_tries, "slim ok|clean": slim_clean / reps,
            "calls": calls / fixed, "slim runs": slim_runs / reps}


def table(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(args.seed)
    sizes = [20, 50, 100] if args.quick else [20, 30, 50, 100, 150]
    old = args.method == "old"
    print(f"method: {'before issue 11 (Bonferroni two-sided t, back-off slim)' if old else 'promptslim.decide'}; "
          f"margin {MARGIN}, K = {K}, seed {args.seed}; {args.reps} runs per cell for the mixed and all-harmless sets, "
          f"{4 * args.reps} for the all-at-−margin set and the check's harmless change (the error rates: a 5% rate "
          f"is then resolved to ±{200 * math.sqrt(0.05 * 0.95 / (4 * args.reps)):.1f} points, 95%)")
    print("fwer = max over the null and mix of P(any unit with effect ≤ −margin called removable); "
          "calls = target + judge calls of baseline and leave-one-out variants as a share of the fixed exhaustive "
          "design's (mix); slim runs = extra full runs of the eval set for the slim prompt (mix)")
    head = (f"{'scores':<13} {'N':>4} {'P(rem|0)':>9} {'fwer':>6} {'P(keep|0)':>9} {'P(keep|-.15)':>12} {'slim wrong':>10} "
            f"{'slim ok|clean':>13} {'calls':>6} {'slim runs':>9} {'check P(flag|-.10)':>18} {'P(flag|0)':>9}")
    print(head)
    print("-" * len(head))
    for kind in TYPES:
        for n in sizes:
            started = time.monotonic()
            r = cell(kind, n, args.reps, args.reps * 4, rng, old)
            f10 = check_flags(kind, n, -0.10, args.reps, rng, old)
            f0 = check_flags(kind, n, 0.0, args.reps * 4, rng, old)
            print(f"{kind:<13} {n:>4} {r['removable|0']:>9.1%} {r['fwer']:>6.1%} {r['keep|0']:>9.1%} {r['keep|-.15']:>12.1%} "
                  f"{r['slim wrong']:>10.1%} {r['slim ok|clean']:>13.1%} {r['calls']:>6.0%} {r['slim runs']:>9.1f} {f10:>18.1%} {f0:>9.1%}"
                  f"   ({time.monotonic() - started:.0f} s)", flush=True)


# ---------------------------------------------------------------- engine-level cross-check
class Scripted:
    """An in-process backend behind the Backend protocol: answers PASS/FAIL from a planted Draw."""

    endpoint = "scripted://bench"
    concurrency = None

    def __init__(self, draw: Draw) -> None:
        self.draw, self.slims, self.calls = draw, {}, 0

    async def complete(self, messages, params):
        from promptslim.llm.base import Completion

        self.calls += 1
        system = messages[0]["content"]
        case = int(messages[-1]["content"].split()[-1])
        missing = tuple(u for u in range(K) if f"Rule U{u:02d}." not in system)
        if len(missing) == 1:
            score = self.draw.loo[missing[0]][case]
        elif missing:
            if missing not in self.slims:
                self.slims[missing] = self.draw.slim(list(missing))
            score = self.slims[missing][case]
        else:
            score = self.draw.base[case]
        return Completion("PASS" if score == 1 else "FAIL", len(system.split()), 1)


def engine_check(kind: str, n: int, reps: int, rng: np.random.Generator) -> tuple[int, int]:
    """Run the engine on planted binary data; count runs whose verdicts and slim equal the pure path's."""
    from promptslim.engine.ablation import run_ablation
    from promptslim.config import load_config
    from promptslim.evalset import load_evalset
    from promptslim.engine.evaluator import Evaluator, Models
    from promptslim.llm.runner import Role, Runner
    from promptslim.cost.prices import price_for
    from promptslim.template.load import load_template

    same = 0
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prompts").mkdir()
        (root / "evalsets").mkdir()
        (root / "prompts" / "b.j2").write_text("".join(f"- Rule U{u:02d}.\n" for u in range(K)), encoding="utf-8")
        cases = "".join(f"  - {{id: c{i}, input: 'case {i}', assert: [{{type: contains, value: PASS}}]}}\n"
                        for i in range(n))
        (root / "evalsets" / "b.yaml").write_text("cases:\n" + cases, encoding="utf-8")
        (root / "promptslim.toml").write_text('[prices."scripted"]\ninput = 1.0\noutput = 1.0\n', encoding="utf-8")
        config = load_config(root)
        template = load_template(root / "prompts" / "b.j2", root)
        evalset = load_evalset(root / "evalsets" / "b.yaml", root)
        for _ in range(reps):
            d = Draw(kind, n, MIXES["mix"], rng)
            backend = Scripted(d)
            price = price_for("scripted", config)
            runner = Runner(roles={"target": Role(backend, price)}, store=None, use_cache=False)
            ev = Evaluator(template=template, evalset=evalset, runner=runner,
                           models=Models("scripted", "none", "scripted"), config=config, price=price,
                           calls_per_month=1000)
            data = asyncio.run(run_ablation(ev, MARGIN)).data
            # the pure path on the same scores: slim sets drawn by the engine are replayed from the backend
            d.slim = lambda units, b=backend: b.slims[tuple(sorted(units))]
            pure = run_new(d, usd_saved=[u.usd_per_call_saved for u in data.units])
            engine_slim = sorted(u - 1 for u in data.slim.removed)
            try:
                same += ([u.verdict.value for u in data.units] == pure["verdicts"] and
                         engine_slim == sorted(pure["slim"]))
            except KeyError:
                pass  # the pure path asked for a slim set the engine never ran: a mismatch
    return same, reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--quick", action="store_true", help="CI-sized smoke run (N ∈ {20, 50, 100}, 60 runs)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--method", choices=["new", "old"], default="new")
    parser.add_argument("--engine-reps", type=int, default=10)
    args = parser.parse_args()
    if args.quick:
        args.reps = min(args.reps, 60)
        args.engine_reps = min(args.engine_reps, 3)
    started = time.monotonic()
    table(args)
    if args.method == "new" and args.engine_reps:
        rng = np.random.default_rng(args.seed + 1)
        for kind, n in [("binary c=0", 50), ("binary c=5%", 100)]:
            same, reps = engine_check(kind, n, args.engine_reps, rng)
            print(f"engine cross-check ({kind}, N={n}, mix): run_ablation with a scripted backend gave the same "
                  f"verdicts and slim prompt as the pure path in {same}/{reps} runs")
            if same != reps:
                sys.exit(1)
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
