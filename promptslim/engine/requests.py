"""What a caller asks of one run, as a value: the CLI builds one from its options, a notebook builds one by hand.

    import promptslim
    result = promptslim.ablate(promptslim.AblateRequest("prompts/support_reply.j2", margin=0.1))

Every field left at None takes the config's value (promptslim.toml), as the command's flag would.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar


@dataclass(frozen=True)
class RunRequest:
    """One template's run: the template, the models, the eval settings and the budget."""

    command: ClassVar[str] = "run"  # how the run is named in the ledger
    template: str
    model: str | None = None  # the model under test ('local' = the embedded model); None: config, else the default
    judge_model: str | None = None  # 'none' grades by assertions alone
    repeats: int | None = None
    calls_per_month: int | None = None
    max_cost: float | None = None  # USD budget for this run's own API spend
    margin: float | None = None  # non-inferiority margin on the 0..1 score scale
    use_cache: bool = True
    batch: bool = False  # send the calls through the provider's Batch API
    yes: bool = False  # start even when the plan is over budget (otherwise the events are asked)
    root: Path | None = None  # the repository (default: found upwards from the working directory)


@dataclass(frozen=True)
class EvalRequest(RunRequest):
    """`promptslim eval`: the eval set once, on the template as it is."""

    command: ClassVar[str] = "eval"


@dataclass(frozen=True)
class AblateRequest(RunRequest):
    """`promptslim ablate`: remove one unit at a time and verify a slim prompt; `strategies` are the further levers,
    run in this order after the removal, each with the state the ones before it produced (e.g.
    `(SayShorter(), CheaperModel(["gpt-4.1-nano"]))` from promptslim.engine.strategies)."""

    command: ClassVar[str] = "ablate"
    strategies: tuple[Any, ...] = ()


@dataclass(frozen=True)
class TierRequest(RunRequest):
    """`promptslim tier`: the same template on candidate models against the configured model."""

    command: ClassVar[str] = "tier"
    candidates: tuple[str, ...] = ()
