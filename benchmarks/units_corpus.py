"""Units over the real-shaped corpus (tests/corpus/): unbalanced variants per family, unit sizes (issue 26).

Every prompt is cut as plain text and, when it compiles, as a `.j2`. For each, every variant of four families is
checked with the independent balance checker (tests/structure.py): leave-one-out, all-but-one, all removed, and
random halves (seeded). A `.j2` variant must also compile. Then the unit sizes: the largest unit's share of the
prompt's tokens (o200k_base) and the count of units under 3 tokens.

    python benchmarks/units_corpus.py [--halves 20] [--verbose]

Run it against another checkout (the "before" figures) with PYTHONPATH=/path/to/checkout.
"""

from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from structure import new_problems  # noqa: E402

from promptslim.template.sandbox import compile_source  # noqa: E402
from promptslim.tokens import count_text  # noqa: E402
from promptslim.template.units import remove_units, segment  # noqa: E402

FAMILIES = ("leave-one-out", "random half", "all-but-one", "all removed")


def variants(units: list, halves: int, rng: random.Random) -> dict[str, list[list]]:
    half = [rng.sample(units, len(units) // 2) for _ in range(halves)] if len(units) > 1 else []
    return {"leave-one-out": [[u] for u in units], "random half": half,
            "all-but-one": [[v for v in units if v is not u] for u in units] if len(units) > 1 else [],
            "all removed": [units] if units else []}


def compiles(source: str, rel: str) -> bool:
    try:
        compile_source(source, rel)
        return True
    except Exception:  # noqa: BLE001 - any refusal counts as "does not compile"
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--halves", type=int, default=20, help="random-half variants per prompt")
    parser.add_argument("--verbose", action="store_true", help="print each broken variant")
    args = parser.parse_args()
    rng = random.Random(26)
    totals = {f: [0, 0] for f in FAMILIES}
    broken_compile, small, units_total, rows = 0, 0, 0, []
    for path in sorted((ROOT / "tests" / "corpus").iterdir()):
        source = path.read_text(encoding="utf-8")
        forms = [("txt", f"prompts/{path.stem}.txt", True)]
        if compiles(source, f"prompts/{path.stem}.j2"):
            forms.append(("j2", f"prompts/{path.stem}.j2", False))
        for form, rel, plain in forms:
            units, _ = segment(source, rel, plain)
            total = count_text(source, "gpt-4o-mini")
            sizes = [count_text(u.text, "gpt-4o-mini") for u in units]
            small += sum(s < 3 for s in sizes)
            units_total += len(units)
            share = max(sizes, default=0) / total if total else 0.0
            bad = {}
            for family, subsets in variants(units, args.halves, rng).items():
                for removed in subsets:
                    variant = remove_units(source, removed)
                    extra = new_problems(source, variant)
                    failed = not plain and not compiles(variant, rel)
                    broken_compile += failed
                    totals[family][1] += 1
                    if extra or failed:
                        totals[family][0] += 1
                        bad[family] = bad.get(family, 0) + 1
                        if args.verbose:
                            print(f"  {rel} {family} {[u.id for u in removed]}: {extra or 'does not compile'}")
            rows.append((f"{path.name} as .{form}", len(units), share, sum(s < 3 for s in sizes), bad))
    width = max(len(r[0]) for r in rows)
    for name, count, share, under3, bad in rows:
        broken = ", ".join(f"{k} {v}" for k, v in bad.items()) or "0 unbalanced"
        print(f"{name:<{width}}  {count:>3} units  largest {share:5.1%}  <3 tokens {under3:>2}  {broken}")
    print()
    for family, (bad_count, seen) in totals.items():
        print(f"{family:<14} {bad_count} of {seen} variants unbalanced")
    print(f".j2 variants that do not compile: {broken_compile}")
    print(f"largest-unit share: max {max(r[2] for r in rows):.1%}, median "
          f"{sorted(r[2] for r in rows)[len(rows) // 2]:.1%}; units under 3 tokens: {small} of {units_total}")


if __name__ == "__main__":
    main()
