"""`promptslim import promptfoo`: a suite written in promptfoo's documented formats runs with `eval` on the fake
server and passes or fails each case exactly as promptfoo's assertions demand; what cannot map is listed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.cli import app

# What the fake model answers, by question; under the chat prompt's system message it answers with a preamble.
ANSWERS = {
    "How do I get a refund?": "Hi Ana! You can request a refund under Billing within 30 days.",
    "Say yes": "yes",
    "Give me JSON": '{"status": "ok", "count": 3}',
    "Where is my invoice?": "Your invoice is under Billing > Invoices.",
    "Reset password": "To reset your PASSWORD, open Settings.",
}
CHAT_SYSTEM = "You are a helpful support agent. Be brief."

CONFIG = """\
description: Support bot, the shapes promptfoo's docs show
prompts:
  - file://prompts/support.txt
  - file://prompts/chat.json
  - 'Answer the customer: {{question}}'
providers:
  - id: openai:chat:gpt-4o-mini
    config:
      temperature: 0
      max_tokens: 200
      apiKey: sk-never-copy-this-0123456789
  - anthropic:messages:claude-3-5-haiku-latest
defaultTest:
  vars:
    customer: Ana
  assert:
    - type: not-icontains
      value: as an ai
    - type: llm-rubric
      value: Is polite and answers the question
    - type: cost
      threshold: 0.002
tests:
  - description: refund
    vars:
      question: How do I get a refund?
    assert:
      - type: contains-any
        value: [refund, return]
      - type: starts-with
        value: Hi
      - type: javascript
        value: output.length < 500
      - type: python
        value: file://checks/never.py
  - description: say yes
    vars:
      question: Say yes
    assert:
      - type: equals
        value: 'yes'
      - type: not-contains
        value: 'no'
      - type: webhook
        value: https://example.com/grade
  - description: json
    vars:
      question: Give me JSON
    assert:
      - type: is-json
        value: {type: object, required: [status], properties: {count: {type: integer}}}
      - type: equals
        value: {status: ok, count: 3}
      - type: latency
        threshold: 2000
  - description: invoice regex
    vars:
      question: Where is my invoice?
    assert:
      - type: regex
        value: 'Billing\\s*>\\s*(?<page>Invoices)'
      - type: not-regex
        value: refund
      - type: word-count
        value: {max: 5}
  - description: expanded
    vars:
      question: [Reset password, 'Where is my invoice?']
    assert:
      - type: icontains-all
        value: [password, reset]
      - type: not-contains-all
        value: [Billing, refund]
  - file://tests/cases.csv
"""

CSV = """\
question,__expected1,__expected2,__description
"Reset password","icontains: password","not-icontains-any: refund,invoice",csv reset
"Where is my invoice?","contains: Invoices","starts-with:Your",csv invoice
"How do I get a refund?","llm-rubric: Mentions the 30 days","similar(0.8):refund",csv rubric
"Say yes","python: output == 'yes'","Yes",csv default equals
"""

# Each case's assertions as promptfoo states them, the ones promptslim maps (the listed ones are left out on
# purpose: they are checked separately). defaultTest's not-icontains applies to every case.
EXPECTED_ASSERTS = {
    "refund": [("contains-any", ["refund", "return"]), ("starts-with", "Hi")],
    "say-yes": [("equals", "yes"), ("not-contains", "no")],
    "json": [("is-json-required", ("status", "count")), ("equals-json", {"status": "ok", "count": 3})],
    "invoice-regex": [("regex", r"Billing\s*>\s*(Invoices)"), ("not-regex", "refund"), ("word-count-max", 5)],
    "expanded-1": [("icontains-all", ["password", "reset"]), ("not-contains-all", ["Billing", "refund"])],
    "expanded-2": [("icontains-all", ["password", "reset"]), ("not-contains-all", ["Billing", "refund"])],
    "csv-reset": [("icontains", "password"), ("not-icontains-any", ["refund", "invoice"])],
    "csv-invoice": [("contains", "Invoices"), ("starts-with", "Your")],
    "csv-rubric": [],
    "csv-default-equals": [("equals", "Yes")],
}
QUESTION = {"refund": "How do I get a refund?", "say-yes": "Say yes", "json": "Give me JSON",
            "invoice-regex": "Where is my invoice?", "expanded-1": "Reset password", "expanded-2": "Where is my invoice?",
            "csv-reset": "Reset password", "csv-invoice": "Where is my invoice?", "csv-rubric": "How do I get a refund?",
            "csv-default-equals": "Say yes"}


def promptfoo_passes(kind: str, value, output: str) -> bool:
    """promptfoo's documented semantics, written out plainly (not through the importer)."""
    low = output.lower()
    if kind == "contains":
        return value in output
    if kind == "not-contains":
        return value not in output
    if kind == "icontains":
        return value.lower() in low
    if kind == "contains-any":
        return any(v in output for v in value)
    if kind == "not-icontains-any":
        return not any(v.lower() in low for v in value)
    if kind == "icontains-all":
        return all(v.lower() in low for v in value)
    if kind == "not-contains-all":
        return not all(v in output for v in value)
    if kind == "starts-with":
        return output.startswith(value)
    if kind == "equals":
        return output == value
    if kind == "equals-json":
        try:
            return json.loads(output) == value
        except json.JSONDecodeError:
            return False
    if kind == "is-json-required":
        try:
            data = json.loads(output)
        except json.JSONDecodeError:
            return False
        return isinstance(data, dict) and value[0] in data and isinstance(data.get(value[1], 0), int)
    if kind == "regex":
        return re.search(value, output) is not None
    if kind == "not-regex":
        return re.search(value, output) is None
    if kind == "word-count-max":
        return len(output.split()) <= value
    raise AssertionError(kind)


def fake_answer(body: dict) -> str:
    messages = body["messages"]
    if len(messages) == 1 and '"score"' not in messages[0]["content"] and "steps" in messages[0]["content"]:
        return json.dumps({"steps": ["Check the answer is polite.", "Check it answers."]})
    if len(messages) == 1 and messages[0]["role"] == "user" and "evaluation steps" in messages[0]["content"].lower():
        return json.dumps({"reason": "fine", "score": 9})
    user = messages[-1]["content"]
    question = next(q for q in ANSWERS if q in user)
    return answer_to(question, any(m["role"] == "system" and m["content"] == CHAT_SYSTEM for m in messages))


def answer_to(question: str, chat: bool) -> str:
    if not chat:
        return ANSWERS[question]
    return ("As an AI, " if "refund" in question else "Sure! ") + ANSWERS[question]


@pytest.fixture
def suite(tmp_path, monkeypatch):
    """A git repository holding a promptfoo suite under suite/ (promptslim's folders do not exist yet)."""
    root = tmp_path / "repo"
    files = {
        "suite/promptfooconfig.yaml": CONFIG,
        "suite/prompts/support.txt": "You are a support agent for ACME. Greet {{customer}} by name.\n"
                                     "- Answer in at most three sentences.\n- Be polite.\n\n"
                                     "Customer question: {{question}}\n",
        "suite/prompts/chat.json": json.dumps([{"role": "system", "content": CHAT_SYSTEM},
                                               {"role": "user", "content": "{{question}}"}], indent=2),
        "suite/tests/cases.csv": CSV,
        # would leave a marker if anything ever ran it
        "suite/checks/never.py": "open('RAN', 'w').write('executed')\n",
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text, encoding="utf-8")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    monkeypatch.chdir(root)
    return root


def cli(*args: str):
    return CliRunner().invoke(app, list(args))


def test_import_writes_templates_evalsets_and_config(suite):
    result = cli("import", "promptfoo", "suite/promptfooconfig.yaml")
    assert result.exit_code == 0, result.output
    for rel in ("prompts/support.j2", "prompts/chat.j2", "prompts/prompt.j2", "evalsets/support.yaml",
                "evalsets/chat.yaml", "evalsets/prompt.yaml", "promptslim.toml"):
        assert (suite / rel).is_file(), rel
    # a text prompt is promptfoo's user message; a chat JSON prompt keeps its roles
    assert (suite / "prompts/support.j2").read_text().startswith("{# role: user #}\nYou are a support agent")
    assert (suite / "prompts/chat.j2").read_text() == (f"{{# role: system #}}\n{CHAT_SYSTEM}\n"
                                                       "{# role: user #}\n{{question}}\n")
    config = (suite / "promptslim.toml").read_text()
    assert 'model = "gpt-4o-mini"' in config and "max_tokens = 200" in config
    assert "sk-never" not in config and "sk-never" not in result.output
    evalset = yaml.safe_load((suite / "evalsets/support.yaml").read_text())
    assert [c["id"] for c in evalset["cases"]] == list(EXPECTED_ASSERTS)
    assert all(c["vars"]["customer"] == "Ana" for c in evalset["cases"])  # defaultTest vars merged
    assert not (suite / "RAN").exists() and not (suite / "suite/RAN").exists()


def test_every_unmapped_piece_is_listed_with_its_place(suite):
    result = cli("import", "promptfoo", "suite/promptfooconfig.yaml")
    out = result.output
    for kind, where in (("javascript", "tests[0].assert[2]"), ("python", "tests[0].assert[3]"),
                        ("webhook", "tests[1].assert[2]"), ("latency", "tests[2].assert[2]"),
                        ("cost", "defaultTest.assert[2]"), ("similar", "tests/cases.csv:4: __expected2"),
                        ("python", "tests/cases.csv:5: __expected1"), ("provider", "providers[1]")):
        line = next((l for l in out.splitlines() if l.strip().startswith(f"{kind} ×") and where in l), None)
        assert line is not None, f"{kind} at {where} not listed:\n{out}"
    assert "never executed" in out
    data = json.loads(cli("import", "promptfoo", "suite/promptfooconfig.yaml", "--force", "--json").stdout)
    kinds = {s["kind"] for s in data["skipped"]}
    assert {"javascript", "python", "webhook", "latency", "cost", "similar", "provider"} <= kinds


@pytest.mark.parametrize("prompt", ["support", "chat", "prompt"])
def test_imported_cases_pass_and_fail_as_promptfoo_would(suite, fake, prompt):
    assert cli("import", "promptfoo", "suite/promptfooconfig.yaml").exit_code == 0
    fake.handler = fake_answer
    result = cli("eval", f"prompts/{prompt}.j2", "--judge-model", "none", "--json")
    assert result.exit_code == 0, result.output
    got = {c["id"]: c["score"] for c in json.loads(result.stdout)["cases"]}
    expected = {}
    for case_id, asserts in EXPECTED_ASSERTS.items():
        output = answer_to(QUESTION[case_id], prompt == "chat")
        checks = [("not-icontains-any", ["as an ai"]), *asserts]  # defaultTest's assertion comes first
        expected[case_id] = 1.0 if all(promptfoo_passes(k, v, output) for k, v in checks) else 0.0
    assert got == expected
    assert 0 < sum(expected.values()) < len(expected)  # the suite has both outcomes for this prompt


def test_rubrics_become_criteria_and_per_case_expected(suite):
    assert cli("import", "promptfoo", "suite/promptfooconfig.yaml").exit_code == 0
    evalset = yaml.safe_load((suite / "evalsets/support.yaml").read_text())
    cases = {c["id"]: c for c in evalset["cases"]}
    # the CSV adds its own rubric to one case: rubrics differ, so each case carries its own as `expected`
    assert "expected output" in evalset["criteria"]
    assert cases["csv-rubric"]["expected"] == "Is polite and answers the question\nMentions the 30 days"
    assert cases["refund"]["expected"] == "Is polite and answers the question"


def test_one_shared_rubric_is_the_criteria_and_the_judge_grades(tmp_path, monkeypatch, fake):
    root = tmp_path / "r"
    (root / "suite").mkdir(parents=True)
    (root / "suite/promptfooconfig.yaml").write_text(
        "prompts: ['Reply to: {{question}}']\n"
        "providers: [openai:gpt-4o-mini]\n"
        "defaultTest:\n  assert:\n    - {type: llm-rubric, value: Answers politely, threshold: 0.8}\n"
        "tests:\n  - vars: {question: Say yes}\n  - vars: {question: Reset password}\n")
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    monkeypatch.chdir(root)
    assert cli("import", "promptfoo", "suite/promptfooconfig.yaml").exit_code == 0
    evalset = yaml.safe_load((root / "evalsets/prompt.yaml").read_text())
    assert evalset["criteria"] == "Answers politely" and evalset["threshold"] == 0.8
    assert all("expected" not in c and "assert" not in c for c in evalset["cases"])
    fake.handler = fake_answer
    result = cli("eval", "prompts/prompt.j2", "--judge-model", "gpt-4o-mini", "--json")
    assert result.exit_code == 0, result.output
    scores = [c["score"] for c in json.loads(result.stdout)["cases"]]
    assert scores == [pytest.approx(0.9), pytest.approx(0.9)]  # GEval's 9/10 from the fake judge


def test_refuses_to_overwrite_without_force(suite):
    assert cli("import", "promptfoo", "suite/promptfooconfig.yaml").exit_code == 0
    (suite / "prompts/support.j2").write_text("edited by hand\n")
    again = cli("import", "promptfoo", "suite/promptfooconfig.yaml")
    assert again.exit_code == 2
    assert again.stderr.strip().splitlines() == [
        "error: prompts/support.j2: exists (and 5 more) — nothing written; pass --force to overwrite"]
    assert (suite / "prompts/support.j2").read_text() == "edited by hand\n"
    forced = cli("import", "promptfoo", "suite/promptfooconfig.yaml", "--force")
    assert forced.exit_code == 0 and "{{question}}" in (suite / "prompts/support.j2").read_text()
    assert "promptslim.toml not changed" in forced.output  # a config that exists is never rewritten


def test_a_nunjucks_only_filter_is_listed_not_written(tmp_path, monkeypatch):
    root = tmp_path / "r"
    (root / "s").mkdir(parents=True)
    (root / "s/promptfooconfig.yaml").write_text(
        "prompts:\n  - 'Context: {{ ctx | dump }} Q: {{q}}'\n  - 'Plain {{q}}'\n"
        "tests:\n  - vars: {q: hi, ctx: {a: 1}}\n    assert: [{type: contains, value: hi}]\n")
    monkeypatch.chdir(root)
    result = cli("import", "promptfoo", "s/promptfooconfig.yaml")
    assert result.exit_code == 0, result.output
    assert not (root / "prompts/prompt.j2").exists() and (root / "prompts/prompt-2.j2").is_file()
    assert re.search(r"prompt ×1: not imported: .*filter named 'dump'.* — promptfooconfig.yaml: prompts\[0\]",
                     result.output), result.output


BAD = [
    ("tests: file://../outside.csv\n", "tests: 'file://../outside.csv' points outside"),
    ("prompts: ['{{q}}']\ntests:\n  - assert: [{value: x}]\n", "tests[0].assert[0]: an assertion is a mapping with a 'type'"),
    ("prompts: ['{{q}}'\n", "promptfooconfig.yaml:2: invalid YAML"),
    ("a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
     "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: &f [*e,*e,*e,*e,*e,*e,*e,*e]\n"
     "g: [*f,*f,*f,*f,*f,*f,*f,*f,*f,*f]\n", "once YAML aliases are expanded"),
    ("x: " + "[" * 5000 + "]" * 5000 + "\n", "nested too deeply"),
    ("prompts: ['{{q}}']\ntests:\n  - vars: {q: [" + ",".join(["a"] * 200) + "], r: [" + ",".join(["b"] * 200) + "]}\n",
     "expands to 40,000 cases"),
    ("prompts: ['{{q}}']\ntests: !!python/object:os.system [echo]\n", "invalid YAML"),
    ("prompts: ['{{q}}']\ntests: [{vars: {q: a}, options: 5}]\n", "tests[0].options: must be a mapping"),
    ("prompts: ['{{q}}']\nproviders: [{id: 5}]\ntests: [{vars: {q: a}}]\n", "providers[0].id: a provider id"),
    ("prompts: ['{{q}}']\ntests: [{vars: {q: 'file://x.png'}}]\n", "a var is not mapped: file://x.png"),
    ("prompts: ['{{q}}']\ntests: [{vars: {q: a}, assert: [{type: contains-any, value: 5}]}]\n",
     "nothing promptslim can grade — no assertion maps and there is no llm-rubric (first not mapped: "
     "promptfooconfig.yaml: tests[0].assert[0]: contains-any: not mapped: promptslim cannot express contains-any "
     "with this value (5)); pass --criteria"),
]


@pytest.mark.parametrize("config,message", BAD)
def test_bad_input_is_one_line_and_exit_2(tmp_path, monkeypatch, config, message):
    root = tmp_path / "r"
    (root / "s").mkdir(parents=True)
    (tmp_path / "r/outside.csv").write_text("q\nhi\n")
    (root / "s/promptfooconfig.yaml").write_text(config)
    monkeypatch.chdir(root)
    result = cli("import", "promptfoo", "s/promptfooconfig.yaml")
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], result.stderr
    assert not (root / "prompts").exists() and not (root / "evalsets").exists()


def test_a_symlinked_test_file_is_refused(tmp_path, monkeypatch):
    root = tmp_path / "r"
    (root / "s").mkdir(parents=True)
    (root / "s/promptfooconfig.yaml").write_text("prompts: ['{{q}}']\ntests: file://t.csv\n")
    (root / "s/t.csv").symlink_to("/etc/passwd")
    monkeypatch.chdir(root)
    result = cli("import", "promptfoo", "s/promptfooconfig.yaml")
    assert result.exit_code == 2
    assert result.stderr.strip() == "error: t.csv: is a symlink (-> /etc/passwd) — promptslim reads templates and " \
                                    "eval sets only as regular files inside the repository"


def test_code_and_remote_sources_are_listed_never_run(tmp_path, monkeypatch):
    root = tmp_path / "r"
    (root / "s").mkdir(parents=True)
    (root / "s/gen.py").write_text("open('RAN', 'w')\n")
    (root / "s/promptfooconfig.yaml").write_text(
        "prompts:\n  - file://gen.py:make_prompt\n  - 'Hello {{q}}'\n"
        "tests:\n  - file://gen.py:make_tests\n  - https://docs.google.com/spreadsheets/d/x/edit\n"
        "  - vars: {q: hi}\n    assert: [{type: icontains, value: HI}]\n")
    monkeypatch.chdir(root)
    result = cli("import", "promptfoo", "s/promptfooconfig.yaml")
    assert result.exit_code == 0, result.output
    assert "prompt ×1: not imported: file://gen.py:make_prompt is a prompt function — never executed" in result.output
    assert "tests ×1: not imported: file://gen.py:make_tests generates tests with code" in result.output
    assert "is remote" in result.output
    assert not (root / "RAN").exists() and not (root / "s/RAN").exists()
