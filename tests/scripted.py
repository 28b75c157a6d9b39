"""An in-process model behind the `Backend` protocol: answers are a function of the request, no HTTP, no cache.

For engine tests (strategies, plans, pricing), where hundreds of calls over the fake server would only
re-test the SDK path that tests/test_runner.py and the end-to-end tests already cover.
"""

from __future__ import annotations

from typing import Callable

from promptslim.llm.base import Completion, Message, Params

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
