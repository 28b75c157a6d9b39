"""promptslim: find the prompt tokens you pay for on every LLM call but do not need.

From Python, every command is one engine function that returns the typed results its reports are written from
(DESIGN.md "From Python"); the CLI is one caller of them:

    import promptslim
    from promptslim.engine.strategies.cheaper_model import CheaperModel

    result = promptslim.ablate(promptslim.AblateRequest("prompts/support_reply.j2",
                                                        strategies=(CheaperModel(["gpt-4.1-nano"]),)))
    result.data.slim.removed  # the units the verified slim prompt removes

Budget approval and progress are events: pass `events=callback` (promptslim.engine.events); a plan over budget
starts only when the callback answers its OverBudget event with True (or the request says yes=True).
The names are loaded on first use, so `import promptslim` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_API = {
    "ablate": "promptslim.engine.ablation", "AblateRequest": "promptslim.engine.requests",
    "Ablation": "promptslim.engine.ablation",
    "evaluate": "promptslim.engine.evaluation", "EvalRequest": "promptslim.engine.requests",
    "tier": "promptslim.engine.tier", "TierRequest": "promptslim.engine.requests",
    "check": "promptslim.prcheck.engine", "CheckRequest": "promptslim.prcheck.engine",
    "build_index": "promptslim.savings",
}
__all__ = sorted(_API)


def __getattr__(name: str) -> Any:
    """PEP 562: the public API, imported on first use."""
    if name in _API:
        return getattr(import_module(_API[name]), name)
    raise AttributeError(f"module 'promptslim' has no attribute {name!r}")
