"""The real-shaped corpus (tests/corpus/, issue 26): agent prompts with tool docs (TypeScript, JSON, YAML), nested
lists with code, XML-sectioned prompts, fence-wrapped prompts, few-shot classification and chat prompts, CJK and
Persian text. Every variant family keeps what the original had balanced, a .j2 variant compiles, the units left
are the units kept, and no unit holds a quarter of a prompt. `python benchmarks/units_corpus.py` prints the
figures."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structure import new_problems

from promptslim.errors import InputError
from promptslim.template.layout import Lines
from promptslim.template.sandbox import compile_source
from promptslim.tokens import count_text
from promptslim.template.units import remove_units, segment

CORPUS = Path(__file__).parent / "corpus"
FILES = sorted(p.name for p in CORPUS.iterdir())


def forms() -> list[tuple[str, bool]]:
    """Each corpus prompt as plain text, and as a template when it compiles as one."""
    out = []
    for name in FILES:
        out.append((name, True))
        try:
            compile_source((CORPUS / name).read_text(encoding="utf-8"), f"prompts/{name}.j2")
            out.append((name, False))
        except InputError:
            pass
    return out


FORMS = forms()
IDS = [f"{name}-{'txt' if plain else 'j2'}" for name, plain in FORMS]


def load(name: str, plain: bool):
    source = (CORPUS / name).read_text(encoding="utf-8")
    rel = f"prompts/{Path(name).stem}.{'txt' if plain else 'j2'}"
    units, fixed = segment(source, rel, plain)
    return source, rel, units, fixed


def check(source: str, rel: str, units: list, removed: list, plain: bool) -> None:
    variant = remove_units(source, removed)
    assert new_problems(source, variant) == [], ([u.id for u in removed], variant)
    if not plain:
        compile_source(variant, rel)
    gone = {u.id for u in removed}
    assert [u.text for u in segment(variant, rel, plain)[0]] == [u.text for u in units if u.id not in gone]


def test_the_corpus_has_every_style_the_issue_names():
    assert len(FILES) >= 12 and sum(not plain for _, plain in FORMS) >= 10


@pytest.mark.parametrize("name, plain", FORMS, ids=IDS)
def test_every_family_of_variants_stays_balanced(name, plain):
    source, rel, units, _ = load(name, plain)
    assert len(units) >= 5
    for removed in [[u] for u in units] + [[v for v in units if v is not u] for u in units] + [units]:
        check(source, rel, units, removed, plain)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_any_subset_of_a_corpus_prompt_stays_balanced(data):
    name, plain = data.draw(st.sampled_from(FORMS), label="prompt")
    source, rel, units, _ = load(name, plain)
    removed = data.draw(st.lists(st.sampled_from(units), unique_by=lambda u: u.id), label="removed")
    check(source, rel, units, removed, plain)


@pytest.mark.parametrize("name, plain", FORMS, ids=IDS)
def test_no_unit_holds_a_quarter_of_a_corpus_prompt_and_every_line_is_shown(name, plain):
    source, rel, units, fixed = load(name, plain)
    total = count_text(source, "gpt-4o-mini")
    assert max(count_text(u.text, "gpt-4o-mini") for u in units) <= total / 3.5
    lines = Lines(source)
    shown = {f.line - 1 for f in fixed}
    for u in units:
        (a, b), = u.spans  # one span: `units` shows exactly the text its removal deletes
        assert " ".join(source[a:b].split()) == u.text
        shown.update(range(lines.of(a), lines.of(max(a, b - 1)) + 1))
    hidden = [i + 1 for i, (a, b) in enumerate(zip(lines.starts, lines.ends)) if source[a:b].strip() and i not in shown]
    assert hidden == []  # no line is neither a unit's nor fixed
