"""An in-process model behind the `Backend` protocol: answers are a function of the request, no HTTP, no cache.

For engine tests (strategies, plans, pricing), where hundreds of calls over the fake server would only
re-test the SDK path that tests/test_runner.py and the end-to-end tests already cover.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

from promptslim.llm.base import Completion, Message, Params

if TYPE_CHECKING:
    from promptslim.engine.evaluator import Evaluator

Answer = Callable[[list[Message], Params], str]


class ScriptedBackend:
    """Answers with `answer(messages, params)`; usage counted in words, as the fake server does."""

    endpoint = "scripted://in-process"
    concurrency: int | None = None

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests: list[tuple[list[Message], Params]] = []

    async def complete(self, messages: list[Message], params: Params) -> Completion:
        self.requests.append((messages, params))
        text = self.answer(messages, params)
        prompt = 3 + sum(3 + len(m["content"].split()) for m in messages)
        return Completion(text, prompt, len(text.split()), finish_reason="stop")


def scripted_evaluator(root: Path, source: str, cases: int, contains: str, backend: object,
                       calls_per_month: int = 0, name: str = "t.md") -> "Evaluator":
    """An engine over a repository of one template (prompts/<name>) and an eval set of `cases` cases that each assert
    the answer contains `contains`, answered in-process by `backend` at $1/M tokens: what engine tests and
    benchmarks/decision_bench.py's engine cross-check run `run_ablation` on."""
    from promptslim.config import load_config
    from promptslim.cost.prices import price_for
    from promptslim.engine.evaluator import Evaluator, Models
    from promptslim.evalset import load_evalset
    from promptslim.llm.runner import Role, Runner
    from promptslim.template.load import load_template

    stem = name.rsplit(".", 1)[0]
    (root / "prompts").mkdir(exist_ok=True)
    (root / "evalsets").mkdir(exist_ok=True)
    (root / "prompts" / name).write_text(source, encoding="utf-8")
    lines = "".join(f"  - {{id: c{i}, input: 'case {i}', assert: [{{type: contains, value: {contains}}}]}}\n"
                    for i in range(cases))
    (root / "evalsets" / f"{stem}.yaml").write_text("cases:\n" + lines, encoding="utf-8")
    (root / "promptslim.toml").write_text('[prices."scripted"]\ninput = 1.0\noutput = 1.0\n', encoding="utf-8")
    config = load_config(root)
    price = price_for("scripted", config)
    return Evaluator(template=load_template(root / "prompts" / name, root),
                     evalset=load_evalset(root / "evalsets" / f"{stem}.yaml", root),
                     runner=Runner(roles={"target": Role(backend, price)}, store=None, use_cache=False),
                     models=Models("scripted", "none", "scripted"), config=config, price=price,
                     calls_per_month=calls_per_month)
