"""The one seam to models: a Backend protocol, the OpenAI-compatible client, the local model, and the runner."""

from promptslim.llm.base import Backend, Completion, Params
from promptslim.llm.runner import Runner

__all__ = ["Backend", "Completion", "Params", "Runner"]
