"""What a result means when it rests on a small embedded model or on a margin wider than the default.

One place for these sentences, so the terminal, ablation.md/.html and check.md say the same thing.
"""

from __future__ import annotations

from promptslim.config import DEFAULT_MARGIN


def local_verdicts(model_name: str) -> str:
    """The line every local run ends with: the verdicts are about this small model, not about the model you ship."""
    return (f"these verdicts come from {model_name}, a small model running on this machine: they say which "
            "instructions this model needs on this eval set, not which ones your production model needs — "
            "rerun with your own endpoint before deleting anything")


def margin_line(margin: float, source: str, default: float = DEFAULT_MARGIN) -> str:
    """Printed before a run, so a wider demo margin is never silent."""
    text = f"margin: {margin:g} (from {source})"
    if margin > default:
        text += (f" — wider than the default {default:g}: 'removable' here means the score drops by less than "
                 f"{margin:g} on the 0..1 scale, with the same error control")
    return text
