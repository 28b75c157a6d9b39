"""README is true: the "From Python" example runs as written, in a copy of this repository, on the fake server."""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

from test_readme import repo_copy  # noqa: F401 - the fixture: a committed copy of this repository

REPO = Path(__file__).resolve().parents[1]


def example() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## From Python", 1)[1].split("\n## ", 1)[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    return code


def test_the_from_python_example_runs(repo_copy, fake):
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(example(), "README.md (From Python)", "exec"), {"__name__": "readme"})
    lines = printed.getvalue().splitlines()
    plan = re.fullmatch(r"plan: (\d+) calls, about \$([\d.]+)", lines[0])
    assert plan and int(plan.group(1)) > 0  # the plan arrived as an event before any call
    data = json.loads((repo_copy / "reports" / "ticket_classifier" / "ablation.json").read_text(encoding="utf-8"))
    assert lines[1] == f"slim removes {data['slim']['removed']} {data['slim']['verdict']}"
    assert [m["model"] for m in data["models"]] == ["gpt-4.1-nano"]  # the strategy passed in the request ran
    assert lines[2].startswith("{") and lines[3].startswith("score ")
    assert lines[4] == "check failed: False ['prompts/support_reply.j2']"
    assert fake.calls > 0
