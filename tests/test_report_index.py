"""`promptslim report`: the reviewer index over every template, with figures recomputed here independently."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import jinja2
import pytest
import yaml
from genai_prices import Usage, calc_price
from typer.testing import CliRunner

import promptslim.cli
from promptslim import savings
from promptslim.report import write_index_result
from promptslim.tokens import get_encoding
from typed import complete_ablation

A_SOURCE = "You are the helpful assistant of {{ shop }}.\n- Greet the customer.\n- Answer in one sentence.\n"
B_SOURCE = "Summarize the text the user sends in three bullet points.\n"
C_SOURCE = "Hello {{ name }}, how can I help?\n"
A_CASES = [{"id": "a1", "vars": {"shop": "Acme"}, "input": "Where is my parcel?",
            "assert": [{"type": "contains", "value": "parcel"}]},
           {"id": "a2", "vars": {"shop": "Globex Corporation"}, "input": "Can I pay by bank transfer, please?",
            "assert": [{"type": "contains", "value": "pay"}]},
           {"id": "a3", "vars": {"shop": "Initech"}, "input": "Hi", "assert": [{"type": "max-words", "value": 40}]}]
A_CPM, B_CPM = 200_000, 50_000
A_OUTPUT = 21.5
A_SAVED_PER_CALL = 0.0000012
CONFIG = f"""model = "gpt-4o-mini"
[prompts."a"]
calls_per_month = {A_CPM}
[prompts."sub/b"]
calls_per_month = {B_CPM}
"""


def build_index():
    """The savings engine's result as JSON data, and the report files written from it (as the CLI does)."""
    result = savings.build_index()
    files = write_index_result(result, Path.cwd())
    return SimpleNamespace(data=result.to_json(), files=files)


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ablation_json(template: str, template_sha: str, saved_per_call: float, cpm: int, output_tokens: float) -> str:
    """A complete ablation.json (the loader believes only files that satisfy the published schema)."""
    return json.dumps(complete_ablation({
        "template": template, "template_sha256": template_sha, "git_commit": "abc1234def5678abc1234def5678abc1234def5",
        "model": "gpt-4o-mini", "judge_model": "gpt-4o", "evalset": "evalsets/a.yaml", "cases": 3, "repeats": 1,
        "margin": 0.02, "calls_per_month": cpm, "tokens_approximate": False,
        "baseline": {"input_tokens": 40.0, "output_tokens": output_tokens, "score": 0.9, "ci": [0.8, 1.0],
                     "pass_rate": 1.0, "usd_per_call": 0.001, "usd_per_month": 0.001 * cpm,
                     "usd_per_usable_output": 0.001},
        "units": [{"id": 1, "line": 2, "text": "Greet the customer.", "verdict": "removable", "input_tokens_saved": 5.0,
                   "output_tokens_delta": 0.0, "score_delta": 0.0, "ci": [-0.01, 0.01]},
                  {"id": 2, "line": 3, "text": "Answer in one sentence.", "verdict": "keep", "input_tokens_saved": 6.0,
                   "output_tokens_delta": 0.0, "score_delta": -0.5, "ci": [-0.6, -0.4]}],
        "slim": {"removed": [1], "path": "reports/a/slim.j2", "input_tokens": 35.0, "output_tokens": 21.0,
                 "score": 0.9, "score_delta": 0.0, "ci": [-0.01, 0.01], "verdict": "removable",
                 "usd_per_call_saved": saved_per_call, "usd_per_month_saved": saved_per_call * cpm},
        "created_at": "2026-11-22T10:00:00+00:00",
    }))


@pytest.fixture
def repo(tmp_path, monkeypatch) -> Path:
    root = tmp_path / "repo"
    files = {
        "promptslim.toml": CONFIG,
        "prompts/a.j2": A_SOURCE,
        "evalsets/a.yaml": yaml.safe_dump({"cases": A_CASES}, sort_keys=False),
        "prompts/sub/b.j2": B_SOURCE,  # no eval set: rendered with no variables
        "prompts/c.j2": C_SOURCE,  # no eval set and needs a variable: not renderable
        "reports/a/ablation.json": ablation_json("prompts/a.j2", sha(A_SOURCE), A_SAVED_PER_CALL, A_CPM, A_OUTPUT),
        # b's ablation was made on an older text: stale, so neither its savings nor its output tokens count
        "reports/sub/b/ablation.json": ablation_json("prompts/sub/b.j2", sha("an older text\n"), 0.00019, B_CPM, 50.0),
    }
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    monkeypatch.chdir(root)
    return root


def chat_tokens(system: str, user: str) -> int:
    enc = get_encoding("o200k_base")
    return 3 + sum(3 + len(enc.encode(role)) + len(enc.encode(content))
                   for role, content in (("system", system), ("user", user)))


def expected_totals() -> tuple[float, float, float, float]:
    """(a $/month, b $/month, now, removable), from jinja2, tiktoken and genai-prices directly."""
    env = jinja2.Environment(trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    a_tokens = [chat_tokens(env.from_string(A_SOURCE).render(**c["vars"]).strip(), c["input"]) for c in A_CASES]
    b_tokens = chat_tokens(B_SOURCE.strip(), "")
    price_in = float(calc_price(Usage(input_tokens=1_000_000), "gpt-4o-mini").input_price)
    price_out = float(calc_price(Usage(output_tokens=1_000_000), "gpt-4o-mini").output_price)
    a = (sum(a_tokens) / len(a_tokens) * price_in + A_OUTPUT * price_out) / 1e6 * A_CPM
    b = b_tokens * price_in / 1e6 * B_CPM
    return a, b, a + b, A_SAVED_PER_CALL * A_CPM


def report(*args: str):
    return CliRunner().invoke(promptslim.cli.app, ["report", *args])


def test_report_writes_index_md_and_html_with_the_total_line(repo):
    result = report()
    assert result.exit_code == 0, result.output
    _, _, now, removable = expected_totals()
    line = f"${now:,.2f}/month now, ${removable:,.2f}/month found removable"
    assert line in result.stdout
    md = (repo / "reports" / "index.md").read_text(encoding="utf-8")
    html = (repo / "reports" / "index.html").read_text(encoding="utf-8")
    assert f"**{line}**" in md
    assert line in html
    assert "reports/index.md" in result.stdout and "reports/index.html" in result.stdout
    assert "3 templates, 2 ablated, 1 stale" in md


def test_per_template_figures(repo):
    result = build_index()
    a_usd, b_usd, now, removable = expected_totals()
    by_name = {e["name"]: e for e in result.data["entries"]}
    assert set(by_name) == {"a", "sub/b", "c"}
    assert by_name["a"]["usd_per_month"] == pytest.approx(a_usd)
    assert by_name["a"]["output_tokens"] == A_OUTPUT
    assert by_name["sub/b"]["usd_per_month"] == pytest.approx(b_usd)
    assert by_name["sub/b"]["output_tokens"] == 0.0  # the stale ablation's output tokens are not used
    assert by_name["c"]["usd_per_month"] is None and "not renderable" in by_name["c"]["rendered_with"]
    assert by_name["a"]["ablation"]["removable"] == [1]
    assert by_name["a"]["ablation"]["slim_removed"] == [1]
    assert by_name["a"]["ablation"]["usd_per_month_saved"] == pytest.approx(removable)
    assert result.data["totals"]["usd_per_month_now"] == pytest.approx(now)
    assert result.files == {"md": Path("reports/index.md"), "html": Path("reports/index.html")}


def test_stale_ablation_is_marked_and_not_counted(repo):
    report()
    md = (repo / "reports" / "index.md").read_text(encoding="utf-8")
    row = next(line for line in md.splitlines() if line.startswith("| `prompts/sub/b.j2`"))
    assert "⚠️ stale" in row and "stale — template changed since" in row
    assert f"${0.00019 * B_CPM:,.2f}" not in md  # b's stale savings appear nowhere
    current = next(line for line in md.splitlines() if line.startswith("| `prompts/a.j2`"))
    assert "current" in current and "1 of 2 (unit 1)" in current  # "1 of 2: 1" read as a ratio (issue 24)


def test_editing_a_template_makes_its_ablation_stale(repo):
    (repo / "prompts" / "a.j2").write_text(A_SOURCE + "- Sign with the shop name.\n", encoding="utf-8")
    result = report("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["totals"]["usd_per_month_removable"] == 0.0
    assert data["totals"]["stale"] == 2
    entry = next(e for e in data["entries"] if e["name"] == "a")
    assert entry["ablation"]["stale"] is True and entry["output_tokens"] == 0.0


def test_json_output(repo):
    result = report("--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    _, _, now, removable = expected_totals()
    assert data["totals"]["usd_per_month_now"] == pytest.approx(now)
    assert data["totals"]["usd_per_month_removable"] == pytest.approx(removable)
    assert (data["totals"]["templates"], data["totals"]["ablated"], data["totals"]["stale"]) == (3, 2, 1)
    assert [e["template"] for e in data["entries"]] == ["prompts/a.j2", "prompts/c.j2", "prompts/sub/b.j2"]


def test_report_makes_no_api_call(repo, fake):
    assert report().exit_code == 0
    assert fake.calls == 0


def test_no_templates(tmp_path, monkeypatch):
    (tmp_path / "prompts").mkdir()
    monkeypatch.chdir(tmp_path)
    result = report()
    assert result.exit_code == 0, result.output
    assert "$0.00/month now, $0.00/month found removable" in result.stdout
    assert "No templates found" in (tmp_path / "reports" / "index.md").read_text(encoding="utf-8")


def test_corrupt_ablation_json_is_skipped_with_a_warning_naming_it(repo):
    (repo / "reports" / "a" / "ablation.json").write_text("{not json", encoding="utf-8")
    result = report()
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: reports/a/ablation.json: not a valid ablation result (not JSON:")
    assert "$0.00/month found removable" in result.stdout
