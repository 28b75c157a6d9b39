"""How long deriving a template's cacheable prefix takes: 50 cases of a ~7,700-token prompt (gpt-4o-mini's tokenizer).

    python benchmarks/prefix_bench.py [--cases 50] [--repeat 450]
"""

from __future__ import annotations

import argparse
import time

from promptslim.cost.caching import OPENAI, billable_cached, layout_gain, shared_prefix


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=450)
    args = parser.parse_args()
    static = "Follow the routing table exactly and answer with one label; escalate outages to tier two. " * args.repeat
    requests = [[{"role": "system", "content": f"Customer {i}: issue number {i * 7919} about billing\n" + static},
                 {"role": "user", "content": f"ticket {i} text"}] for i in range(args.cases)]
    start = time.perf_counter()
    prefix = shared_prefix(requests, "gpt-4o-mini")
    seconds = time.perf_counter() - start
    print(f"{args.cases} cases, {prefix.mean_tokens:,.0f} tokens each: shared prefix {prefix.shared_tokens:,} tokens "
          f"(cached {billable_cached(prefix.shared_tokens, OPENAI):,}), static {prefix.static_tokens:,}, "
          f"layout gain {layout_gain(prefix, OPENAI):,} tokens/call, in {seconds:.2f} s")


if __name__ == "__main__":
    main()
