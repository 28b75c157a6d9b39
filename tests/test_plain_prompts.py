"""Plain-text prompts (issue 16): prompts/<name>.txt and .md have no template language; every command takes them."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app
from promptslim.errors import InputError
from promptslim.paths import find_prompts, is_prompt, prompt_of_evalset
from promptslim.template.load import load_template, template_from_source
from promptslim.template.units import segment

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = "prompts/ci_helper.txt"
SECRETS = "- Reference secrets as ${{ secrets.NAME }}; never write a secret's value into a workflow."
PIN = "- Pin every action to a major version, e.g. actions/checkout@v4."


def invoke(*args: str):
    return CliRunner().invoke(app, list(args))


def git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def answer(body: dict) -> str:
    """The fake model follows the system prompt's rules; the last user message picks the topic."""
    system = next((m["content"] for m in body["messages"] if m["role"] == "system"), "")  # every unit removed: none
    user = body["messages"][-1]["content"].lower()
    if "windows" in user:
        return "runs-on: windows-latest"
    if "checks out" in user:
        return "- uses: actions/checkout@v4" if "actions/checkout@v4" in system else "- uses: actions/checkout"
    return "password: ${{ secrets.TOKEN }}" if "${{ secrets.NAME }}" in system else "password: hunter2"


@pytest.fixture
def repo(tmp_path, monkeypatch, fake) -> Path:
    for name in ("prompts", "evalsets"):
        shutil.copytree(REPO / name, tmp_path / name)
    shutil.copy(REPO / "promptslim.toml", tmp_path / "promptslim.toml")
    fake.handler = answer
    monkeypatch.chdir(tmp_path)
    return tmp_path


# --- the example prompt ----------------------------------------------------------------------------------------


def test_the_example_plain_prompt_has_an_eval_set_and_literal_braces():
    source = (REPO / EXAMPLE).read_text(encoding="utf-8")
    assert "${{ secrets.NAME }}" in source
    cases = yaml.safe_load((REPO / "evalsets" / "ci_helper.yaml").read_text(encoding="utf-8"))["cases"]
    assert len(cases) >= 4 and all("vars" not in c and c["input"] for c in cases)
    with pytest.raises(InputError) as err:  # the same text as a Jinja template fails, and says how to fix it
        template_from_source(source, "prompts/ci_helper.j2").render({}, "hi", "evalsets/ci_helper.yaml")
    assert err.value.message.startswith("prompts/ci_helper.j2:4: undefined variable 'secrets'")
    assert "rename it to ci_helper.txt" in err.value.message


def test_plain_units_are_segmented_like_j2_prose():
    t = load_template(REPO / EXAMPLE, REPO)
    assert t.name == "ci_helper" and t.warnings == ()
    assert [(u.line, u.kind) for u in t.units] == [
        (1, "sentence"), (1, "sentence"), (4, "bullet"), (5, "bullet"), (6, "bullet"), (8, "sentence"),
        (8, "sentence"), (10, "sentence"), (12, "code"), (16, "sentence")]
    assert t.units[2].text == SECRETS
    assert [(f.line, f.kind, f.text) for f in t.fixed] == [
        (3, "heading", "Rules:"), (9, "role", "{# role: user #}"), (11, "role", "{# role: assistant #}")]
    # the same prose in a .j2 (braces removed) gives the same units
    j2 = t.source.replace("${{ secrets.NAME }}", "SECRET").replace("${{ secrets.NPM_TOKEN }}", "SECRET")
    assert [u.text for u in template_from_source(j2, "prompts/x.j2").units] == \
           [u.text.replace("${{ secrets.NAME }}", "SECRET").replace("${{ secrets.NPM_TOKEN }}", "SECRET")
            for u in t.units]


def test_plain_text_renders_as_written_with_roles_and_the_input_last():
    t = load_template(REPO / EXAMPLE, REPO)
    messages = t.render({}, "How do I cache npm?")
    assert [m["role"] for m in messages] == ["system", "user", "assistant", "user"]
    assert messages[0]["content"] == t.source.split("{# role: user #}")[0].strip()
    assert "${{ secrets.NAME }}" in messages[0]["content"]
    assert messages[1]["content"] == "How do I give a step my npm token?"
    assert messages[2]["content"].startswith("```yaml\nenv:\n  NODE_AUTH_TOKEN: ${{ secrets.NPM_TOKEN }}\n```")
    assert messages[3] == {"role": "user", "content": "How do I cache npm?"}


def test_plain_text_has_no_template_language():
    source = "Say {{ name }} and {% if x %}{# y #}.\n{# promptslim: keep #}\nKeep this.\nInline {# role: user #} stays.\n"
    t = template_from_source(source, "prompts/x.md")
    assert t.render({}, "q") == [
        {"role": "system", "content": "Say {{ name }} and {% if x %}{# y #}.\nKeep this.\nInline {# role: user #} stays."},
        {"role": "user", "content": "q"}]
    assert [(u.text, u.pinned) for u in t.units] == [
        ("Say {{ name }} and {% if x %}{# y #}.", False), ("Keep this.", True),
        ("Inline {# role: user #} stays.", False)]
    with pytest.raises(InputError) as err:
        template_from_source("Hi.\n{# role: bot #}\nX.\n", "prompts/x.txt")
    assert err.value.message == "prompts/x.txt:2: unknown role 'bot' (use system, user or assistant)"


def test_which_files_are_prompts(tmp_path):
    for rel in ("prompts/a.j2", "prompts/b.txt", "prompts/sub/c.md", "prompts/README.md", "prompts/d.yaml"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x\n")
    assert [p.relative_to(tmp_path).as_posix() for p in find_prompts(tmp_path / "prompts")] == [
        "prompts/a.j2", "prompts/b.txt", "prompts/sub/c.md"]
    assert is_prompt("abc1234:prompts/b.txt") and not is_prompt("prompts/readme.MD")
    assert prompt_of_evalset("evalsets/b.yaml", tmp_path) == "prompts/b.txt"
    assert prompt_of_evalset("evalsets/sub/c.jsonl", tmp_path) == "prompts/sub/c.md"
    assert prompt_of_evalset("evalsets/none.yaml", tmp_path) == "prompts/none.j2"
    assert segment("Use {{ x }}.\n", "prompts/b.txt", plain=True)[0][0].text == "Use {{ x }}."


# --- every command accepts them ----------------------------------------------------------------------------------


def test_units_and_count_accept_a_txt_prompt(repo):
    data = json.loads(invoke("units", EXAMPLE, "--json").stdout)
    assert len(data["units"]) == 10 and data["warnings"] == []
    data = json.loads(invoke("count", EXAMPLE, "--model", "gpt-4o-mini", "--json").stdout)
    assert data["rendered_with"] == "evalsets/ci_helper.yaml (4 cases, mean)"  # input averaged like eval's
    assert data["calls_per_month"] == 50_000 and data["models"][0]["input_tokens"] > 100


def test_eval_runs_the_example_eval_set(repo, fake):
    result = invoke("eval", EXAMPLE, "--model", "gpt-4o-mini", "--judge-model", "none", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["summary"]["score"]["mean"] == 1.0
    assert fake.calls == 4
    last = fake.requests[-1]["messages"]
    assert [m["role"] for m in last] == ["system", "user", "assistant", "user"]
    assert "${{ secrets.NAME }}" in last[0]["content"]


def test_ablate_write_applies_the_slim_prompt_as_plain_text(repo, fake):
    cases = [{"id": f"c{i}", "input": f"Question {i}: how do I log in to the registry?",
              "assert": [{"type": "contains", "value": "${{ secrets."}]} for i in range(40)]
    (repo / "evalsets" / "ci_helper.yaml").write_text(yaml.safe_dump({"cases": cases}), encoding="utf-8")
    source = (repo / EXAMPLE).read_text(encoding="utf-8")
    result = invoke("ablate", EXAMPLE, "--model", "gpt-4o-mini", "--judge-model", "none", "--margin", "0.25",
                    "--yes", "--write")
    assert result.exit_code == 0, result.output
    data = json.loads((repo / "reports" / "ci_helper" / "ablation.json").read_text(encoding="utf-8"))
    assert data["slim"]["path"] == "reports/ci_helper/slim.txt"
    verdicts = {u["text"]: u["verdict"] for u in data["units"]}
    assert verdicts[SECRETS] == "keep"
    assert data["slim"]["removed"]
    slim = (repo / "reports" / "ci_helper" / "slim.txt").read_text(encoding="utf-8")
    assert not (repo / "reports" / "ci_helper" / "slim.j2").exists()
    assert (repo / EXAMPLE).read_text(encoding="utf-8") == slim != source
    assert SECRETS in slim and "{# role: user #}" in slim  # plain text, braces and role lines as written
    assert load_template(repo / EXAMPLE, repo).units  # still a valid plain prompt


def test_check_and_report_include_a_changed_txt_prompt(repo, fake):
    git(repo, "init", "-q", "-b", "main")
    git(repo, "config", "user.email", "t@example.com")
    git(repo, "config", "user.name", "t")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    path = repo / EXAMPLE
    path.write_text(path.read_text(encoding="utf-8").replace(PIN + "\n", ""), encoding="utf-8")
    git(repo, "commit", "-qam", "drop the pin rule")
    result = invoke("check", "--base", "HEAD~1", "--model", "gpt-4o-mini", "--judge-model", "none", "--json")
    assert result.exit_code == 0, result.output  # 1 of 4 cases worse: too few cases to call it a regression
    (entry,) = json.loads(result.stdout[result.stdout.index("{"):])["templates"]
    assert (entry["template"], entry["status"]) == ("prompts/ci_helper.txt", "modified")
    assert (entry["base"]["score"], entry["head"]["score"]) == (1.0, 0.75)
    assert {c["id"]: c["head_score"] for c in entry["per_case"]}["checkout"] == 0.0
    assert entry["head"]["input_tokens"] < entry["base"]["input_tokens"]
    assert "-" + PIN in entry["rendered_diff"]
    assert "prompts/ci_helper.txt" in (repo / "reports" / "check.md").read_text(encoding="utf-8")
    result = invoke("report")
    assert result.exit_code == 0, result.output
    assert "ci_helper" in (repo / "reports" / "index.md").read_text(encoding="utf-8")


def test_a_file_that_is_not_a_prompt_is_refused_with_the_suffixes(repo):
    (repo / "prompts" / "x.yaml").write_text("a: 1\n")
    result = invoke("units", "prompts/x.yaml")
    assert result.exit_code == 2
    assert result.output.strip() == ("error: prompts/x.yaml: prompts are files under prompts/ ending in .j2 "
                                     "(Jinja2 template) or .txt / .md (plain text)")
