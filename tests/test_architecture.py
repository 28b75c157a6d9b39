"""The architecture stays as built: data flows one way (cli → api → renderers → engines → evaluation → results →
leaves → base), no import cycles, and engines never import renderers. Measured from the source by
benchmarks/architecture.py (every import counts, lazy ones and TYPE_CHECKING ones included)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("architecture", REPO / "benchmarks" / "architecture.py")
arch = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(arch)  # type: ignore[union-attr]
FILES = arch.modules(REPO / "promptslim")
GRAPH = {name: arch.imports(name, path, FILES) for name, path in FILES.items()}


def test_every_module_has_a_layer():
    unplaced = [name for name in FILES if name and arch.layer(name) == arch.layer("") and name.split(".")[0] != "api"]
    assert unplaced == [], "add these modules to benchmarks/architecture.py LAYERS"


def test_no_import_cycles():
    assert arch.cycles(GRAPH) == []


def test_no_import_climbs_a_layer():
    assert [(a, b) for a, bs in GRAPH.items() for b in sorted(bs) if arch.layer(b) > arch.layer(a)] == []


def test_engines_never_import_renderers():
    engines = [name for name in FILES if arch.layer(name) <= arch.ENGINES]
    assert [(a, b) for a in engines for b in GRAPH[a] if b.split(".")[0] in arch.RENDERERS] == []
