"""The house measures of issue 22, read from the source: import cycles, imports that climb a layer, engines that
import renderers, functions over 60 lines, `.get(` on result data, cli.py's size, and the files each lever names.

Reads promptslim/ as text (ast), imports nothing of it, so it measures any checkout:

    python benchmarks/architecture.py [--repo DIR] [--verbose]

Every import counts, wherever it stands (module level, inside a function, under TYPE_CHECKING): a lazy import
hides a dependency from the reader, not from the design. The layers below are the architecture DESIGN.md asks
for (data flows one way: cli → api → renderers/writers → engines → evaluation → results → leaves → base); old
and new module names are both listed so the same script measures before and after the reshape.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
from pathlib import Path

# lowest first; a module's layer is the entry with the longest matching prefix
LAYERS: list[tuple[str, int]] = [
    # 0 base: no knowledge of templates, models or results
    ("errors", 0), ("paths", 0), ("safeio", 0), ("redact", 0), ("limits", 0), ("jsontypes", 0), ("stats", 0),
    ("gitutil", 0), ("config", 0), ("numfmt", 0), ("safeyaml", 0),
    # 1 leaves: tokens, prices and caching, templates, eval sets, the model seam, the decisions
    ("tokens", 1), ("prices", 1), ("prefixcache", 1), ("cost", 1), ("template", 1), ("units", 1), ("layout", 1),
    ("sentences", 1), ("renderworker", 1), ("evalset", 1), ("assertions", 1), ("llm", 1), ("decide", 1),
    ("hierarchy", 1), ("descent", 1),
    ("caveats", 1),
    # 2 results: typed values every engine returns and every renderer reads
    ("results", 2),
    # 3 evaluation: grade a variant's answers
    ("judge", 3), ("evaluate", 3), ("engine.trial", 3), ("engine.evaluator", 3), ("engine.events", 3),
    # 4 engines, in three steps: run set-up, then the strategies (levers), then the engines that run them
    ("runsetup", 4.0), ("runfacts", 4.0), ("engine.setup", 4.0), ("engine.record", 4.0), ("engine.requests", 4.0),
    ("strategy", 4.1), ("shorter", 4.1), ("rewrite", 4.1), ("rewriteresult", 4.1), ("tier", 4.1),
    ("engine.strategies", 4.1), ("engine.strategy", 4.1),
    ("ablate", 4.2), ("check", 4.2), ("changes", 4.2), ("trust", 4.2), ("evalsetgate", 4.2), ("counting", 4.2),
    ("savings", 4.2), ("evalresult", 4.2), ("engine", 4.2), ("prcheck", 4.2), ("static_views", 4.2), ("history", 4.2),
    ("importers", 4.2),
    # 5 renderers and writers
    ("report", 5), ("writers", 5), ("console", 5), ("logprogress", 5),
    # 6 the public API
    ("api", 6), ("", 6),
    # 7 the command line
    ("cli", 7), ("cli_tools", 7), ("__main__", 7),
]
RENDERERS = ("report",)
ENGINES = 4.2
LEVERS = {  # identifiers that belong to one lever (not the seam: a variant on another model is the seam's)
    "cheaper model": r"CheaperModel|ModelsSection|ModelFinding|ModelRecommendation|model_recommendation|also_models?|"
                     r"check_candidates|models_method|model_keys|ModelResult|ModelTable|model_strategy",
    "rewrites": r"SayShorter|RewritesSection|RewriteFinding|RefusedRewrite|RewrittenPrompt|RewriteResult|Rewritten|"
                r"rewrite_keys|propose_rewrites|rewritten_source|rewritten_rel|rewrites_refused|rewriter_model|Rewrite|"
                r"rewritten_path|model_rewrites|rule_rewrites",
}
# `.get(` on result data: JSON read back from reports, and engine results passed around as dicts. Not counted:
# user input being validated (config, eval sets), the model seam's payloads, the environment, lookup tables.
NOT_RESULT_FILES = ("config.py", "evalset.py", "llm/", "judge.py", "prefixcache.py", "cost/caching.py", "renderworker.py",
                    "jsontypes.py", "trust.py", "prcheck/trust.py", "template/", "importers/")
NOT_RESULT_RECEIVERS = re.compile(r"(^|\.)(environ|roles|metadata|store|_graded|batches|totals|_prices|_prefixes|"
                                  r"_tokens|_messages)$|(^|\.)[A-Z_][A-Z0-9_]*$|^\{")


def modules(package: Path) -> dict[str, Path]:
    out = {}
    for path in sorted(package.rglob("*.py")):
        rel = path.relative_to(package).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


def imports(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """Every promptslim module this one imports (names relative to the package; "" is the package itself)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_pkg = path.name == "__init__.py"
    here = name.split(".") if name else []
    out: set[str] = set()

    def resolve(target: str) -> str | None:
        while target and target not in known:
            target = target.rpartition(".")[0]
        return target if target in known else None

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "promptslim" or alias.name.startswith("promptslim."):
                    found = resolve(alias.name[len("promptslim."):] if "." in alias.name else "")
                    if found is not None:
                        out.add(found)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = here if is_pkg else here[:-1]
                base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                mod = ".".join(base + ([node.module] if node.module else []))
            elif node.module == "promptslim" or (node.module or "").startswith("promptslim."):
                mod = node.module[len("promptslim."):] if "." in node.module else ""
            else:
                continue
            for alias in node.names:
                sub = f"{mod}.{alias.name}" if mod else alias.name
                found = sub if sub in known else resolve(mod)
                if found is not None:
                    out.add(found)
    out.discard(name)
    return out


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10_000)
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def layer(name: str) -> int:
    best = max((p for p, _ in LAYERS if name == p or name.startswith(p + ".") or p == ""), key=len)
    return dict(LAYERS)[best]


def long_functions(files: dict[str, Path], limit: int = 60) -> list[str]:
    out = []
    for name, path in files.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                size = node.end_lineno - node.lineno + 1
                if size > limit:
                    out.append(f"{path.as_posix()}:{node.lineno} {node.name} ({size} lines)")
    return out


def result_gets(package: Path, files: dict[str, Path]) -> list[str]:
    out = []
    for path in files.values():
        rel = path.relative_to(package).as_posix()
        if any(rel == f or rel.startswith(f) for f in NOT_RESULT_FILES):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "get":
                receiver = ast.unparse(node.func.value)
                if not NOT_RESULT_RECEIVERS.search(receiver):
                    out.append(f"{rel}:{node.lineno} {receiver}.get(…)")
    return out


def identifiers(tree: ast.AST) -> set[str]:
    """The names code uses (definitions, references, attributes, imports, arguments): not strings or docstrings."""
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name):
            out.add(node.id)
        elif isinstance(node, ast.Attribute):
            out.add(node.attr)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(node.name)
        elif isinstance(node, ast.alias):
            out.update(node.name.split("."))
        elif isinstance(node, ast.arg):
            out.add(node.arg)
        elif isinstance(node, ast.keyword) and node.arg:
            out.add(node.arg)
    return out


def lever_files(package: Path) -> dict[str, list[str]]:
    """Per lever, the .py files whose code names one of its identifiers (and the shipped schemas that do)."""
    out = {}
    for lever, pattern in LEVERS.items():
        rx = re.compile(rf"^(?:{pattern})$")
        names = []
        for path in sorted(package.rglob("*.py")):
            if any(rx.match(i) for i in identifiers(ast.parse(path.read_text(encoding="utf-8")))):
                names.append(path.relative_to(package).as_posix())
        for path in sorted(package.rglob("*.json")):
            if re.search(pattern, path.read_text(encoding="utf-8")):
                names.append(path.relative_to(package).as_posix())
        out[lever] = names
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repo", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--verbose", "-v", action="store_true")
    args = parser.parse_args()
    package = args.repo / "promptslim"
    files = modules(package)
    graph = {name: imports(name, path, files) for name, path in files.items()}
    found = cycles(graph)
    climbs = sorted(f"{a} ({layer(a)}) -> {b} ({layer(b)})" for a, bs in graph.items() for b in bs
                    if layer(b) > layer(a))
    renders = sorted(f"{a} -> {b}" for a, bs in graph.items() for b in bs
                     if layer(a) <= ENGINES and b.split(".")[0] in RENDERERS and a.split(".")[0] not in RENDERERS)
    longs = long_functions(files)
    gets = result_gets(package, files)
    cli = package / "cli.py"
    cli_lines = len(cli.read_text(encoding="utf-8").splitlines()) if cli.is_file() else 0
    levers = lever_files(package)
    print(f"modules: {len(files)}")
    print(f"import cycles: {len(found)}")
    for comp in found:
        print("  " + " <-> ".join(comp))
    print(f"imports that climb a layer: {len(climbs)}")
    for line in climbs:
        print("  " + line)
    print(f"engines importing renderers: {len(renders)}")
    for line in renders:
        print("  " + line)
    print(f"cli.py lines: {cli_lines}")
    print(f"functions over 60 lines: {len(longs)}")
    for line in longs:
        print("  " + line)
    print(f".get( on result data: {len(gets)}")
    for line in gets if args.verbose else gets[:0]:
        print("  " + line)
    for lever, names in levers.items():
        py = [n for n in names if n.endswith(".py")]
        print(f"files naming the {lever} lever: {len(py)} .py + {len(names) - len(py)} other")
        if args.verbose:
            for n in names:
                print("  " + n)


if __name__ == "__main__":
    main()
