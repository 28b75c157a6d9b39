"""Hierarchical ablation at the size of real prompts (issue 23): is it right, and what does it save?

Each cell plants a prompt of U units in S sections (blocks of 3+ units inside), tokens per unit drawn to match the
91-prompt survey (median ~15, 12% under 10 tokens), an eval set of N cases, and effects per unit:
- sections: some whole sections harmless (at least a quarter of the units); every other section holds harmless units
  with one concentrated harm (removing it breaks 25% of cases), half of them one unit at −margin, and two of them an
  interacting pair (each harmless alone, together they break 30% of cases);
- none:     no harmless section: every section is of the second kind;
- boundary: every section holds exactly one unit at −margin and nothing else that matters — the least favourable
  case for "any wrong removable" at every level (each section and block holding that unit sits exactly at −margin).
Scores: binary pass/fail (80% pass; deterministic answers, or 5% of answers redrawn: "churn") or judge 0–10 (every answer re-scored, one point of noise);
a broken case scores 0.

Both designs run on the same planted answers (a variant's answers are drawn once, as the response cache would
serve them): the tree design through promptslim.descent.procedure — the code `ablate --design tree` runs — and the
flat design through benchmarks/decision_bench.py's replica of leave-one-out (the functions promptslim.decide ships,
cross-checked against run_ablation there). Columns:
- fwer: any node (section, block or unit) whose true loss is ≥ margin called removable (tree), any unit (flat);
- slim wrong: a verified slim prompt whose true loss is ≥ margin;
- calls: target calls of the tree design as a share of the flat design's (baseline, tests, slim prompt; repeated
  variants are cache hits);
- tokens: input tokens the verified slim prompt removes, tree / flat (a ratio of means, ± its 95% interval over the
  runs), and each as a share of the prompt;
- sect: harmless sections removed whole (tree, as a node verdict);
- removable: input tokens in nodes called removable (each unit once), tree/flat, as a share of the prompt — what
  the verdicts find, before any slim prompt joins them;
- plan: a unit that changes nothing can be removable from this N (flat: Holm over U; tree: at the first step of
  its sections, and the depth the plan chose).

    python benchmarks/tree_bench.py [--reps 100] [--quick] [--seed 5] [--only 60] [--rho 0.5]
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import decision_bench as flatbench  # noqa: E402

import promptslim.decide as D  # noqa: E402
from promptslim import hierarchy as H  # noqa: E402
from promptslim.cost.payback import worth_testing  # noqa: E402
from promptslim.descent import Got, procedure  # noqa: E402
from promptslim.template.tree import MIN_BLOCK, Node, Tree  # noqa: E402

MARGIN = flatbench.MARGIN
CHURN = {"binary": 0.0, "churn": 0.05, "judge": 0.0}  # share of answers redrawn at random in every variant
BASE_PASS = 0.8
JUDGE_MEAN = 0.7  # E[round(clip(U(0.4, 1) + noise) × 10) / 10]: a broken case costs this on average
HARM = -0.20
PAIR_BREAK = 0.30
USD_PER_TOKEN = 0.15e-6  # gpt-4o-mini input, per call
CALLS_PER_MONTH = 1_000_000
CALL_USD = 0.004  # a test call, target + judge (gpt-4o judge), for the payback rule
PAYBACK_MONTHS = 3.0
SHAPES = {60: 8, 150: 12, 400: 20}


@dataclass
class Planted:
    tree: Tree
    tokens: dict[int, int]
    effects: dict[int, float]
    pairs: list[tuple[int, int]]
    harmless_sections: list[str]


def plant(units: int, sections: int, scenario: str, rng: np.random.Generator) -> Planted:
    """A prompt's tree and its planted effects (see the module docstring)."""
    sizes = np.maximum(3, rng.multinomial(units - 3 * sections, np.ones(sections) / sections) + 3)
    while sizes.sum() > units:
        sizes[np.argmax(sizes)] -= 1
    tokens = {u: int(max(2, round(rng.lognormal(math.log(15), 0.8)))) for u in range(1, units + 1)}
    nodes: dict[str, Node] = {}
    roots, uid = [], 1
    section_units: dict[str, list[int]] = {}
    for s, size in enumerate(sizes, 1):
        sid = f"s{s}"
        ids = list(range(uid, uid + int(size)))
        uid += int(size)
        section_units[sid] = ids
        cuts = sorted(rng.choice(np.arange(3, size - 2), size=min(int(rng.integers(0, 4)), max(size - 5, 0)),
                                 replace=False)) if size >= 6 else []
        blocks = [ids[a:b] for a, b in zip([0, *cuts], [*cuts, size])]
        children = []
        for b, block in enumerate(blocks, 1):
            if len(blocks) > 1 and len(block) >= MIN_BLOCK:
                bid = f"{sid}.{b}"
                for u in block:
                    nodes[f"u{u}"] = Node(f"u{u}", "unit", bid, f"unit {u}", u, (u,))
                nodes[bid] = Node(bid, "block", sid, bid, block[0], tuple(block), tuple(f"u{u}" for u in block))
                children.append(bid)
            else:
                for u in block:
                    nodes[f"u{u}"] = Node(f"u{u}", "unit", sid, f"unit {u}", u, (u,))
                    children.append(f"u{u}")
        nodes[sid] = Node(sid, "section", None, sid, ids[0], tuple(ids), tuple(children))
        roots.append(sid)
    effects = {u: 0.0 for u in tokens}
    pairs: list[tuple[int, int]] = []
    order = list(rng.permutation(roots))
    harmless: list[str] = []
    if scenario == "sections":
        while sum(len(section_units[s]) for s in harmless) < units / 4 + 1:
            harmless.append(order[len(harmless)])
    mixed = [s for s in order if s not in harmless]
    for i, sid in enumerate(mixed):
        ids = list(rng.permutation(section_units[sid]))
        if scenario == "boundary":
            effects[int(ids[0])] = -MARGIN
            continue
        effects[int(ids[0])] = HARM
        if i % 2 == 0 and len(ids) > 3:
            effects[int(ids[1])] = -MARGIN
        if i < 2 and len(ids) > 4:
            pairs.append((int(ids[2]), int(ids[3])))
    return Planted(Tree(nodes, tuple(roots)), tokens, effects, pairs, harmless)


class Answers:
    """A planted eval set: baseline scores, and the scores of the prompt without any set of units (drawn once per
    set). Quacks like decision_bench.Draw for its leave-one-out replica (units are indices 0..U−1 there)."""

    def __init__(self, p: Planted, kind: str, n: int, rng: np.random.Generator) -> None:
        self.p, self.kind, self.n, self.rng = p, kind, n, rng
        self.draws = int(rng.integers(2**63))  # a variant's answers are a function of (this, the set): common numbers
        ids = sorted(p.tokens)
        self.ids = ids
        self.effects = [p.effects[u] for u in ids]
        self.churn = CHURN[kind]
        scale = BASE_PASS * (1 - self.churn) if kind != "judge" else JUDGE_MEAN
        rate = np.array([-e / scale for e in self.effects])[:, None]
        self.broken = rng.random((len(ids), n)) < rate
        self.pair_broken = {pair: rng.random(n) < PAIR_BREAK for pair in p.pairs}
        if kind != "judge":
            self.base = (rng.random(n) < BASE_PASS).astype(float)
        else:
            self.quality = rng.uniform(0.4, 1.0, n)
            self.base = self._judge(self._rng(()))
        self._sets: dict[tuple[int, ...], np.ndarray] = {}
        self.calls = 0
        self._seen: set[tuple[tuple[int, ...], int]] = set()
        self.loo = _Lazy(self)

    def _rng(self, removed: tuple[int, ...]) -> np.random.Generator:
        """The draws of one variant, whichever design asks first: both designs, and any alternative a flag measures,
        see the same answers for the same set (common random numbers)."""
        return np.random.default_rng([self.draws, len(removed), *removed])

    def _judge(self, rng: np.random.Generator) -> np.ndarray:
        return np.round(np.clip(self.quality + rng.normal(0, 0.1, self.n), 0, 1) * 10) / 10

    def scores(self, removed: tuple[int, ...]) -> np.ndarray:
        """Scores without these unit ids (1-based)."""
        if removed not in self._sets:
            rows = [u - 1 for u in removed]
            broken = self.broken[rows].any(axis=0) if rows else np.zeros(self.n, bool)
            for (a, b), hit in self.pair_broken.items():
                if a in removed and b in removed:
                    broken = broken | hit
            rng = self._rng(removed)
            if self.kind != "judge":
                score = np.where(broken & (self.base == 1), 0.0, self.base)
                flip = rng.random(self.n) < self.churn
                score = np.where(flip, (rng.random(self.n) < BASE_PASS).astype(float), score)
            else:
                score = np.where(broken, 0.0, self._judge(rng))
            self._sets[removed] = score
        return self._sets[removed]

    def run(self, removed: tuple[int, ...], indices) -> np.ndarray:
        """What a call-counting cache sees: new (variant, case) pairs are calls."""
        for i in indices:
            if (removed, i) not in self._seen:
                self._seen.add((removed, i))
                self.calls += 1
        return self.scores(removed)[list(indices)] - self.base[list(indices)]

    # decision_bench.Draw's interface (0-based unit indices)
    def slim(self, group) -> np.ndarray:
        return self.scores(tuple(sorted(self.ids[g] for g in group)))

    def judge_calls(self, scores, idx) -> int:
        return 0  # target calls only: both designs are compared on target calls

    def true_effect(self, removed) -> float:
        scale = BASE_PASS * (1 - self.churn) if self.kind != "judge" else JUDGE_MEAN
        keep = math.prod(1 + self.p.effects[u] / scale for u in removed)
        keep *= math.prod(1 - PAIR_BREAK for a, b in self.p.pairs if a in removed and b in removed)
        return -scale * (1 - keep)


class _Lazy:
    def __init__(self, a: Answers) -> None:
        self.a = a

    def __getitem__(self, j: int) -> np.ndarray:
        return self.a.scores((self.a.ids[j],))


def static_usd(p: Planted) -> dict[str, float]:
    return {nid: sum(p.tokens[u] for u in node.units) * USD_PER_TOKEN for nid, node in p.tree.nodes.items()}


def worth(p: Planted, n: int, usd: dict[str, float]) -> set[str]:
    return {nid for nid in p.tree.nodes
            if worth_testing(usd[nid] * CALLS_PER_MONTH, n * CALL_USD, PAYBACK_MONTHS)}


# the alternatives a flag measures
VARIANT = {"rank": True, "reserve_always": 0.0, "clean_first": True, "max_steps": 300, "lead_rungs": None}


def run_tree(p: Planted, a: Answers, rho: float) -> tuple[dict, H.Levels]:
    usd = static_usd(p)
    good = worth(p, a.n, usd)
    parents = {nid: node.parent for nid, node in p.tree.nodes.items()}
    levels = H.choose_levels(parents, good, usd, a.n, MARGIN, rho=rho, rank=VARIANT["rank"])
    tested = set(levels.tested)
    alloc = H.allocate({x: parents[x] for x in levels.tested}, levels.rho)
    if VARIANT["reserve_always"] and not levels.rho:  # the reserve kept back even where the descent cannot decide
        alloc = H.Allocation(alloc.shape, {k: w * (1 - VARIANT["reserve_always"]) for k, w in alloc.weights.items()},
                             VARIANT["reserve_always"])
    a.run((), range(a.n))  # the baseline
    gen = procedure(p.tree, alloc, a.n, MARGIN, usd, good, {**levels.skipped, **{x: "payback" for x in p.tree.nodes
                                                                                  if x not in good}},
                    clean_first=VARIANT["clean_first"], max_steps=VARIANT["max_steps"],
                    lead_rungs=VARIANT["lead_rungs"])
    ask = next(gen)
    while True:
        got = {}
        for removed, idx in ask.runs:
            key = tuple(sorted(removed))
            deltas = a.run(key, idx)
            got[(removed, idx)] = Got(list(deltas), sum(p.tokens[u] for u in key) * USD_PER_TOKEN, True)
        try:
            ask = gen.send(got)
        except StopIteration as stop:
            out = stop.value
            break
    assert set(out.decisions) <= tested, "the procedure tests only what the plan chose"
    return {"out": out, "calls": a.calls}, levels


def run_flat(p: Planted, a: Answers) -> dict:
    before = a.calls
    usd = [p.tokens[u] * USD_PER_TOKEN for u in a.ids]
    out = flatbench.run_new(a, usd_saved=usd)
    loo = out["calls"]  # baseline + leave-one-out target calls (judge_calls is 0 here)
    slim_calls = out["slim_runs"] * a.n
    return {"verdicts": out["verdicts"], "slim": [a.ids[j] for j in out["slim"]], "calls": loo + slim_calls,
            "shared": a.calls - before}


def cell(units: int, kind: str, n: int, scenario: str, reps: int, rho: float, seed: int) -> dict:
    """One row of the table. Run r of a cell draws from its own stream (seed, the cell, r), so a cell reads the same
    alone (--only, --sizes …) as in the full table, and an alternative a flag measures sees the same prompts."""
    fw_tree = fw_flat = slim_tree = slim_flat = 0
    calls_tree = calls_flat = total_tok = 0.0
    tok_tree: list[int] = []
    tok_flat: list[int] = []
    found_tree: list[int] = []  # tokens in nodes called removable (each unit once), and in flat's removable units
    found_flat: list[int] = []
    sections_found = sections_planted = 0
    plan = None
    for rep in range(reps):
        rng = np.random.default_rng([seed, zlib.crc32(f"{units}/{kind}/{n}/{scenario}".encode()), rep])
        p = plant(units, SHAPES[units], scenario, rng)
        a = Answers(p, kind, n, rng)
        tree, plan = run_tree(p, a, rho)
        out = tree["out"]
        bad = [v for v, d in out.decisions.items() if d.verdict == "removable"
               and a.true_effect(p.tree.nodes[v].units) <= -MARGIN + 1e-12]
        fw_tree += bool(bad)
        slim_tree += bool(out.slim) and a.true_effect(out.slim) <= -MARGIN + 1e-12
        tok_tree.append(sum(p.tokens[u] for u in out.slim))
        found_tree.append(sum(p.tokens[u] for u in {u for v, d in out.decisions.items() if d.verdict == "removable"
                                                     for u in p.tree.nodes[v].units}))
        sections_found += sum(1 for s in p.harmless_sections
                              if s in out.decisions and out.decisions[s].verdict == "removable")
        sections_planted += len(p.harmless_sections)
        flat_answers = Answers.__new__(Answers)
        flat_answers.__dict__.update(a.__dict__)
        flat_answers.calls, flat_answers._seen = 0, set()
        flat = run_flat(p, flat_answers)
        fw_flat += any(v == "removable" and p.effects[u] <= -MARGIN for u, v in zip(a.ids, flat["verdicts"]))
        slim_flat += bool(flat["slim"]) and a.true_effect(flat["slim"]) <= -MARGIN + 1e-12
        tok_flat.append(sum(p.tokens[u] for u in flat["slim"]))
        found_flat.append(sum(p.tokens[u] for u, v in zip(a.ids, flat["verdicts"]) if v == "removable"))
        calls_tree += tree["calls"]
        calls_flat += flat["calls"]
        total_tok += sum(p.tokens.values())
    ratio, half = _ratio(np.array(tok_tree, float), np.array(tok_flat, float))
    return {"fwer tree": fw_tree / reps, "fwer flat": fw_flat / reps, "slim tree": slim_tree / reps,
            "slim flat": slim_flat / reps, "calls": calls_tree / calls_flat, "tokens": ratio, "tokens ±": half,
            "found tree": sum(found_tree) / total_tok, "found flat": sum(found_flat) / total_tok,
            "tok tree": sum(tok_tree) / total_tok, "tok flat": sum(tok_flat) / total_tok,
            "sections": sections_found / sections_planted if sections_planted else None,
            "plan": plan}


def _ratio(tree: np.ndarray, flat: np.ndarray) -> tuple[float, float]:
    """Σtree / Σflat and the half-width of its 95% interval over runs (delta method on paired runs): a slim prompt's
    size is all-or-nothing per rung, so the ratio of two 100-run means moves by ±0.2 between random streams."""
    if not flat.sum():
        return math.inf, math.nan
    r = tree.sum() / flat.sum()
    if len(tree) < 2:
        return r, math.nan
    return r, 1.96 * float(np.std(tree - r * flat, ddof=1)) / (math.sqrt(len(tree)) * float(flat.mean()))


def plan_time(units: int, n: int) -> tuple[float, str]:
    """Seconds for `promptslim ablate` on a `units`-unit template to print its plan (it then stops at a tiny budget,
    exit 3, before any call): the real command in a fresh process, imports included."""
    import os
    import subprocess
    import tempfile

    sections = 20
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "prompts").mkdir()
        (root / "evalsets").mkdir()
        lines = ["You are the support assistant of {{ shop }}.", ""]
        per = units // sections
        for s in range(sections):
            lines.append(f"## Part {s}")
            for u in range(per - (1 if s == 0 else 0)):
                lines.append(f"- Rule {s}.{u}: handle case number {u} of part {s} with the care it needs.")
            lines.append("")
        (root / "prompts" / "big.j2").write_text("\n".join(lines), encoding="utf-8")
        cases = "".join(f"  - {{id: c{i}, vars: {{shop: Acme}}, input: 'question {i}'}}\n" for i in range(n))
        (root / "evalsets" / "big.yaml").write_text("criteria: The reply is helpful.\ncases:\n" + cases,
                                                     encoding="utf-8")
        (root / "promptslim.toml").write_text('[prompts."big"]\ncalls_per_month = 1_000_000\n', encoding="utf-8")
        env = {**os.environ, "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "OPENAI_API_KEY": "sk-bench",
               "PROMPTSLIM_HOME": str(root / ".home")}
        started = time.monotonic()
        done = subprocess.run([sys.executable, "-m", "promptslim", "ablate", "prompts/big.j2", "--max-cost", "0.0001"],
                              cwd=root, env=env, capture_output=True, text=True)
        took = time.monotonic() - started
    plan = next((line for line in done.stderr.splitlines() if line.startswith("design:")), done.stderr[-300:])
    return took, plan


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=100)
    parser.add_argument("--quick", action="store_true", help="CI-sized smoke run: 60 units, N 100, 8 runs per cell")
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--only", type=int, choices=sorted(SHAPES))
    parser.add_argument("--kinds", default="binary,judge")
    parser.add_argument("--sizes", default="50,100,200")
    parser.add_argument("--scenarios", default="sections,none,boundary")
    parser.add_argument("--rho", type=float, default=H.RHO)
    parser.add_argument("--plan", action="store_true", help="only time the plan of a 1,000-unit template")
    parser.add_argument("--no-rank", action="store_true", help="alternative: every section at α/R even when R > α/0.95^N")
    parser.add_argument("--reserve-always", type=float, default=0.0,
                        help="alternative: keep this share of α back for the descent even where it cannot decide")
    parser.add_argument("--kept-order", action="store_true",
                        help="alternative: the verification takes the search's set in the order kept")
    parser.add_argument("--lead-rungs", action="store_true",
                        help="the rule before: the two lead rungs even where a harmless rung is nearly a coin flip")
    parser.add_argument("--max-steps", type=int, default=300, help="sets the slim search may try (ablate: max_units)")
    args = parser.parse_args()
    VARIANT.update(rank=not args.no_rank, reserve_always=args.reserve_always, clean_first=not args.kept_order,
                   max_steps=args.max_steps, lead_rungs=True if args.lead_rungs else None)
    if args.plan:
        for n in (100, 200):
            took, line = plan_time(1000, n)
            print(f"plan of a 1,000-unit template, {n} cases: {took:.1f} s (fresh process, imports included)\n  {line}")
        return
    shapes = [args.only] if args.only else sorted(SHAPES)
    sizes = [int(x) for x in args.sizes.split(",")]
    if args.quick:
        shapes, sizes, args.reps = [60], [100], min(args.reps, 8)
    started = time.monotonic()
    print(f"margin {MARGIN}, ρ = {args.rho}, {args.reps} runs per cell, seed {args.seed}; a 5% rate is resolved to "
          f"±{200 * math.sqrt(0.05 * 0.95 / args.reps):.1f} points (95%)")
    head = (f"{'units':>5} {'sect':>4} {'scores':<6} {'N':>4} {'scenario':<9} {'fwer':>5} {'flat':>5} {'slim wrong':>10} "
            f"{'flat':>5} {'calls':>6} {'tokens':>11} {'tree':>5} {'flat':>5} {'sect':>5} {'removable':>9} "
            f"{'plan: depth, ρ, N0 tree/flat':>28}")
    print(head)
    print("-" * len(head))
    for units in shapes:
        for kind in args.kinds.split(","):
            for n in sizes:
                for scenario in args.scenarios.split(","):
                    t0 = time.monotonic()
                    r = cell(units, kind, n, scenario, args.reps, args.rho, args.seed)
                    plan = r["plan"]
                    tops = sum(1 for x in plan.tested if "." not in x and x.startswith("s"))
                    n0_tree = H.cases_unchanged(D.ALPHA * (1 - plan.rho) / max(tops, 1), MARGIN)
                    n0_flat = D.min_cases_unchanged(units, MARGIN)
                    found = f"{r['found tree']:.0%}/{r['found flat']:.0%}"
                    sect = "" if r["sections"] is None else f"{r['sections']:.0%}"
                    print(f"{units:>5} {SHAPES[units]:>4} {kind:<6} {n:>4} {scenario:<9} {r['fwer tree']:>5.1%} "
                          f"{r['fwer flat']:>5.1%} {r['slim tree']:>10.1%} {r['slim flat']:>5.1%} {r['calls']:>6.0%} "
                          f"{r['tokens']:>5.2f}±{r['tokens ±']:<5.2f} {r['tok tree']:>5.0%} {r['tok flat']:>5.0%} "
                          f"{sect:>5} {found:>9} "
                          f"{f'{plan.depth}, {plan.rho:g}, {n0_tree}/{n0_flat}':>28}   ({time.monotonic() - t0:.0f} s)",
                          flush=True)
    print(f"total {time.monotonic() - started:.0f} s")


if __name__ == "__main__":
    main()
