"""The LLM judge: deepeval's GEval, with the judge model called through our runner (cached, priced, budgeted).

Evaluation steps are generated once per criteria text and stored in .promptslim/, so the
baseline and every variant are judged by exactly the same steps.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptslim.llm.base import Params
from promptslim.llm.runner import Runner
from promptslim.safeio import atomic_write

JUDGE_ROLE = "judge"


def _quiet_deepeval(home: Path) -> None:
    """deepeval must not phone home, read .env files, or write outside .promptslim/; set before importing it."""
    os.environ["DEEPEVAL_TELEMETRY_OPT_OUT"] = "YES"
    os.environ["DEEPEVAL_DISABLE_DOTENV"] = "1"
    os.environ["DEEPEVAL_CACHE_FOLDER"] = str(home / "deepeval")
    os.environ.setdefault("DEEPEVAL_GRPC_LOGGING", "NO")


def _stored_steps(path: Path, criteria: str) -> list[str] | None:
    """Steps stored by an earlier run for this criteria; anything unreadable is regenerated, never trusted."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("criteria") != criteria:
        return None
    steps = data.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) for s in steps):
        return None
    return steps


class JudgeParseError(Exception):
    """The judge's answer was not the JSON GEval asked for."""


@dataclass(frozen=True)
class Verdict:
    """A judged answer: score in 0..1, or an error (excluded from means, never a silent 0)."""

    score: float | None
    reason: str
    error: str | None = None


def _make_adapter(runner: Runner, model: str, attempt: int, json_mode: bool):
    from deepeval.models import DeepEvalBaseLLM

    class RunnerJudge(DeepEvalBaseLLM):
        """deepeval's model seam, backed by the runner so judge calls share cache, retries, ledger and budget."""

        def __init__(self) -> None:
            self.name = model
            super().__init__(model)

        def load_model(self, *args: Any, **kwargs: Any) -> "RunnerJudge":
            return self

        def generate(self, prompt: str, schema: Any = None) -> str:
            raise RuntimeError("promptslim calls the judge asynchronously (a_measure)")

        async def a_generate(self, prompt: str, schema: Any = None) -> str:
            response_format = json.dumps({"type": "json_object"}) if json_mode else None
            completion = await runner.complete(
                JUDGE_ROLE, [{"role": "user", "content": prompt}],
                Params(model=model, temperature=0.0, max_tokens=600, response_format=response_format,
                       attempt=attempt))
            return completion.text

        def get_model_name(self, *args: Any, **kwargs: Any) -> str:
            return model

    return RunnerJudge()


class Judge:
    """GEval over one eval set's criteria, judged by `model` through the runner."""

    def __init__(self, runner: Runner, model: str, criteria: str, home: Path, threshold: float = 0.5,
                 steps: tuple[str, ...] | None = None, json_mode: bool = False) -> None:
        _quiet_deepeval(home)
        self.runner, self.model, self.criteria, self.home = runner, model, criteria, home
        self.threshold, self.given_steps, self.json_mode = threshold, steps, json_mode
        self._steps: dict[bool, list[str]] = {}

    def _params(self, with_expected: bool):
        from deepeval.test_case import SingleTurnParams

        params = [SingleTurnParams.INPUT, SingleTurnParams.ACTUAL_OUTPUT]
        return params + [SingleTurnParams.EXPECTED_OUTPUT] if with_expected else params

    def _steps_path(self, with_expected: bool) -> Path:
        digest = hashlib.sha256(f"{self.model}\n{with_expected}\n{self.criteria}".encode()).hexdigest()[:16]
        return self.home / "geval_steps" / f"{digest}.json"

    async def steps(self, with_expected: bool) -> list[str]:
        """The evaluation steps for this criteria: given, stored, or generated once and stored."""
        if self.given_steps:
            return list(self.given_steps)
        if with_expected in self._steps:
            return self._steps[with_expected]
        path = self._steps_path(with_expected)
        steps = _stored_steps(path, self.criteria)
        if steps is None:
            from deepeval.metrics import GEval

            steps = []
            for attempt in range(2):
                metric = GEval(name="promptslim", criteria=self.criteria, evaluation_params=self._params(with_expected),
                               model=_make_adapter(self.runner, self.model, attempt, self.json_mode),
                               async_mode=True, verbose_mode=False)
                try:
                    steps = await metric._a_generate_evaluation_steps(False)
                    break
                except (ValueError, KeyError, TypeError):
                    continue
            if steps:
                # temp file + rename: parallel runs on one repo each write a whole file, never half of one
                atomic_write(path, json.dumps({"model": self.model, "criteria": self.criteria, "steps": steps},
                                              indent=2))
            else:  # the judge could not write steps: use generic ones this run, and ask again next run
                steps = [f"Check whether the actual output satisfies: {self.criteria}",
                         "Penalize outputs that ignore the input or contradict the expected output when given."]
        self._steps[with_expected] = steps
        return steps

    async def score(self, user_input: str, output: str, expected: str | None) -> Verdict:
        """Judge one answer; unparseable judge output is asked once more, then recorded as a judge error."""
        from deepeval.metrics import GEval
        from deepeval.test_case import LLMTestCase

        with_expected = bool(expected)
        steps = await self.steps(with_expected)
        case = LLMTestCase(input=user_input or "", actual_output=output or "(empty answer)",
                           expected_output=expected if with_expected else None)
        last = ""
        for attempt in range(2):
            metric = GEval(name="promptslim", evaluation_steps=steps, evaluation_params=self._params(with_expected),
                           model=_make_adapter(self.runner, self.model, attempt, self.json_mode),
                           threshold=self.threshold, async_mode=True, verbose_mode=False)
            try:
                value = await metric.a_measure(case, _show_indicator=False)
            except (ValueError, KeyError, TypeError) as exc:
                last = str(exc).splitlines()[0][:160] if str(exc) else type(exc).__name__
                continue
            if value is None:
                last = "judge returned no score"
                continue
            return Verdict(score=min(max(float(value), 0.0), 1.0), reason=str(metric.reason or ""))
        return Verdict(score=None, reason="", error=f"judge answer unusable twice: {last}")
