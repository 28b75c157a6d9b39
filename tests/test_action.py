"""The composite action (action.yml), run as far as can be done without GitHub: each `run:` step is executed with
bash exactly as written, its `${{ }}` expressions filled in as the runner would, in a fake pull-request checkout; the
github-script step runs under node with a recording stand-in for GitHub's REST client."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ci_repo import HEAD, commit, git, init_repo

REPO = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((REPO / "action.yml").read_text(encoding="utf-8"))
STEPS = {step.get("name") or step.get("uses"): step for step in ACTION["runs"]["steps"]}
MARKER = "<!-- promptslim-check -->"
FORGED = "## promptslim check\n\n✅ all checks passed (forged by the pull request)\n"


def step(name: str) -> dict:
    return STEPS[name]


def expressions(inputs: dict[str, str], runner_temp: Path, action_path: Path, base_sha: str,
                outputs: dict[str, str] | None = None) -> dict[str, str]:
    """What the runner substitutes for the `${{ }}` expressions the action uses."""
    ctx = {"runner.temp": str(runner_temp), "github.action_path": str(action_path),
           "github.event.pull_request.base.sha": base_sha, "github.token": "ghs_fake"}
    for key, spec in ACTION["inputs"].items():
        default = str(spec.get("default", ""))
        ctx[f"inputs.{key}"] = inputs.get(key, fill(default, ctx))
    for key, value in (outputs or {}).items():
        ctx[f"steps.check.outputs.{key}"] = value
    return ctx


def fill(text: str, ctx: dict[str, str]) -> str:
    def one(match: re.Match[str]) -> str:
        expr = match.group(1).strip()
        if expr not in ctx:
            raise KeyError(f"expression the test does not know: {expr}")
        return ctx[expr]

    return re.sub(r"\$\{\{(.+?)\}\}", one, text)


class Runner:
    """One job's environment: RUNNER_TEMP, GITHUB_OUTPUT, GITHUB_STEP_SUMMARY, the checkout as the workspace."""

    def __init__(self, tmp: Path, workspace: Path, action_path: Path, base_sha: str) -> None:
        self.temp = tmp / "runner-temp"
        self.temp.mkdir()
        self.output = tmp / "github_output"
        self.summary = tmp / "step_summary"
        self.output.write_text("")
        self.summary.write_text("")
        self.workspace, self.action_path, self.base_sha = workspace, action_path, base_sha

    def run(self, name: str, inputs: dict[str, str] | None = None, env: dict[str, str] | None = None,
            path: str | None = None, outputs: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        spec = step(name)
        ctx = expressions(inputs or {}, self.temp, self.action_path, self.base_sha, outputs)
        script = self.temp / "step.sh"
        script.write_text(spec["run"])
        full = {"PATH": path or f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
                "HOME": str(self.temp), "RUNNER_TEMP": str(self.temp), "GITHUB_OUTPUT": str(self.output),
                "GITHUB_STEP_SUMMARY": str(self.summary), "GITHUB_ACTION_PATH": str(self.action_path),
                "GITHUB_WORKSPACE": str(self.workspace), "PROMPTSLIM_RETRY_BASE": "0",
                **{k: fill(str(v), ctx) for k, v in (spec.get("env") or {}).items()}, **(env or {})}
        # GitHub runs `shell: bash` as: bash --noprofile --norc -eo pipefail {0}
        return subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)], cwd=self.workspace,
                              env=full, capture_output=True, text=True, timeout=300)

    def outputs(self) -> dict[str, str]:
        return dict(line.split("=", 1) for line in self.output.read_text().splitlines() if "=" in line)


@pytest.fixture
def pr(tmp_path) -> tuple[Path, str]:
    """A checkout of a pull request that breaks greet's token budget and commits a forged reports/check.md."""
    root = init_repo(tmp_path / "checkout")
    base = git(root, "rev-parse", "HEAD").strip()
    commit(root, "the pull request", {**HEAD, "reports/check.md": FORGED})
    return root, base


def test_no_run_step_splices_an_expression_into_the_script():
    for spec in ACTION["runs"]["steps"]:
        assert "${{" not in spec.get("run", ""), spec.get("name")  # inputs reach bash only as env variables
        if "uses" in spec:
            assert re.fullmatch(r"actions/[\w-]+(/[\w-]+)?@v\d+", spec["uses"]), spec["uses"]
    assert {"base-ref", "templates", "require-noninferior", "fail-on-cost-increase", "api-key-env"} <= set(ACTION["inputs"])
    assert "runner.temp" in step("promptslim check")["env"]["PROMPTSLIM_HOME"]


def test_the_shipped_workflow_is_a_short_use_of_the_action():
    flow = yaml.safe_load((REPO / ".github/workflows/promptslim.yml").read_text())
    assert "pull_request_target" not in flow.get("on", flow.get(True, {}))
    job = flow["jobs"]["check"]
    assert 0 < job["timeout-minutes"] <= 60
    checkout, action = job["steps"]
    assert checkout["uses"] == "actions/checkout@v4" and checkout["with"]["fetch-depth"] == 0
    assert action["uses"] == "./" and action["env"] == {"OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}"}


@pytest.mark.parametrize("forged", ["file", "symlink"])
def test_the_report_is_only_what_this_run_wrote(pr, tmp_path, forged):
    root, base = pr
    if forged == "symlink":
        (root / "reports/check.md").unlink()
        (root / "reports/check.md").symlink_to("../.git/config")
        commit(root, "link the report to the credentials", {})
    runner = Runner(tmp_path, root, REPO, base)
    done = runner.run("promptslim check")
    assert done.returncode == 0, done.stderr
    assert "not set (fork pull request?): running promptslim check --no-eval" in done.stdout
    out = runner.outputs()
    assert out["exit_code"] == "1"  # greet breaks its budget
    report = Path(out["report"])
    assert report.parent.parent == runner.temp and report.parent.name.startswith("promptslim-report.")
    text = report.read_text()
    assert "max_input_tokens 40" in text and "forged" not in text and "[core]" not in text
    assert runner.summary.read_text() == text  # the summary is this run's report, written once
    assert Path(out["junit"]).read_text().startswith('<?xml version="1.0" encoding="UTF-8"?>')
    body = comment(runner, out)["calls"][-1][1]["body"]
    assert body == f"{MARKER}\n{text}"


def test_a_check_that_stops_early_posts_check_failed_not_the_checkouts_file(pr, tmp_path):
    root, base = pr
    runner = Runner(tmp_path, root, REPO, base)
    done = runner.run("promptslim check", inputs={"base-ref": "no-such-ref"})
    assert done.returncode == 0
    assert "--base no-such-ref: no such commit" in done.stderr
    out = runner.outputs()
    assert out == {"exit_code": "2"}
    assert runner.summary.read_text() == "## promptslim check\n\ncheck failed: exit 2 — see the job log.\n"
    body = comment(runner, out)["calls"][-1][1]["body"]
    assert body == f"{MARKER}\n## promptslim check\n\ncheck failed: exit 2 — see the job log.\n"
    fail = runner.run("Fail when the check failed", outputs=out)
    assert fail.returncode == 1 and "exited with 2" in fail.stdout


@pytest.mark.parametrize("inputs,message", [
    ({"fail-on-cost-increase": "ten"}, "fail-on-cost-increase must be a percentage"),
    ({"require-noninferior": "yes"}, "require-noninferior must be true or false"),
    ({"api-key-env": "sk-abc"}, "api-key-env must name an environment variable"),
    ({"base-ref": ""}, "no base-ref"),
])
def test_bad_inputs_are_exit_2_and_said(pr, tmp_path, inputs, message):
    root, base = pr
    runner = Runner(tmp_path, root, REPO, base)
    done = runner.run("promptslim check", inputs=inputs)
    assert done.returncode == 0
    assert f"::error::promptslim: {message}" in done.stdout
    assert runner.outputs() == {"exit_code": "2"}
    assert message in runner.summary.read_text()


def test_inputs_select_templates_and_the_key_runs_the_eval_without_showing(pr, tmp_path, fake):
    root, base = pr
    fake.handler = lambda body: "Hi! How can I help?"
    runner = Runner(tmp_path, root, REPO, base)
    key = "sk-test-ACTION-KEY-0123456789"
    done = runner.run("promptslim check", inputs={"templates": "prompts/label.j2\n", "api-key": key,
                                                   "fail-on-cost-increase": "50", "require-noninferior": "true"},
                      env={"OPENAI_BASE_URL": fake.url})
    assert done.returncode == 0, done.stderr
    out = runner.outputs()
    assert fake.calls > 0  # the key was there: the eval ran
    text = Path(out["report"]).read_text()
    assert "prompts/label.j2" in text and "prompts/greet.j2" not in text
    for shown in (done.stdout, done.stderr, text, runner.summary.read_text(), Path(out["junit"]).read_text()):
        assert key not in shown
    assert out["exit_code"] in ("0", "1")


def test_the_check_state_lives_outside_the_checkout(pr, tmp_path):
    root, base = pr
    runner = Runner(tmp_path, root, REPO, base)
    runner.run("promptslim check")
    assert not (root / ".promptslim").exists()
    assert git(root, "status", "--porcelain") == ""  # nothing written into the checkout


# ---------------------------------------------------------------- install: never the pull request's own copy
FAKE_PIP = """#!/bin/sh
# stands in for `python -m pip install … SRC`: records what would be installed
for last; do :; done
printf '%s\\n' "$last" > "$RECORD"
cat "$last/pyproject.toml" >> "$RECORD"
"""


@pytest.mark.parametrize("where", ["checkout", "pinned"])
def test_install_takes_the_base_revision_when_the_action_comes_from_the_checkout(tmp_path, where):
    root = init_repo(tmp_path / "checkout", {"pyproject.toml": "# base revision\n", "action.yml": "name: x\n"})
    base = git(root, "rev-parse", "HEAD").strip()
    commit(root, "the pull request edits the tool", {"pyproject.toml": "# the pull request's copy\n"})
    pinned = tmp_path / "actions/promptslim"
    pinned.mkdir(parents=True)
    (pinned / "pyproject.toml").write_text("# pinned release\n")
    shim = tmp_path / "bin"
    shim.mkdir()
    (shim / "python").write_text(FAKE_PIP)
    (shim / "python").chmod(0o755)
    runner = Runner(tmp_path, root, root if where == "checkout" else pinned, base)
    record = tmp_path / "installed"
    done = runner.run("Install promptslim", env={"RECORD": str(record)},
                      path=f"{shim}{os.pathsep}{os.environ['PATH']}")
    assert done.returncode == 0, done.stderr
    installed, content = record.read_text().split("\n", 1)
    if where == "checkout":
        assert content == "# base revision\n" and installed == str(runner.temp / "promptslim-base")
        assert f"installing from the base revision {base}" in done.stdout
    else:
        assert content == "# pinned release\n" and installed == str(pinned.resolve())


# ---------------------------------------------------------------- the comment step (actions/github-script)
HARNESS = r"""
const fs = require('fs');
const setup = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
const calls = [];
const failing = (status) => Object.assign(new Error('HTTP ' + status), { status });
const github = {
  paginate: async (method, params) => { calls.push(['list', params]); return setup.comments; },
  rest: {
    users: { getAuthenticated: async () => {
      if (setup.login) return { data: { login: setup.login } };
      throw failing(403);  // GITHUB_TOKEN: "Resource not accessible by integration"
    } },
    issues: {
      listComments: 'listComments',
      updateComment: async (p) => { if (setup.fail) throw failing(setup.fail); calls.push(['update', p]); },
      createComment: async (p) => { if (setup.fail) throw failing(setup.fail); calls.push(['create', p]); },
    },
  },
};
const context = { repo: { owner: 'acme', repo: 'bot' }, issue: { number: 7 } };
const core = { warning: (m) => calls.push(['warning', m]), setFailed: (m) => calls.push(['failed', m]) };
const AsyncFunction = Object.getPrototypeOf(async function () {}).constructor;
new AsyncFunction('github', 'context', 'core', 'require', setup.script)(github, context, core, require)
  .then(() => process.stdout.write(JSON.stringify({ calls })))
  .catch((e) => { process.stdout.write(JSON.stringify({ calls, thrown: e.status || String(e) })); });
"""


def comment(runner: Runner, outputs: dict[str, str], comments: list | None = None, login: str | None = None,
            author: str = "", fail: int | None = None) -> dict:
    """Run the github-script step's script in the checkout, as github-script would, against a recording client."""
    if shutil.which("node") is None:
        pytest.skip("node runs the github-script step")
    spec = step("Post or update the PR comment")
    ctx = expressions({"comment-author": author}, runner.temp, runner.action_path, runner.base_sha,
                      {"exit_code": outputs.get("exit_code", ""), "report": outputs.get("report", "")})
    setup = runner.temp / "setup.json"
    setup.write_text(json.dumps({"script": spec["with"]["script"], "comments": comments or [], "login": login,
                                 "fail": fail}))
    harness = runner.temp / "harness.js"
    harness.write_text(HARNESS)
    env = {"PATH": os.environ["PATH"], **{k: fill(v, ctx) for k, v in spec["env"].items()}}
    done = subprocess.run(["node", str(harness), str(setup)], cwd=runner.workspace, env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def with_report(tmp_path: Path, text: str = "## promptslim check\n\n❌ real report\n") -> tuple[Runner, dict]:
    runner = Runner(tmp_path, tmp_path, REPO, "0" * 40)
    folder = runner.temp / "promptslim-report.abc"
    folder.mkdir()
    (folder / "check.md").write_text(text)
    return runner, {"exit_code": "1", "report": str(folder / "check.md")}


BOT = {"login": "github-actions[bot]", "type": "Bot"}
MALLORY = {"login": "mallory", "type": "User"}


def test_only_the_workflows_own_comment_is_updated(tmp_path):
    runner, out = with_report(tmp_path)
    theirs = {"id": 11, "user": MALLORY, "body": f"{MARKER}\nlooks like ours"}
    ours = {"id": 12, "user": BOT, "body": f"{MARKER}\nlast run"}
    result = comment(runner, out, [theirs, ours])
    assert result["calls"][-1] == ["update", {"owner": "acme", "repo": "bot", "comment_id": 12,
                                              "body": f"{MARKER}\n## promptslim check\n\n❌ real report\n"}]
    alone = comment(runner, out, [theirs])  # someone else's marker is never edited: a new comment instead
    assert alone["calls"][-1][0] == "create" and alone["calls"][-1][1]["issue_number"] == 7


def test_a_personal_token_updates_its_own_login_and_comment_author_overrides(tmp_path):
    runner, out = with_report(tmp_path)
    bot = {"id": 12, "user": BOT, "body": f"{MARKER}\nold"}
    pat = {"id": 13, "user": {"login": "ci-robot", "type": "User"}, "body": f"{MARKER}\nold"}
    assert comment(runner, out, [bot, pat], login="ci-robot")["calls"][-1][1]["comment_id"] == 13
    assert comment(runner, out, [bot, pat], author="github-actions[bot]")["calls"][-1][1]["comment_id"] == 12


def test_a_report_path_that_is_a_link_or_a_crash_is_not_posted(tmp_path):
    runner, out = with_report(tmp_path)
    link = Path(out["report"]).parent / "linked.md"
    link.symlink_to(Path(out["report"]))
    body = comment(runner, {"exit_code": "1", "report": str(link)})["calls"][-1][1]["body"]
    assert body == f"{MARKER}\n## promptslim check\n\ncheck failed: exit 1 — see the job log.\n"
    body = comment(runner, {**out, "exit_code": "70"})["calls"][-1][1]["body"]
    assert "check failed: exit 70" in body and "real report" not in body


def test_a_read_only_token_warns_instead_of_failing(tmp_path):
    runner, out = with_report(tmp_path)
    result = comment(runner, out, fail=403)
    assert "thrown" not in result and result["calls"][-1][0] == "warning"
    assert "thrown" in comment(runner, out, fail=500)  # anything else is a real failure


def test_a_long_report_is_cut_below_githubs_limit(tmp_path):
    runner, out = with_report(tmp_path, "x" * 70_000)
    body = comment(runner, out)["calls"][-1][1]["body"]
    assert len(body) < 65_536 and body.endswith("the full report is in the job summary.\n")


def test_the_readme_snippets_name_real_inputs_and_the_real_hook():
    text = (REPO / "README.md").read_text(encoding="utf-8")
    snippets = re.findall(r"```yaml\n(.*?)```", text.split("## PR check", 1)[1].split("\n## ", 1)[0], re.S)
    workflow = next(s for s in snippets if "promptslim@" in s)
    flow = yaml.safe_load(workflow)
    action_step = flow["jobs"]["check"]["steps"][-1]
    named = set(action_step["with"]) | set(re.findall(r"(?m)^\s*#\s+([a-z-]+):", workflow))
    assert named <= set(ACTION["inputs"]), named - set(ACTION["inputs"])
    assert action_step["env"] == {"OPENAI_API_KEY": "${{ secrets.OPENAI_API_KEY }}"}
    hooks = yaml.safe_load(next(s for s in snippets if "pre-commit" in s))["repos"][0]["hooks"]
    declared = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert [h["id"] for h in hooks] == [h["id"] for h in declared]
