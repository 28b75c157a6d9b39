"""The LLM judge: deepeval's GEval, with the judge model called through our runner (cached, priced, budgeted).

Evaluation steps are generated once per criteria text and stored in .promptslim/, so the
baseline and every variant are judged by exactly the same steps.
"""

from __future__ import annotations

import hashlib
import json
import os
import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptslim.errors import InputError
from promptslim.llm.base import Params
from promptslim.llm.retry import FormatRefused
from promptslim.llm.runner import Runner
from promptslim.safeio import atomic_write

JUDGE_ROLE = "judge"
JUDGE_MAX_TOKENS = 600
SCORE_NOTE = ("\n\nYour previous answer to this could not be used ({problem}). Answer again with only the JSON "
              'object asked for above, {{"score": <integer 0-10>, "reason": "<one or two sentences>"}}, and nothing '
              "else.")
STEPS_NOTE = ("\n\nYour previous answer to this could not be used ({problem}). Answer again with only a JSON object "
              '{{"steps": ["<step 1>", "<step 2>", ...]}} whose steps are non-empty plain strings, and nothing else.')


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
    return steps if steps_problem(steps) is None else None


def steps_problem(steps: Any) -> str | None:
    """Why these are not usable G-Eval steps (a non-empty list of non-empty strings), or None."""
    if not isinstance(steps, list) or not steps:
        return f"steps must be a non-empty list, got {_excerpt(steps)}"
    for step in steps:
        if not isinstance(step, str) or not step.strip():
            return f"every step must be a non-empty string, got {_excerpt(step)}"
    return None


def _excerpt(value: Any, limit: int = 80) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return repr(text if len(text) <= limit else text[: limit - 1] + "…")


class JudgeConfigError(InputError):
    """The judge model cannot write usable evaluation steps for these criteria (exit 2: a configuration to fix)."""


@dataclass
class JudgeStats:
    """What the judge did in this run: re-asks, recoveries, errors and their reasons (for the run facts)."""

    asked: int = 0  # answers sent to the judge
    retries: int = 0  # corrective re-asks after an unusable answer
    recovered: int = 0  # re-asks that produced a score
    errors: int = 0  # answers left without a score (judge errors)
    truncated: int = 0  # judge answers cut at max_tokens
    steps_retries: int = 0
    json_mode_refused: bool = False
    generic_steps: bool = False  # the embedded judge used fixed generic steps
    reasons: list[str] = field(default_factory=list)  # distinct error reasons, first few

    def merge(self, other: "JudgeStats") -> None:
        for name in ("asked", "retries", "recovered", "errors", "truncated", "steps_retries"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.json_mode_refused = self.json_mode_refused or other.json_mode_refused
        self.generic_steps = self.generic_steps or other.generic_steps
        self.reasons += [r for r in other.reasons if r not in self.reasons][: max(0, 5 - len(self.reasons))]

    def to_dict(self) -> dict:
        return {"asked": self.asked, "retries": self.retries, "recovered": self.recovered, "errors": self.errors,
                "truncated": self.truncated, "steps_retries": self.steps_retries,
                "json_mode_refused": self.json_mode_refused, "generic_steps": self.generic_steps,
                "error_reasons": list(self.reasons)}


@dataclass(frozen=True)
class Verdict:
    """A judged answer: score in 0..1, or an error with the judge's own answer (excluded from means, never a 0)."""

    score: float | None
    reason: str
    error: str | None = None


@dataclass(frozen=True)
class Ask:
    """How one judge request is made: the attempt index (in the cache key), a corrective note, JSON mode, length."""

    attempt: int = 0
    note: str = ""
    json_mode: bool = False
    max_tokens: int = JUDGE_MAX_TOKENS


def _make_adapter(runner: Runner, model: str, ask: Ask, seen: dict):
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
            response_format = json.dumps({"type": "json_object"}) if ask.json_mode else None
            completion = await runner.complete(
                JUDGE_ROLE, [{"role": "user", "content": prompt + ask.note}],
                Params(model=model, temperature=0.0, max_tokens=ask.max_tokens, response_format=response_format,
                       attempt=ask.attempt))
            seen["text"], seen["finish_reason"] = completion.text, completion.finish_reason
            return completion.text

        def get_model_name(self, *args: Any, **kwargs: Any) -> str:
            return model

    return RunnerJudge()


def _problem(exc: BaseException) -> str:
    text = str(exc).splitlines()[0][:160] if str(exc) else ""
    if isinstance(exc, KeyError):
        return f"no {text} field in its JSON"
    return text or type(exc).__name__


class Judge:
    """GEval over one eval set's criteria, judged by `model` through the runner."""

    def __init__(self, runner: Runner, model: str, criteria: str, home: Path, threshold: float = 0.5,
                 steps: tuple[str, ...] | None = None, json_mode: bool = False, where: str = "the eval set",
                 embedded: bool = False) -> None:
        _quiet_deepeval(home)
        self.runner, self.model, self.criteria, self.home = runner, model, criteria, home
        self.threshold, self.given_steps, self.json_mode, self.where = threshold, steps, json_mode, where
        # the embedded 135M judge cannot write G-Eval steps (it rambles to max_tokens): it gets fixed generic ones
        # instead of a configuration error, and its answers are kept short so a demo stays within minutes
        self.embedded = embedded
        self.stats = JudgeStats()
        self._json_ok = True  # JSON mode on a re-ask until the endpoint refuses it once
        self._steps: dict[bool, list[str]] = {}
        self._locks: dict[bool, asyncio.Lock] = {True: asyncio.Lock(), False: asyncio.Lock()}

    def _params(self, with_expected: bool):
        from deepeval.test_case import SingleTurnParams

        params = [SingleTurnParams.INPUT, SingleTurnParams.ACTUAL_OUTPUT]
        return params + [SingleTurnParams.EXPECTED_OUTPUT] if with_expected else params

    def _steps_path(self, with_expected: bool) -> Path:
        digest = hashlib.sha256(f"{self.model}\n{with_expected}\n{self.criteria}".encode()).hexdigest()[:16]
        return self.home / "geval_steps" / f"{digest}.json"

    def _reask(self, attempt: int, note: str, max_tokens: int = JUDGE_MAX_TOKENS) -> Ask:
        """A re-ask differs from the first ask: a corrective note, JSON mode where the endpoint takes it, its index."""
        return Ask(attempt, note, self.json_mode or self._json_ok, max_tokens)

    async def _asked(self, run: Any, ask: Ask) -> Any:
        """Run one ask; an endpoint that refuses JSON mode is asked the same without it, and not asked again."""
        try:
            return await run(ask)
        except FormatRefused:
            if not ask.json_mode or self.json_mode:
                raise
            self._json_ok = False
            self.stats.json_mode_refused = True
            return await run(Ask(ask.attempt, ask.note, False, ask.max_tokens))

    async def steps(self, with_expected: bool) -> list[str]:
        """The evaluation steps for this criteria: given, stored, or generated once, validated and stored."""
        if self.given_steps:
            return list(self.given_steps)
        if self.embedded:
            self.stats.generic_steps = True
            return generic_steps(self.criteria)
        async with self._locks[with_expected]:  # one generation per criteria, however many cases wait for it
            if with_expected not in self._steps:
                path = self._steps_path(with_expected)
                steps = _stored_steps(path, self.criteria)
                if steps is None:
                    steps = await self._generate_steps(with_expected)
                    # temp file + rename: parallel runs on one repo each write a whole file, never half of one
                    atomic_write(path, json.dumps({"model": self.model, "criteria": self.criteria, "steps": steps},
                                                  indent=2))
                self._steps[with_expected] = steps
        return self._steps[with_expected]

    async def _generate_steps(self, with_expected: bool) -> list[str]:
        """Ask for steps; invalid ones are asked for once more with a correction, then it is a configuration error."""
        from deepeval.metrics import GEval

        seen: dict = {}

        async def run(ask: Ask) -> Any:
            metric = GEval(name="promptslim", criteria=self.criteria, evaluation_params=self._params(with_expected),
                           model=_make_adapter(self.runner, self.model, ask, seen), async_mode=True,
                           verbose_mode=False)
            return await metric._a_generate_evaluation_steps(False)

        ask, problem = Ask(json_mode=self.json_mode), ""
        for attempt in range(2):
            try:
                steps = await self._asked(run, ask)
                problem = steps_problem(steps) or ""
            except (ValueError, KeyError, TypeError, ArithmeticError) as exc:  # 10^400 overflows inside GEval
                problem = _problem(exc)
            if not problem:
                return [s.strip() for s in steps]
            if seen.get("finish_reason") == "length":
                problem = f"answer cut at max_tokens {ask.max_tokens}"
            if attempt == 0:
                self.stats.steps_retries += 1
                ask = self._reask(1, STEPS_NOTE.format(problem=problem), ask.max_tokens * 2)
        raise JudgeConfigError(
            f"judge model '{self.model}' could not write usable evaluation steps for the criteria in {self.where} "
            f"(asked twice; {problem}) — give the steps yourself (steps: [\"…\", \"…\"] in {self.where}) or use "
            "another --judge-model / judge_model")

    async def score(self, user_input: str, output: str, expected: str | None) -> Verdict:
        """Judge one answer; an unusable answer is asked again with a correction, then it is a judge error."""
        from deepeval.metrics import GEval
        from deepeval.test_case import LLMTestCase

        with_expected = bool(expected)
        steps = await self.steps(with_expected)
        case = LLMTestCase(input=user_input or "", actual_output=output or "(empty answer)",
                           expected_output=expected if with_expected else None)
        self.stats.asked += 1
        seen: dict = {}
        metrics: list = []

        async def run(ask: Ask) -> Any:
            metric = GEval(name="promptslim", evaluation_steps=steps, evaluation_params=self._params(with_expected),
                           model=_make_adapter(self.runner, self.model, ask, seen),
                           threshold=self.threshold, async_mode=True, verbose_mode=False)
            metrics.append(metric)
            return await metric.a_measure(case, _show_indicator=False)

        ask, problem = Ask(json_mode=self.json_mode), ""
        for attempt in range(2):
            try:
                value = await self._asked(run, ask)
                problem = _score_problem(value)
            except (ValueError, KeyError, TypeError, ArithmeticError) as exc:  # 10^400 overflows inside GEval
                problem = _problem(exc)
            if not problem:
                self.stats.recovered += attempt
                return Verdict(score=float(value), reason=str(metrics[-1].reason or ""))
            if seen.get("finish_reason") == "length":
                problem = f"answer cut at max_tokens {ask.max_tokens} (finish_reason: length)"
                self.stats.truncated += 1
            if attempt == 0:
                self.stats.retries += 1
                longer = ask.max_tokens * 2 if seen.get("finish_reason") == "length" and not self.embedded \
                    else ask.max_tokens
                ask = self._reask(1, SCORE_NOTE.format(problem=problem), longer)
        self.stats.errors += 1
        error = f"judge answer unusable after a corrective re-ask: {problem}; the judge said {_excerpt(seen.get('text', ''))}"
        if len(self.stats.reasons) < 5 and problem not in self.stats.reasons:
            self.stats.reasons.append(problem)
        return Verdict(score=None, reason="", error=error)


def generic_steps(criteria: str) -> list[str]:
    """Steps that need no model to write them (the embedded judge's; not stored, not asked for)."""
    return [f"Check whether the actual output satisfies: {criteria}",
            "Penalize outputs that ignore the input or contradict the expected output when given."]


def _score_problem(value: Any) -> str:
    """A score is usable when it is on GEval's 0..10 scale; clipping an out-of-range one would hide a broken judge."""
    if value is None:
        return "no score"
    try:
        number = float(value)
    except (TypeError, ValueError, OverflowError):
        return f"score {_excerpt(value)} is not a number"
    if not 0.0 <= number <= 1.0:
        return f"score {number * 10:g} is outside the 0..10 scale"
    return ""
