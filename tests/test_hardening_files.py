"""Issue 25, the files promptslim writes and reads back: CSV cells a spreadsheet would run as formulas, forged or
malformed ablation.json, resource limits on eval sets and templates, chart labels. Through the CLI."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fakeserver import Reply
from promptslim.cli import app

CORPUS = Path(__file__).parent / "hostile"
FORMULA = ("=", "+", "-", "@", "\t", "\r", "＝", "＋", "－", "＠")  # OWASP's list, and their full-width forms
PAYLOADS = ["=cmd|' /C calc'!A0", "+1+cmd|' /C calc'!A0", "-2+3", "@SUM(1+1)*cmd|' /C calc'!A0",
            "\t=1+1", "\r=1+1", "＝1+1"]


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def rows(path: str) -> list[dict]:
    with open(path, encoding="utf-8", newline="") as handle:  # a carriage return inside a cell stays one
        return list(csv.DictReader(handle))


def assert_no_live_formula(table: list[dict], numeric: set[str]) -> None:
    for row in table:
        for column, cell in row.items():
            if column in numeric or not cell:
                continue
            assert not cell.startswith(FORMULA), (column, cell)


# ---------------------------------------------------------------- 8. CSV formula injection
def test_eval_csv_writes_an_answer_and_a_case_id_as_text_not_formulas(make_repo, fake):
    cases = [{"id": payload, "input": f"question {i}", "assert": [{"type": "contains", "value": "x"}]}
             for i, payload in enumerate(PAYLOADS)]
    make_repo({"prompts/p.j2": "Be brief.\n", "evalsets/p.yaml": yaml.safe_dump({"cases": cases}),
               "promptslim.toml": '[prices."fake-model"]\ninput = 1.0\noutput = 1.0\n'})
    answers = dict(zip((f"question {i}" for i in range(len(PAYLOADS))), PAYLOADS))
    fake.handler = lambda body: Reply(answers[body["messages"][-1]["content"]])
    result = cli("eval", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none", "--csv", "out.csv")
    assert result.exit_code == 0, result.output
    table = rows("out.csv")
    assert_no_live_formula(table, numeric={"score", "input_tokens", "output_tokens", "judge_errors", "samples",
                                           "truncated", "passed"})
    assert [r["id"] for r in table] == ["'" + p for p in PAYLOADS]  # the OWASP quote prefix, the text kept whole
    assert [r["output"] for r in table] == ["'" + p for p in PAYLOADS]


def test_ablation_csv_writes_unit_texts_as_text_not_formulas(make_repo, fake):
    source = "You are the assistant.\n- =HYPERLINK(\"https://example.invalid\",\"x\")\n- @SUM(1+1)\n- Be brief.\n"
    cases = [{"id": f"c{i}", "input": f"q{i}", "assert": [{"type": "contains", "value": "ok"}]} for i in range(4)]
    make_repo({"prompts/p.j2": source, "evalsets/p.yaml": yaml.safe_dump({"cases": cases}),
               "promptslim.toml": '[prices."fake-model"]\ninput = 1.0\noutput = 1.0\n'})
    fake.handler = lambda body: Reply("ok")
    result = cli("ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none", "--yes")
    assert result.exit_code == 0, result.output
    table = rows("reports/p/ablation.csv")
    assert_no_live_formula(table, numeric={"id", "line", "tokens", "input_tokens_saved", "output_tokens_delta",
                                           "score_delta", "ci_low", "ci_high", "n", "usd_per_call_saved",
                                           "usd_per_month_saved", "judge_errors", "truncated", "in_slim"})
    texts = [r["text"] for r in table]
    assert "'- =HYPERLINK(\"https://example.invalid\",\"x\")" in texts and "'- @SUM(1+1)" in texts


# ---------------------------------------------------------------- 9. a report is read back only when it can be believed
REPORTS = CORPUS / "reports"
FORGED = sorted(p.name for p in REPORTS.glob("*.ablation.json")
                if p.name != "valid.ablation.json" and not p.name.startswith("tolerated_"))
SOURCE = "Be brief.\n- Greet the customer.\n"  # the template the corpus's reports were written for


@pytest.fixture
def indexed(make_repo):
    return make_repo({"promptslim.toml": '[prompts."a"]\ncalls_per_month = 1000\n', "prompts/a.j2": SOURCE})


def test_the_valid_report_of_the_corpus_is_believed(indexed):
    (indexed / "reports" / "a").mkdir(parents=True)
    (indexed / "reports" / "a" / "ablation.json").write_bytes((REPORTS / "valid.ablation.json").read_bytes())
    result = cli("report", "--json")
    assert result.exit_code == 0 and result.stderr == "", result.output
    data = json.loads(result.stdout)
    assert data["entries"][0]["ablation"]["usd_per_month_saved"] == pytest.approx(0.000001 * 1000)
    assert "warnings" not in data


@pytest.mark.parametrize("name", FORGED)
def test_a_forged_or_malformed_ablation_json_is_skipped_with_one_warning(indexed, name):
    (indexed / "reports" / "a").mkdir(parents=True)
    (indexed / "reports" / "a" / "ablation.json").write_bytes((REPORTS / name).read_bytes())
    result = cli("report")
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: reports/a/ablation.json: ") and "skipped" in lines[0], \
        lines
    assert len(lines[0]) < 400
    assert "$0.00/month found removable" in result.stdout  # nothing forged is printed as fact
    index = (indexed / "reports" / "index.md").read_text(encoding="utf-8")
    assert "inf" not in index.lower() and "10,000,000" not in index


def test_a_unit_without_id_reads_as_an_older_file_would_without_a_crash(indexed):
    # main exited 70 here; a key a file lacks now reads as its blank (0), as for a file an older version wrote
    (indexed / "reports" / "a").mkdir(parents=True)
    (indexed / "reports" / "a" / "ablation.json").write_bytes((REPORTS / "tolerated_unit_without_id.ablation.json")
                                                              .read_bytes())
    result = cli("report", "--json")
    assert result.exit_code == 0 and result.stderr == "", result.output
    assert json.loads(result.stdout)["entries"][0]["ablation"]["units"] == 1


def test_a_forged_tier_json_is_skipped(indexed):
    (indexed / "reports" / "a").mkdir(parents=True)
    (indexed / "reports" / "a" / "tier.json").write_bytes((REPORTS / "forged.tier.json").read_bytes())
    result = cli("report", "--json")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: reports/a/tier.json: not a valid tier result (")
    assert json.loads(result.stdout)["totals"]["usd_per_month_removable"] == 0


def test_a_symlinked_report_is_not_followed(indexed, tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_bytes((REPORTS / "valid.ablation.json").read_bytes())
    (indexed / "reports" / "a").mkdir(parents=True)
    (indexed / "reports" / "a" / "ablation.json").symlink_to(outside)
    result = cli("report")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith("warning: reports/a/ablation.json: is a symlink")
    assert "$0.00/month found removable" in result.stdout


def test_count_skips_a_forged_report_and_says_so(indexed):
    (indexed / "reports" / "a").mkdir(parents=True)
    (indexed / "reports" / "a" / "ablation.json").write_bytes((REPORTS / "output_tokens_negative.ablation.json")
                                                              .read_bytes())
    result = cli("count", "prompts/a.j2", "--model", "gpt-4o-mini", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [row["output_tokens"] for row in data["models"]] == [0.0] and data["models"][0]["usd_per_call"] > 0
    notes = data["notes"]
    assert any(n.startswith("reports/a/ablation.json: not a valid ablation result (baseline/output_tokens: ") for n in notes)


# ---------------------------------------------------------------- 10. resource limits, named and configurable
def eval_plan(*extra: str):
    """An eval that stops at its plan (a budget of a millionth of a cent): what gets refused, and how fast."""
    return cli("eval", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none", "--max-cost", "0.0000001",
               *extra)


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    return lines[0]


PRICED = '[prices."fake-model"]\ninput = 1.0\noutput = 1.0\n'


def many_cases(n: int) -> str:
    return "cases:\n" + "".join(f"  - id: c{i}\n    input: \"question {i}\"\n    assert: [{{type: contains, value: ok}}]\n"
                                for i in range(n))


def test_100000_cases_are_refused_at_once_naming_the_limit_and_the_file(make_repo, fake):
    make_repo({"promptslim.toml": PRICED, "prompts/p.j2": "Be brief.\n", "evalsets/p.yaml": many_cases(100_000)})
    result = eval_plan()
    assert result.exit_code == 2, result.output
    assert one_line(result) == ("error: evalsets/p.yaml:30002: more than 10,000 cases (max_cases) — split the eval "
                                "set, or raise max_cases in promptslim.toml")
    assert fake.calls == 0


@pytest.mark.parametrize("suffix", ["yaml", "jsonl"])
def test_max_cases_is_configurable(make_repo, fake, suffix):
    cases = [{"id": f"c{i}", "input": "q", "assert": [{"type": "contains", "value": "ok"}]} for i in range(6)]
    text = yaml.safe_dump({"cases": cases}) if suffix == "yaml" else "".join(json.dumps(c) + "\n" for c in cases)
    make_repo({"promptslim.toml": "max_cases = 5\n" + PRICED, "prompts/p.j2": "Be brief.\n",
               f"evalsets/p.{suffix}": text})
    result = eval_plan()
    assert result.exit_code == 2 and "more than 5 cases (max_cases)" in one_line(result), result.output
    Path("promptslim.toml").write_text("max_cases = 6\n" + PRICED)
    assert eval_plan().exit_code == 3  # planned, then stopped at its budget


@pytest.mark.parametrize("where", ["yaml", "jsonl", "vars", "config"])
def test_nesting_10000_deep_is_refused_with_one_line(make_repo, fake, where):
    deep = "[" * 10_000 + "]" * 10_000
    case = {"id": "a", "input": "hi", "assert": [{"type": "contains", "value": "ok"}]}
    files = {"promptslim.toml": PRICED, "prompts/p.j2": "Be brief.\n", "evalsets/p.yaml": yaml.safe_dump({"cases": [case]})}
    if where == "yaml":
        files["evalsets/p.yaml"] = (CORPUS / "deep_nesting.yaml").read_text()
    elif where == "jsonl":
        files.pop("evalsets/p.yaml")
        files["evalsets/p.jsonl"] = json.dumps(case) + "\n" + '{"id": "b", "vars": {"x": ' + deep + "}}\n"
    elif where == "config":
        files["promptslim.toml"] = PRICED + "[prompts.\"p\"]\ncalls_per_month = 1\n" + f"x = {deep}\n"
    make_repo(files)
    if where == "vars":
        Path("vars.yaml").write_text(f"x: {deep}\n")
        result = cli("count", "prompts/p.j2", "--vars", "vars.yaml")
    else:
        result = eval_plan()
    assert result.exit_code == 2, result.output
    line = one_line(result)
    expected = {"yaml": "error: evalsets/p.yaml:6: ", "jsonl": "error: evalsets/p.jsonl:2: ",
                "vars": "error: vars.yaml:1: ", "config": "error: promptslim.toml: invalid TOML: "}[where]
    assert line.startswith(expected) and "nest" in line, line  # libyaml may refuse first, at its own 1,000 levels


def test_nesting_is_bounded_by_max_nesting(make_repo, fake):
    nested = "[" * 65 + "]" * 65
    make_repo({"promptslim.toml": PRICED, "prompts/p.j2": "Be brief.\n",
               "evalsets/p.yaml": f"cases:\n  - id: a\n    input: hi\n    vars: {{x: {nested}}}\n"})
    result = eval_plan()
    assert result.exit_code == 2, result.output
    assert one_line(result).startswith("error: evalsets/p.yaml:4: nested deeper than 64 levels (max_nesting)")
    Path("promptslim.toml").write_text("max_nesting = 80\n" + PRICED)
    result = eval_plan()
    assert "max_nesting" not in result.output


def test_20000_units_are_refused_before_any_variant_is_built(make_repo, fake):
    source = "You are helpful.\n" + "".join(f"- Rule number {i}: be nice.\n" for i in range(20_000))
    make_repo({"promptslim.toml": PRICED, "prompts/p.j2": source, "evalsets/p.yaml": many_cases(3)})
    result = cli("ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none", "--yes")
    assert result.exit_code == 2, result.output
    assert one_line(result) == ("error: prompts/p.j2: 20,001 instruction units, more than 300 (max_units) — an "
                                "ablation tests each one; group lines with {# promptslim: unit #} … {# promptslim: "
                                "end #}, or raise max_units in promptslim.toml")
    assert fake.calls == 0
    Path("promptslim.toml").write_text("max_units = 20001\n" + PRICED)
    result = cli("ablate", "prompts/p.j2", "--model", "fake-model", "--judge-model", "none", "--max-cost", "1e-9",
                 "--help")
    assert result.exit_code == 0  # the setting is accepted; planning 20,000 variants is left to the benchmark


# ---------------------------------------------------------------- 11. chart labels are plain text
@pytest.mark.parametrize("name", ["a$\\foo{$", "b$x^2$ and $", "c\\$mathdefault{1}$"])
def test_a_template_name_with_math_markup_is_drawn_as_it_is(make_repo, name):
    make_repo({"promptslim.toml": f'[prompts.{json.dumps(name)}]\ncalls_per_month = 1000\n',
               f"prompts/{name}.j2": "Be brief.\n"})
    result = cli("report")
    assert result.exit_code == 0, result.output
    html = Path("reports/index.html").read_text(encoding="utf-8")
    svg = html[html.index("<svg"):html.index("</svg>")]
    import html as htmllib

    assert htmllib.escape(name, quote=False) in svg  # the label as typed, not typeset
    assert re.search(r"> *\$\d", svg)  # money ticks keep their dollar sign, no stray backslash


def test_the_readme_config_block_is_a_valid_config_with_the_limits(tmp_path):
    from promptslim.config import config_from_texts

    text = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = text.split("## Configuration", 1)[1].split("```toml\n", 1)[1].split("```", 1)[0]
    config = config_from_texts(tmp_path, block, None)
    assert (config.max_cases, config.max_units, config.max_nesting, config.timeout) == (10_000, 300, 64, 60.0)
