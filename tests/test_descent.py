"""The tree design's procedure (promptslim/descent.py) on planted answers, and the engine running it: the engine's
verdicts and slim prompt are the pure procedure's (what benchmarks/tree_bench.py measures is what ships)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from scripted import ScriptedBackend, scripted_evaluator

from promptslim.decide import ALPHA, harmless_passes, ladder, search_indices, slim_step
from promptslim.descent import Got, procedure
from promptslim.engine.ablation import run_ablation
from promptslim.hierarchy import allocate, choose_levels
from promptslim.template.tree import Node, Tree

MARGIN = 0.05


def planted_tree(sections: int = 6, per: int = 6) -> Tree:
    nodes, roots = {}, []
    for s in range(sections):
        ids = list(range(s * per + 1, s * per + per + 1))
        sid = f"s{s + 1}"
        for u in ids:
            nodes[f"u{u}"] = Node(f"u{u}", "unit", sid, f"unit {u}", u, (u,))
        nodes[sid] = Node(sid, "section", None, sid, ids[0], tuple(ids), tuple(f"u{u}" for u in ids))
        roots.append(sid)
    return Tree(nodes, tuple(roots))


def drive(tree: Tree, n: int, harmful: set[int], depth: int = 3, usd: dict[str, float] | None = None, deltas=None):
    """Run the procedure where removing any harmful unit breaks every case and nothing else changes an answer
    (or with `deltas(key, indices)` as the answers)."""
    parents = {x: node.parent for x, node in tree.nodes.items()}
    usd = usd or {x: float(len(node.units)) for x, node in tree.nodes.items()}
    levels = choose_levels(parents, set(tree.nodes), usd, n, MARGIN, max_depth=depth)
    alloc = allocate({x: parents[x] for x in levels.tested}, levels.rho)
    gen = procedure(tree, alloc, n, MARGIN, usd, set(tree.nodes), levels.skipped)
    asked: list[tuple[frozenset, tuple[int, ...]]] = []
    ask = next(gen)
    while True:
        got = {}
        for key, idx in ask.runs:
            asked.append((key, idx))
            broken = bool(key & harmful)
            values = deltas(key, idx) if deltas else [-1.0 if broken else 0.0 for _ in idx]
            got[(key, idx)] = Got(values, float(len(key)), True)
        try:
            ask = gen.send(got)
        except StopIteration as stop:
            return stop.value, levels, asked


def test_harmless_sections_go_whole_and_harmful_ones_stop_at_the_interim_look():
    tree = planted_tree()
    out, levels, asked = drive(tree, 100, harmful={7, 20})  # one load-bearing unit in s2, one in s4
    assert levels.depth == 1
    verdicts = {x: d.verdict for x, d in out.decisions.items()}
    assert verdicts == {"s1": "removable", "s2": "keep", "s3": "removable", "s4": "keep", "s5": "removable",
                        "s6": "removable"}
    assert out.decisions["s2"].stage == 1  # keep at the stage-1 look: its stage 2 never ran
    assert not any(key == frozenset(tree.nodes["s2"].units) and idx[0] == 1 for key, idx in asked)
    assert all(out.untested[f"u{u}"] == "removed-with:s1" for u in tree.nodes["s1"].units)
    # N ≥ 79: the slim prompt is searched on a quarter of the cases and verified on the other three quarters
    assert out.split and out.slim and not set(out.slim) & {7, 20}
    assert {u for s in ("s1", "s3", "s5", "s6") for u in tree.nodes[s].units} <= set(out.slim)
    search = {idx for st in out.steps if st.stage == 1 for idx in st.indices}
    assert len(search) == 25 and all(len(set(st.indices) & search) == 0 for st in out.steps if st.stage == 2)


def test_the_verification_starts_with_the_nodes_the_search_saw_twice():
    """Tested nodes passed two looks in the search (their own answers, then joining the set); an untested unit only
    one, so it comes later even when it saves more: one that slipped through fails its rung and stops the ladder."""
    tree = planted_tree()
    usd = {x: float(len(node.units)) for x, node in tree.nodes.items()} | {"u8": 50.0}
    out, _, _ = drive(tree, 100, harmful={7, 20}, usd=usd)
    first_rung = next(st for st in out.steps if st.stage == 2)  # ladder(14) = 4, 7, 11, 14 nodes
    assert set(first_rung.removed) == {u for s in ("s1", "s3", "s5", "s6") for u in tree.nodes[s].units}
    assert 8 in out.slim


def test_untested_sections_the_search_kept_whole_are_a_rung_of_their_own():
    """Of 12 sections only the 8 that save the most are tested at N = 100; the search keeps the untested harmless
    ones whole (none of their parts broke the set), so they are verified as one rung after the tested ones, before
    the parts kept from sections the search had to descend into."""
    tree = planted_tree(sections=12)
    usd = {x: float(len(node.units)) * (100 - int(x[1:].split(".")[0]) if x.startswith("s") else 1)
           for x, node in tree.nodes.items()}
    usd |= {f"u{u}": 1.0 for u in range(1, 73)}
    out, levels, _ = drive(tree, 100, harmful={7, 20, 56}, depth=1, usd=usd)  # in s2, s4 (tested), s10 (untested)
    assert [x for x in levels.tested] == [f"s{i}" for i in range(1, 9)]
    rungs = [set(st.removed) for st in out.steps if st.stage == 2]
    units = lambda *ss: {u for s in ss for u in tree.nodes[s].units}  # noqa: E731
    assert rungs[0] == units("s1", "s3", "s5", "s6", "s7", "s8")
    assert rungs[1] == units("s1", "s3", "s5", "s6", "s7", "s8", "s9", "s11", "s12")
    assert rungs[-1] == units(*tree.roots) - {7, 20, 56} == set(out.slim)


def test_under_a_noisy_judge_the_rungs_are_the_quarters_of_the_sorted_nodes():
    """A judge re-scoring every answer makes each rung nearly a coin flip at 75 cases (decide.harmless_passes says so
    from the search's spread): the verification then cuts decide.ladder's quarters of the kept nodes, sections first,
    instead of the two small lead rungs, and what it ships still holds no harmful unit."""
    tree = planted_tree(sections=12)
    usd = {x: float(len(node.units)) * (100 - int(x[1:].split(".")[0]) if x.startswith("s") else 1)
           for x, node in tree.nodes.items()}
    usd |= {f"u{u}": 1.0 for u in range(1, 73)}
    scores = [-0.2, -0.1, 0.0, 0.1, 0.2]  # sd 0.11, 40% ties: dense, as 0–10 judge scores re-drawn

    def noisy(key: frozenset, idx: tuple[int, ...]) -> list[float]:
        rng = np.random.default_rng([len(key), *sorted(key)])
        drawn = rng.choice(scores, 100, p=[.1, .2, .4, .2, .1])
        return [-1.0 if key & {7, 20, 56} else float(drawn[i]) for i in idx]

    out, levels, _ = drive(tree, 100, harmful={7, 20, 56}, depth=1, usd=usd, deltas=noisy)
    search = [st for st in out.steps if st.stage == 1 and st.verified]
    assert not harmless_passes(noisy(frozenset(search[-1].removed), tuple(search_indices(100))), 75, MARGIN)
    kept = _kept_nodes(tree, search)
    rungs = [len(st.removed) for st in out.steps if st.stage == 2]
    sizes = [sum(len(tree.nodes[x].units) for x in kept[:k]) for k in ladder(len(kept))]
    assert rungs == sizes[:len(rungs)]
    assert not set(out.slim) & {7, 20, 56}


def _kept_nodes(tree: Tree, search) -> list[str]:
    """The nodes the search kept, in the verification's order (sections first): rebuilt from its steps, each kept
    node the units a kept step added."""
    kept, before = [], set()
    for st in search:
        added = set(st.removed) - before
        node = next(x for x, n in tree.nodes.items() if set(n.units) == added and (n.parent is None or
                                                                                    len(n.units) == len(added)))
        kept.append(node)
        before |= added
    return sorted(kept, key=lambda x: tree.nodes[x].parent is not None)


def test_harmless_passes_agrees_with_the_slim_step_it_predicts():
    """The planning rule against a simulation of decide.slim_step itself: sparse deltas pass from the cases an
    unchanged set needs; judge-like ones (sd 0.14) below 80% at 75 cases, above it at 150."""
    assert harmless_passes([0.0] * 20 + [1.0], 59, MARGIN) and not harmless_passes([0.0] * 21, 58, MARGIN)
    rng = np.random.default_rng(3)
    spread = list(rng.normal(0, 0.14, 25))
    for n, predicted in ((75, False), (150, True)):
        assert harmless_passes(spread, n, MARGIN) is predicted
        passed = np.mean([slim_step(list(rng.normal(0, 0.14, n)), MARGIN, ALPHA)[0] for _ in range(300)])
        assert bool(passed >= 0.8) is predicted, passed


def test_below_79_cases_the_slim_prompt_is_a_fixed_sequence_on_every_case():
    tree = planted_tree(sections=2)
    out, _, _ = drive(tree, 75, harmful={7})  # 0.95^75 = 0.021: s1 removable at α/2, every step at 97.5%
    assert not out.split and {x: d.verdict for x, d in out.decisions.items()} == {"s1": "removable", "s2": "keep"}
    # the removable section first, then units by $ (all equal: by line): u7 breaks every case, the sequence stops
    assert out.slim == tree.nodes["s1"].units
    assert [len(st.indices) for st in out.steps] == [75, 75] and not out.steps[-1].verified


def test_an_unchanged_section_is_removable_at_100_cases_only_because_the_sections_get_all_of_alpha():
    out, _, _ = drive(planted_tree(sections=8), 100, harmful=set())
    assert out.decisions["s1"].level == pytest.approx(ALPHA / 8)  # the first Holm step: 0.95^100 = 0.0059 ≤ 0.00625
    assert all(d.verdict == "removable" for d in out.decisions.values())


def test_at_200_cases_the_search_follows_the_tree_and_the_cases_it_did_not_see_verify():
    tree = planted_tree()
    out, levels, asked = drive(tree, 200, harmful={7})
    assert levels.depth == 2 and out.split
    # below s2 (not removable) the units were tested, u7 is keep, the others removable at the reserve's level
    assert out.decisions["u7"].verdict == "keep"
    assert all(out.decisions[f"u{u}"].verdict == "removable" for u in (8, 9, 10, 11, 12))
    assert 7 not in out.slim and set(range(1, 37)) - {7} == set(out.slim)
    verify = [s for s in out.steps if s.stage == 2]
    assert verify and verify[-1].verified and len(verify[-1].indices) == 150
    assert (verify[-1].key, verify[-1].indices) in asked


def test_a_section_that_cost_the_search_some_quality_is_verified_after_the_tested_parts_that_cost_none():
    """At N = 200 the plan tests units too. s3 hides u13, which breaks one of the search's 50 cases (the search keeps
    s3 whole, its mean −0.02 above −margin/2) and 20 of the 150 verifying ones: it must come after the tested units
    that cost the set nothing, not before them because it is a section, or it sinks the rung they share."""
    tree = planted_tree()
    hidden = {0} | set(range(1, 200, 10))  # case 0 is the search's, the odd ones verify

    def answers(key: frozenset, idx: tuple[int, ...]) -> list[float]:
        return [-1.0 if 7 in key or (13 in key and i in hidden) else 0.0 for i in idx]

    out, levels, _ = drive(tree, 200, harmful={7}, deltas=answers)
    assert levels.depth == 2 and out.split
    searched = [st for st in out.steps if st.stage == 1 and st.verified]
    assert 13 in searched[-1].removed  # s3 was kept whole by the search
    units = lambda *ss: {u for s in ss for u in tree.nodes[s].units}  # noqa: E731
    assert set(out.slim) == units("s1", "s4", "s5", "s6") | {8, 9, 10, 11}  # ladder(10) = 3, 5, 8, 10 nodes


# ---------------------------------------------------------------- the engine runs the same procedure
SECTIONS = {"Tone": ["Be kind.", "Stay calm.", "Use plain words."], "Rules": ["Say BONJOUR first.", "Be brief.",
                                                                          "Never guess."],
            "Style": ["Prefer short lines.", "Avoid jargon.", "Stay polite."]}


@pytest.mark.parametrize("n", [80, 160])
def test_the_engine_decides_as_the_pure_procedure_does(tmp_path, n):
    source = "".join(f"## {title}\n" + "".join(f"- {rule}\n" for rule in rules) + "\n"
                     for title, rules in SECTIONS.items())
    backend = ScriptedBackend(lambda messages, params: "BONJOUR" if "BONJOUR" in messages[0]["content"] else "hi")
    ev = scripted_evaluator(tmp_path, source, n, "BONJOUR", backend)
    data = asyncio.run(run_ablation(ev, MARGIN, design="tree")).data
    section = data.sections[0]
    assert section.design == "tree"
    verdicts = {nd.title: nd.verdict.value for nd in section.nodes if nd.tested}
    # 3 sections at α/3 (0.95^80 = 0.0165 ≤ 0.0167): Tone and Style removable, Rules keep (BONJOUR breaks all); at
    # 160 cases the descent tests the units of Rules and the slim prompt is searched on stage 1, verified on stage 2
    assert {t: verdicts[t] for t in SECTIONS} == {"Tone": "removable", "Rules": "keep", "Style": "removable"}
    assert (len(verdicts) > 3) == (n == 160)
    out, _, _ = drive(Tree({nd.id: Node(nd.id, nd.kind, nd.parent, nd.title, nd.line, tuple(nd.units),
                                        tuple(c.id for c in section.nodes if c.parent == nd.id))
                            for nd in section.nodes}, tuple(nd.id for nd in section.nodes if nd.parent is None)),
                       n, harmful={4}, usd={nd.id: float(nd.tokens) for nd in section.nodes})
    assert {x: d.verdict for x, d in out.decisions.items()} == {nd.id: nd.verdict.value for nd in section.nodes
                                                                if nd.tested}
    assert sorted(data.slim.removed) == sorted(out.slim) and 4 not in out.slim and len(out.slim) >= 6
    assert [(st.removed, st.verified, st.stage) for st in data.slim.steps] == [
        (list(st.removed), st.verified, st.stage if out.split else None) for st in out.steps]
