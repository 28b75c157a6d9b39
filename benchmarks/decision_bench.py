"""Do the verdicts decide, and is "removable" still right? Planted truths through the real decision code.

Each cell plants K units with known effects on an eval set of N cases, draws the scores a model and judge would
give, and decides. Unit mixes per cell:
- mix:   for K = 12: 4 harmless, 3 at −margin/2, 3 at −margin, 2 harmful (−0.15) — power, keep, calls;
- null:  all K at exactly −margin — the least favourable case for "any wrong removable";
- clean: all K harmless — can the slim prompt be verified.
Score types, K = 12: binary pass/fail (assertions; 0 / 5 / 15% answer churn), judge scores 0–10 integer and
probability-weighted (judge noise; per-case delta sd ≈ 0.1; every answer rescored), and sparse large harm (a unit
breaks a few cases by −0.8 and leaves the rest byte-identical, so the judge is skipped there).
Concentrated harm (issue 28), K = 3 / 12 / 40: a unit breaks a share of cases (score → 0; 7% of cases for a unit at
−margin) while a share r of the other answers (100%, 60%, 30%) is re-scored by a judge with one point of noise on
the 0–10 scale; harmless units only re-score.

The grids run the exact functions the engine calls (promptslim.decide) on the drawn score vectors. The check
section draws head − base deltas for the PR check's outcome. An engine-level cross-check runs
promptslim.engine.ablation.run_ablation with an in-process scripted backend (no HTTP, no cache) on binary cells and
asserts that the engine's verdicts and slim prompt equal the pure path's on the same scores.

The script also runs against an older promptslim.decide (it detects what that module offers), so a before/after
table is `PYTHONPATH=<old checkout> python benchmarks/decision_bench.py` against this one.

    python benchmarks/decision_bench.py [--reps 500] [--conc-reps 200] [--quick] [--seed 11] [--engine-reps 10]
                                        [--only units|conc|check]
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

import promptslim.decide as D

K = 12
MARGIN = 0.05
HARM = -0.15
MIX12 = [0.0] * 4 + [-MARGIN / 2] * 3 + [-MARGIN] * 3 + [HARM] * 2
MIXES = {"mix": MIX12, "null": [-MARGIN] * K, "clean": [0.0] * K}
TYPES = ["binary c=0", "binary c=5%", "binary c=15%", "judge 0-10", "judge prob", "sparse harm"]
CONC = ["conc r=100%", "conc r=60%", "conc r=30%"]
JUDGED = {"judge 0-10", "judge prob", "sparse harm", *CONC}
NEW = hasattr(D, "interim_all")  # the decide module of issue 28 (else: the one before, for the "before" table)


def mixes(k: int) -> dict[str, list[float]]:
    """The 12-unit mix pattern stretched to k units (k = 3: one harmless, one at −margin, one harmful)."""
    if k == 3:
        mix = [0.0, -MARGIN, HARM]
    else:
        mix = (MIX12 * (k // 12 + 1))[:k] if k != 12 else MIX12
    return {"mix": mix, "null": [-MARGIN] * k, "clean": [0.0] * k}


# ---------------------------------------------------------------- planted scores
class Draw:
    """One eval set under one mix: baseline scores, leave-one-out scores, and slim scores for any set (drawn once
    per set, so a set's stage-1 and stage-2 answers come from the same run)."""

    def __init__(self, kind: str, n: int, effects: list[float], rng: np.random.Generator) -> None:
        self.kind, self.n, self.effects, self.rng = kind, n, effects, rng
        self._sets: dict[tuple[int, ...], np.ndarray] = {}
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
        elif kind in CONC:
            self.rescored = {"conc r=100%": 1.0, "conc r=60%": 0.6, "conc r=30%": 0.3}[kind]
            self.quality = rng.uniform(0.4, 1.0, n)
            self.base = self._judge(self.quality)
            self.mean_base = 0.7  # E[round(clip(U(0.4, 1) + noise))]: a break at share p costs p × 0.7 on average
            p_break = np.array([-e / self.mean_base for e in effects])[:, None]
            self.broken = rng.random((k, n)) < p_break
        else:
            self.quality = rng.uniform(0.3, 0.8, n)
            self.case_effect = np.array(effects)[:, None] + rng.normal(0, 0.03, (k, n))
            self.base = self._judge(self.quality)
        self.loo = np.stack([self.slim([u]) for u in range(k)])

    def _judge(self, latent: np.ndarray) -> np.ndarray:
        if self.kind in CONC:  # one point of noise on the 0–10 scale
            return np.round(np.clip(latent + self.rng.normal(0, 0.1, latent.shape), 0, 1) * 10) / 10
        noisy = np.clip(latent + self.rng.normal(0, 0.06, latent.shape), 0, 1)
        return np.round(noisy * 10) / 10 if self.kind == "judge 0-10" else noisy

    def slim(self, units: list[int]) -> np.ndarray:
        """Scores of the prompt without `units`: a case breaks when any removed unit breaks it."""
        key = tuple(sorted(units))
        if key not in self._sets:
            self._sets[key] = self._draw(list(key))
        return self._sets[key]

    def _draw(self, units: list[int]) -> np.ndarray:
        if self.kind.startswith("binary"):
            broken = self.broken[units].any(axis=0)
            score = np.where(broken, 0.0, self.base)
            flip = self.rng.random(self.n) < self.churn
            return np.where(flip, (self.rng.random(self.n) < 0.8).astype(float), score)
        if self.kind == "sparse harm":
            return np.where(self.broken[units].any(axis=0), self.base - 0.8, self.base)
        if self.kind in CONC:
            again = self.rng.random(self.n) < self.rescored
            score = np.where(again, self._judge(self.quality), self.base)
            return np.where(self.broken[units].any(axis=0), 0.0, score)
        return self._judge(self.quality + self.case_effect[units].sum(axis=0))

    def true_effect(self, units: list[int]) -> float:
        if self.kind.startswith("binary"):
            keep = 1 - self.churn
            return -0.8 * keep * (1 - math.prod(1 + self.effects[u] / (0.8 * keep) for u in units))
        if self.kind == "sparse harm":
            return -0.8 * (1 - math.prod(1 + self.effects[u] / 0.8 for u in units))
        if self.kind in CONC:
            return -self.mean_base * (1 - math.prod(1 + self.effects[u] / self.mean_base for u in units))
        return sum(self.effects[u] for u in units)

    def judge_calls(self, scores: np.ndarray, idx: list[int]) -> int:
        """Judge calls a variant needs on these cases: none for assertions, none for byte-identical answers."""
        if self.kind not in JUDGED:
            return 0
        if self.kind == "sparse harm":
            return int(np.sum(scores[idx] != self.base[idx]))
        return len(idx)


# ---------------------------------------------------------------- the method (promptslim.decide)
def run_new(d: Draw, two_stage: bool = True, usd_saved: list[float] | None = None) -> dict:
    n, k = d.n, len(d.effects)
    deltas = [list(d.loo[u] - d.base) for u in range(k)]
    adaptive = two_stage and n >= D.MIN_TWO_STAGE
    first = D.stage_one_indices(n) if adaptive else list(range(n))
    calls = n + (0 if d.kind not in JUDGED else n)  # baseline (+ its judge calls)
    stopped = _interim([[deltas[u][i] for i in first] for u in range(k)], n, k) if adaptive else {}
    used = []
    for u in range(k):
        idx = first if u in stopped else list(range(n))
        used.append(idx)
        calls += len(idx) + d.judge_calls(d.loo[u], idx)
    decisions = D.decide_units([[deltas[u][i] for i in used[u]] for u in range(k)], MARGIN, stopped, adaptive)
    # $ saved per unit is known before any score; planted at random so the order says nothing about the effect
    usd = usd_saved if usd_saved is not None else list(d.rng.random(k))
    if NEW and D.split_slim(n, MARGIN):
        shipped, slim_runs = _split_slim(d, usd)
    else:
        shipped, slim_runs = _sequence_slim(d, decisions, usd)
    return {"verdicts": [x.verdict for x in decisions], "slim": shipped, "calls": calls, "slim_runs": slim_runs}


def _interim(stage1: list[list[float]], n: int, k: int) -> dict[int, str]:
    if NEW:
        return D.interim_all(stage1, n, MARGIN)
    return {u: e for u, d in enumerate(stage1) if (e := D.interim(d, n, MARGIN, k)) is not None}


def _sequence_slim(d: Draw, decisions: list, usd: list[float]) -> tuple[list[int], float]:
    """The fixed sequence on every case at 97.5% per step, first failure stops."""
    order = D.slim_order(decisions, [True] * len(usd), usd)
    shipped: list[int] = []
    slim_runs = 0
    for size in D.slim_sizes(len(order)):
        group = order[:size]
        # a one-unit slim prompt is that unit's leave-one-out prompt: the engine reuses its answers (cache hit)
        scores = d.loo[group[0]] if size == 1 else d.slim(group)
        slim_runs += size > 1
        if not D.slim_step(list(scores - d.base), MARGIN)[0]:
            break
        shipped = group
    return shipped, slim_runs


def _split_slim(d: Draw, usd: list[float]) -> tuple[list[int], float]:
    """Search on a quarter of the cases, verify prefixes on the rest at 95% (promptslim.decide's split design)."""
    n, k = d.n, len(d.effects)
    s1, s2 = D.search_indices(n), D.verify_indices(n)
    stage1 = [list(d.loo[u][s1] - d.base[s1]) for u in range(k)]
    pool = D.search_pool(stage1, [True] * k, usd, MARGIN)
    kept: list[int] = []
    runs = 0.0
    for j in pool:
        scores = d.slim(kept + [j])
        runs += len(s1) / n if kept else 0.0  # a quarter run; the one-unit set is its leave-one-out answers
        if D.search_keeps(list(scores[s1] - d.base[s1]), MARGIN):
            kept.append(j)
    shipped: list[int] = []
    for size in D.ladder(len(kept)):
        scores = d.slim(kept[:size])
        runs += len(s2) / n
        if not D.slim_step(list(scores[s2] - d.base[s2]), MARGIN, D.ALPHA)[0]:
            break
        shipped = kept[:size]
    return shipped, runs


def fixed_calls(d: Draw) -> int:
    """The fixed exhaustive design: baseline and every variant on every case, every answer judged."""
    return d.n * (2 if d.kind in JUDGED else 1) * (1 + len(d.effects))


# ---------------------------------------------------------------- the unit grids
def cell(kind: str, n: int, k: int, reps: int, null_reps: int, rng: np.random.Generator) -> dict:
    sets = mixes(k)
    mix = sets["mix"]
    harmless = removable_harmless = keep_harmless = harm = keep_harm = fw_null = fw_mix = 0
    slim_wrong = {"null": 0, "mix": 0}
    slim_clean = calls = fixed = slim_runs = 0
    for rep in range(max(reps, null_reps)):
        for name, effects in sets.items():
            if rep >= (null_reps if name == "null" else reps):
                continue
            d = Draw(kind, n, effects, rng)
            out = run_new(d)
            v = out["verdicts"]
            wrong_unit = any(v[u] == "removable" for u in range(k) if effects[u] <= -MARGIN)
            if name == "clean":
                slim_clean += bool(out["slim"])
                continue
            slim_wrong[name] += bool(out["slim"]) and d.true_effect(out["slim"]) <= -MARGIN + 1e-12
            if name == "null":
                fw_null += wrong_unit
                continue
            fw_mix += wrong_unit
            harmless += sum(1 for e in mix if e == 0)
            removable_harmless += sum(1 for u in range(k) if mix[u] == 0 and v[u] == "removable")
            keep_harmless += sum(1 for u in range(k) if mix[u] == 0 and v[u] == "keep")
            harm += sum(1 for e in mix if e == HARM)
            keep_harm += sum(1 for u in range(k) if mix[u] == HARM and v[u] == "keep")
            calls += out["calls"]
            fixed += fixed_calls(d)
            slim_runs += out["slim_runs"]
    return {"removable|0": removable_harmless / harmless, "keep|0": keep_harmless / harmless,
            "fwer null": fw_null / null_reps, "fwer mix": fw_mix / reps, "keep|-.15": keep_harm / harm,
            "slim wrong null": slim_wrong["null"] / null_reps, "slim wrong mix": slim_wrong["mix"] / reps,
            "slim ok|clean": slim_clean / reps, "calls": calls / fixed, "slim runs": slim_runs / reps}


def unit_table(args: argparse.Namespace, rng: np.random.Generator) -> None:
    sizes = [20, 50, 100] if args.quick else [20, 30, 50, 100, 150]
    print(f"\nUnits, K = {K}: {args.reps} runs per cell for the mixed and all-harmless sets, {4 * args.reps} for the "
          f"all-at-−margin set (a 5% rate resolved to ±{200 * math.sqrt(0.05 * 0.95 / (4 * args.reps)):.1f} points, "
          "95%)")
    head = (f"{'scores':<13} {'N':>4} {'P(rem|0)':>9} {'fwer':>6} {'P(keep|0)':>9} {'P(keep|-.15)':>12} "
            f"{'slim wrong|null':>15} {'slim wrong|mix':>14} {'slim ok|clean':>13} {'calls':>6} {'slim runs':>9}")
    print(head)
    print("-" * len(head))
    for kind in TYPES:
        for n in sizes:
            started = time.monotonic()
            r = cell(kind, n, K, args.reps, args.reps * 4, rng)
            fwer = max(r["fwer null"], r["fwer mix"])
            print(f"{kind:<13} {n:>4} {r['removable|0']:>9.1%} {fwer:>6.1%} {r['keep|0']:>9.1%} "
                  f"{r['keep|-.15']:>12.1%} {r['slim wrong null']:>15.1%} {r['slim wrong mix']:>14.1%} "
                  f"{r['slim ok|clean']:>13.1%} {r['calls']:>6.0%} {r['slim runs']:>9.1f}"
                  f"   ({time.monotonic() - started:.0f} s)", flush=True)


def conc_table(args: argparse.Namespace, rng: np.random.Generator) -> None:
    sizes = [20, 50, 100] if args.quick else [20, 50, 100, 200]
    ks = [3, 12] if args.quick else [3, 12, 40]
    reps = args.conc_reps
    print(f"\nConcentrated harm: a unit at −margin breaks 7% of cases (score → 0), a share r of the other answers is "
          f"re-scored with one point of judge noise. {reps} runs per cell for the mixed and all-harmless sets, "
          f"{4 * reps} for the all-at-−margin set (±{200 * math.sqrt(0.05 * 0.95 / (4 * reps)):.1f} points at 5%)")
    head = (f"{'scores':<13} {'K':>3} {'N':>4} {'fwer|null':>9} {'fwer|mix':>8} {'P(rem|0)':>9} "
            f"{'slim wrong|null':>15} {'slim wrong|mix':>14} {'slim ok|clean':>13}")
    print(head)
    print("-" * len(head))
    for kind in CONC:
        for k in ks:
            for n in sizes:
                started = time.monotonic()
                r = cell(kind, n, k, reps, reps * 4, rng)
                print(f"{kind:<13} {k:>3} {n:>4} {r['fwer null']:>9.1%} {r['fwer mix']:>8.1%} {r['removable|0']:>9.1%} "
                      f"{r['slim wrong null']:>15.1%} {r['slim wrong mix']:>14.1%} {r['slim ok|clean']:>13.1%}"
                      f"   ({time.monotonic() - started:.0f} s)", flush=True)


# ---------------------------------------------------------------- the check (promptslim.decide.check_outcome)
def check_deltas(kind: str, n: int, effect: float, rng: np.random.Generator) -> list[float]:
    """head − base for one PR: judge scores with delta sd ≈ 0.1 or 0.3, pass/fail with 5% churn, or concentrated."""
    if kind.startswith("judge sd"):
        sd = float(kind.split()[-1])
        q = rng.uniform(0.3, 0.8, n)
        noise = sd / math.sqrt(2)
        base = np.round(np.clip(q + rng.normal(0, noise, n), 0, 1) * 10) / 10
        head = np.round(np.clip(q + effect + rng.normal(0, noise, n), 0, 1) * 10) / 10
        return list(head - base)
    d = Draw(kind, n, [effect], rng)
    return list(d.loo[0] - d.base)


def flagged(outcome: str) -> bool:
    return outcome in ("regression", "likely-regression")


def check_table(args: argparse.Namespace, rng: np.random.Generator) -> None:
    sizes = [20, 50, 100] if args.quick else [20, 30, 50, 100]
    reps = args.reps
    print(f"\nThe PR check: {reps} PRs per cell at −0.10 and at −margin, {4 * reps} harmless ones. flag = exit 1 "
          "(regression, or likely regression); 'estimate' = the rule 'estimate below −margin' alone, for comparison; "
          "P(pass|−m) = non-inferior when the true loss is exactly the margin (spread, or concentrated: 7% of cases "
          "broken, every other answer re-scored)")
    head = (f"{'scores':<16} {'N':>4} {'P(flag|-.10)':>12} {'P(flag|0)':>9} {'estimate P(flag|0)':>18} "
            f"{'P(pass|-m)':>10} {'P(pass|-m) conc':>15}")
    print(head)
    print("-" * len(head))
    for kind in ["judge sd 0.1", "judge sd 0.3", "binary c=5%"]:
        for n in sizes:
            f10 = sum(flagged(D.check_outcome(check_deltas(kind, n, -0.10, rng), MARGIN)["outcome"])
                      for _ in range(reps)) / reps
            f0 = est0 = 0
            for _ in range(4 * reps):
                deltas = check_deltas(kind, n, 0.0, rng)
                f0 += flagged(D.check_outcome(deltas, MARGIN)["outcome"])
                est0 += sum(deltas) / n < -MARGIN
            pm = sum(D.check_outcome(check_deltas(kind, n, -MARGIN, rng), MARGIN)["outcome"] == "pass"
                     for _ in range(4 * reps)) / (4 * reps)
            pc = sum(D.check_outcome(check_deltas("conc r=100%", n, -MARGIN, rng), MARGIN)["outcome"] == "pass"
                     for _ in range(4 * reps)) / (4 * reps)
            print(f"{kind:<16} {n:>4} {f10:>12.1%} {f0 / (4 * reps):>9.1%} {est0 / (4 * reps):>18.1%} {pm:>10.1%} "
                  f"{pc:>15.1%}", flush=True)


# ---------------------------------------------------------------- engine-level cross-check
class Scripted:
    """An in-process backend behind the Backend protocol: answers PASS/FAIL from a planted Draw."""

    endpoint = "scripted://bench"
    concurrency = None

    def __init__(self, draw: Draw) -> None:
        self.draw, self.calls = draw, 0

    async def complete(self, messages, params):
        from promptslim.llm.base import Completion

        self.calls += 1
        system = messages[0]["content"]
        case = int(messages[-1]["content"].split()[-1])
        missing = [u for u in range(K) if f"Rule U{u:02d}." not in system]
        score = self.draw.slim(missing)[case] if missing else self.draw.base[case]
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
            # the pure path on the same scores: every set's scores are drawn once (Draw.slim), shared by both paths
            pure = run_new(d, usd_saved=[u.usd_per_call_saved for u in data.units])
            engine_slim = sorted(u - 1 for u in data.slim.removed)
            same += [u.verdict.value for u in data.units] == pure["verdicts"] and engine_slim == sorted(pure["slim"])
    return same, reps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=500)
    parser.add_argument("--conc-reps", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="CI-sized smoke run (N ∈ {20, 50, 100}, 60 runs)")
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--engine-reps", type=int, default=10)
    parser.add_argument("--only", choices=["units", "conc", "check"])
    args = parser.parse_args()
    if args.quick:
        args.reps = min(args.reps, 60)
        args.conc_reps = min(args.conc_reps, 30)
        args.engine_reps = min(args.engine_reps, 3)
    started = time.monotonic()
    print(f"method: {getattr(D, 'METHOD', '?')}; margin {MARGIN}, seed {args.seed}")
    print("fwer = P(any unit with effect ≤ −margin called removable) (units: the worse of the all-at-−margin and mixed "
          "sets); slim wrong = a verified slim prompt whose true loss is ≥ margin, per set; calls = target + judge "
          "calls of the leave-one-out design as a share of the fixed exhaustive design's (mix); slim runs = extra "
          "eval-set runs for the slim prompt (mix; a run on part of the cases counts as that share)")
    rng = np.random.default_rng(args.seed)
    if args.only in (None, "units"):
        unit_table(args, rng)
    if args.only in (None, "conc"):
        conc_table(args, np.random.default_rng(args.seed + 2))
    if args.only in (None, "check"):
        check_table(args, np.random.default_rng(args.seed + 3))
    if args.engine_reps and args.only in (None, "units"):
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
