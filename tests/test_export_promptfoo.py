"""`promptslim export promptfoo T`: the original and slim prompts as a promptfoo config that sends exactly what
promptslim sends, with assertions that pass and fail as promptslim's do (checked by running the JavaScript)."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
import yaml
from typer.testing import CliRunner

from promptslim.assertions import check
from promptslim.cli import app
from promptslim.evalset import Assertion
from promptslim.template.load import render_messages

TEMPLATE = """You are a support agent for {{ company }}.
- Be polite.
- Answer in at most two sentences.
{# role: user #}
{{ input }}
"""
SLIM = """You are a support agent for {{ company }}.
- Answer in at most two sentences.
{# role: user #}
{{ input }}
"""
EVALSET = r"""criteria: Polite and correct.
threshold: 0.6
cases:
  - id: refund
    vars: {company: ACME}
    input: How do I get a refund?
    expected: Billing > Refunds
    assert:
      - {type: contains, value: refund}
      - {type: not-contains, value: sorry}
      - {type: icontains, value: BILLING}
      - {type: regex, value: '(?i)\Arefunds?\b'}
      - {type: max-words, value: 12}
      - {type: max-sentences, value: 2}
  - id: label
    vars: {company: ACME}
    input: Classify this
    assert:
      - {type: one-of, value: [billing, other]}
      - {type: equals, value: billing}
  - id: json
    vars: {company: 'Z "quoted" Corp'}
    input: JSON please
    assert:
      - {type: is-json}
      - {type: json-schema, value: {type: object, required: [a]}}
      - {type: max-tokens, value: 50}
"""
OUTPUTS = ["Refunds go through Billing > Refunds. Anything else?", "  billing \n", "BILLING", "other",
           "refund? Sorry. One. Two. Three.", '```json\n{"a": 1}\n```', '{"a": 1}', "not json", "",
           "Refund: see billing.\n\nThen wait 3.5 days (e.g. weekends).", "one two three four five six seven eight "
           "nine ten eleven twelve thirteen"]


@pytest.fixture
def repo(make_repo):
    root = make_repo({"prompts/support.j2": TEMPLATE, "reports/support/slim.j2": SLIM,
                      "evalsets/support.yaml": EVALSET,
                      "promptslim.toml": 'model = "gpt-4o-mini"\nbase_url = "http://localhost:8000/v1"\n'
                                         'max_tokens = 300\n'})
    subprocess.run(["git", "init", "-q"], cwd=root, check=True)
    return root


def export(*extra: str):
    return CliRunner().invoke(app, ["export", "promptfoo", "prompts/support.j2", *extra])


def test_each_test_carries_the_messages_promptslim_renders(repo):
    result = export()
    assert result.exit_code == 0, result.output
    assert result.output.startswith("wrote reports/support/promptfooconfig.yaml (3 cases: original vs "
                                    "reports/support/slim.j2)")
    config = yaml.safe_load((repo / "reports/support/promptfooconfig.yaml").read_text())
    assert [p["raw"] for p in config["prompts"]] == ["{{ promptslim_original }}", "{{ promptslim_slim }}"]
    assert config["providers"] == [{"id": "openai:chat:gpt-4o-mini", "config": {
        "apiBaseUrl": "http://localhost:8000/v1", "temperature": 0.0, "max_tokens": 300}}]
    cases = yaml.safe_load(EVALSET)["cases"]
    for test, case in zip(config["tests"], cases):
        assert test["description"] == case["id"]
        for key, source in (("promptslim_original", TEMPLATE), ("promptslim_slim", SLIM)):
            sent = json.loads(test["vars"][key])
            assert sent == render_messages(source, "prompts/support.j2", case["vars"], case["input"])
            assert isinstance(test["vars"][key], str)  # a list var would be expanded into tests by promptfoo
    rubric = config["defaultTest"]["assert"][0]
    assert rubric["type"] == "llm-rubric" and rubric["threshold"] == 0.6
    assert rubric["value"].startswith("Polite and correct.") and "{{ promptslim_expected }}" in rubric["value"]
    assert "not exported: evalsets/support.yaml" in result.output and "max-tokens" in result.output


def javascript(expression: str, output: str) -> bool:
    program = f"const output = {json.dumps(output)};\nprocess.stdout.write(JSON.stringify(Boolean({expression})));\n"
    done = subprocess.run(["node", "-e", program], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def promptfoo_builtin(kind: str, value, output: str) -> bool:
    """promptfoo's documented built-ins the export uses as they are."""
    return {"contains": lambda: value in output, "not-contains": lambda: value not in output,
            "icontains": lambda: value.lower() in output.lower()}[kind]()


@pytest.mark.skipif(shutil.which("node") is None, reason="node runs the exported JavaScript assertions")
def test_exported_assertions_pass_and_fail_as_promptslims_do(repo):
    assert export().exit_code == 0
    config = yaml.safe_load((repo / "reports/support/promptfooconfig.yaml").read_text())
    cases = yaml.safe_load(EVALSET)["cases"]
    compared = 0
    for test, case in zip(config["tests"], cases):
        mine = [a for a in case["assert"] if a["type"] not in ("max-tokens", "json-schema")]
        theirs = [a for a in test["assert"] if a["type"] != "is-json"]  # is-json + schema: promptfoo's ajv
        assert len(mine) == len(theirs)
        for a, exported in zip(mine, theirs):
            for output in OUTPUTS:
                ours = check(Assertion(a["type"], a.get("value"), 1), output) is None
                if exported["type"] == "javascript":
                    got = javascript(exported["value"], output)
                else:
                    got = promptfoo_builtin(exported["type"], exported["value"], output)
                assert got == ours, (a, output)
                compared += 1
    assert compared == 9 * len(OUTPUTS)


def test_without_a_slim_prompt_it_says_to_run_ablate_first(repo):
    (repo / "reports/support/slim.j2").unlink()
    result = export()
    assert result.exit_code == 2
    assert result.stderr.strip() == ("error: reports/support/slim.j2: no slim prompt yet — run `promptslim ablate "
                                     "prompts/support.j2` first")
    assert export("--variant", "fastest").stderr.strip() == "error: --variant fastest: one of slim, rewritten"
