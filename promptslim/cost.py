"""One cost figure for every command: $/call and $/month of a prompt, and where its output tokens came from.

count, eval, ablate, check and report all call `cost_of`, so they agree for the same prompt and model. Input
tokens are the mean over the eval set's cases. Output tokens are the answers' measured mean when the command ran
the eval set; the static commands (count, check --no-eval, report) use the output the latest ablation of the
same template text measured — and say "estimated" on the line — or leave output out and say that.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from promptslim.config import PromptConfig
from promptslim.prices import Price

MEASURED = "measured"  # this run's answers
ESTIMATED = "estimated"  # the latest ablation's baseline answers, for a command that makes no call
NOT_INCLUDED = "not included"  # no answers measured yet: input only


@dataclass(frozen=True)
class Output:
    """Output tokens per call and what they rest on, said on the line that shows the dollars."""

    tokens: float
    basis: str  # MEASURED | ESTIMATED | NOT_INCLUDED
    note: str


@dataclass(frozen=True)
class Cost:
    input_tokens: float
    output: Output
    usd_per_call: float
    usd_per_month: float
    calls_per_month: int

    def describe(self) -> str:
        return f"output {self.output.note}"


def measured(tokens: float) -> Output:
    return Output(tokens, MEASURED, f"{tokens:.1f} tokens/call, measured on this run's answers")


def cost_of(price: Price, input_tokens: float, output: Output, prompt: PromptConfig, calls_per_month: int) -> Cost:
    """$/call at the prompt's cached-input share, and $/month at its traffic: the one formula every command uses."""
    per_call = price.per_call(input_tokens, output.tokens, prompt.cached_input_fraction)
    return Cost(input_tokens, output, per_call, per_call * calls_per_month, calls_per_month)


def static_output(root: Path, template_name: str, template_source: str, text: str | None = None) -> Output:
    """Output tokens for a command that makes no call: the latest ablation's baseline, if it ran on this text.

    `text` is ablation.json's content when the caller read it elsewhere (check reads the base revision's, never
    the pull request's: a PR must not set its own cost figure).
    """
    rel = f"reports/{template_name}/ablation.json"
    if text is None:
        path = root / rel
        text = path.read_text(encoding="utf-8", errors="replace") if path.is_file() else None
    data = None
    if text is not None:
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            data = None
    sha = hashlib.sha256(template_source.encode()).hexdigest()
    tokens = ((data or {}).get("baseline") or {}).get("output_tokens") if isinstance(data, dict) else None
    if isinstance(data, dict) and data.get("template_sha256") == sha and isinstance(tokens, (int, float)):
        return Output(float(tokens), ESTIMATED, f"≈ {tokens:.1f} tokens/call, estimated from {rel} "
                                                f"({data.get('model')}, {str(data.get('created_at') or '')[:10]})")
    return Output(0.0, NOT_INCLUDED, "not included (no measured answers for this template text yet — "
                                     "run promptslim eval or ablate)")


def no_traffic_warning(template_name: str) -> str:
    return (f"$/month is 0 because calls_per_month is not set — add [prompts.\"{template_name}\"] calls_per_month = N "
            "to promptslim.toml (or pass --calls-per-month N)")


def traffic_warnings(template_name: str, calls_per_month: int) -> list[str]:
    """The warning eval and ablate add when $/month can only be 0."""
    return [] if calls_per_month else [no_traffic_warning(template_name)]
