"""deepeval runs with telemetry and .env loading off and writes nothing outside PROMPTSLIM_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import yaml


def judge(body: dict) -> str:
    text = body["messages"][-1]["content"]
    if len(body["messages"]) > 1:
        return "Happy to help."
    if "Evaluation Steps:" in text:
        return json.dumps({"reason": "polite", "score": 9})
    return json.dumps({"steps": ["Is it polite?"]})


def snapshot(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_a_judged_eval_writes_only_inside_promptslim_home(tmp_path, fake):
    repo, home, state = tmp_path / "repo", tmp_path / "home", tmp_path / "state"
    for folder in (repo / "prompts", repo / "evalsets", home):
        folder.mkdir(parents=True)
    (repo / "prompts" / "t.j2").write_text("Be polite.\n")
    (repo / "evalsets" / "t.yaml").write_text(yaml.safe_dump(
        {"criteria": "The reply is polite.", "cases": [{"id": "a", "input": "hi"}, {"id": "b", "input": "yo"}]}))
    (repo / ".env").write_text("PROMPTSLIM_DOTENV_PROBE=loaded\n")
    fake.handler = judge
    before_repo, before_home = snapshot(repo), snapshot(home)
    env = {**os.environ, "HOME": str(home), "PROMPTSLIM_HOME": str(state), "OPENAI_BASE_URL": fake.url,
           "OPENAI_API_KEY": "sk-test", "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("DEEPEVAL_TELEMETRY_OPT_OUT", None)
    probe = ("import os, runpy, sys; sys.argv = ['promptslim', 'eval', 'prompts/t.j2', '--model', 'gpt-4o-mini', "
             "'--judge-model', 'gpt-4o', '--json']\n"
             "try:\n    runpy.run_module('promptslim', run_name='__main__')\nexcept SystemExit:\n    pass\n"
             "print('DOTENV=' + os.environ.get('PROMPTSLIM_DOTENV_PROBE', 'absent'))\n"
             "print('TELEMETRY=' + os.environ.get('DEEPEVAL_TELEMETRY_OPT_OUT', ''))\n")
    done = subprocess.run([sys.executable, "-c", probe], cwd=repo, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.split("DOTENV=")[0])
    assert data["summary"]["score"]["mean"] == 0.9 and data["summary"]["judge_errors"] == 0  # the judge ran
    assert "DOTENV=absent" in done.stdout
    assert "TELEMETRY=YES" in done.stdout
    assert snapshot(repo) == before_repo
    assert snapshot(home) == before_home
    assert (state / "cache.sqlite").is_file()
    assert any((state / "geval_steps").iterdir())
