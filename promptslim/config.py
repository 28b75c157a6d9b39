"""Load promptslim.toml (or [tool.promptslim] in pyproject.toml) into frozen dataclasses, rejecting unknown keys."""

from __future__ import annotations

import math
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Iterator, TypeVar

from promptslim.errors import InputError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

CONFIG_FILE = "promptslim.toml"
DEFAULT_MARGIN = 0.05
# The embedded model's answer cap when neither the prompt nor the config sets one: support_reply's longest
# passing answer (three sentences, a phone number and a sign-off) is ~90 tokens, so 20 cut the very strings its
# assertions look for; 128 leaves room for it without letting a rambling 135M model run on to the 512 default.
LOCAL_MAX_TOKENS = 128
T = TypeVar("T")


@dataclass(frozen=True)
class PromptConfig:
    """Traffic and budget of one template, keyed by its path under prompts/ without .j2."""

    calls_per_month: int = 0
    cached_input_fraction: float = 0.0
    max_input_tokens: int | None = None
    criteria: str | None = None  # for .jsonl eval sets, which carry no set-level keys
    threshold: float | None = None
    margin: float | None = None  # this prompt's non-inferiority margin (e.g. the demo's); None = the top-level one
    max_tokens: int | None = None  # answer cap that fits this prompt's task (a label needs a few tokens)
    cache_hit_rate: float | None = None  # share of calls that find the prompt prefix cached; None = from traffic


@dataclass(frozen=True)
class PriceOverride:
    """USD per million tokens, for models genai-prices lacks or negotiated rates."""

    input: float
    output: float
    cached_input: float | None = None
    batch_input: float | None = None  # the Batch API's price (--batch); default: half of input
    batch_output: float | None = None


@dataclass(frozen=True)
class Endpoint:
    """Where one role's calls go; api_key_env names the variable, the key itself is never stored."""

    base_url: str | None = None
    api_key_env: str | None = "OPENAI_API_KEY"  # None: no key is sent (a table with its own host and no api_key_env)


@dataclass(frozen=True)
class Config:
    """Everything promptslim.toml can set; defaults are DESIGN.md's."""

    root: Path
    source: str | None = None
    model: str | None = None
    judge_model: str | None = None
    rewriter_model: str | None = None  # proposes shorter wordings (ablate --rewrite); None/"none" = rules only
    margin: float = DEFAULT_MARGIN
    repeats: int = 1
    concurrency: int = 8
    max_cost_usd: float = 5.0
    temperature: float = 0.0
    max_tokens: int | None = 512
    timeout: float = 60.0
    max_retries: int = 6
    render_timeout: float = 2.0  # seconds of the render worker's CPU time per render of an untrusted template
    render_max_bytes: int = 1_000_000  # rendered characters per render
    max_cases: int = 10_000  # cases in one eval set (limits.py)
    max_units: int = 300  # units one ablation tests
    max_nesting: int = 64  # YAML/JSON nesting levels in an eval set
    target: Endpoint = field(default_factory=Endpoint)
    judge: Endpoint = field(default_factory=Endpoint)
    models: dict[str, Endpoint] = field(default_factory=dict)  # [models."name"]: a candidate model's own endpoint
    prompts: dict[str, PromptConfig] = field(default_factory=dict)
    prices: dict[str, PriceOverride] = field(default_factory=dict)

    def prompt(self, name: str) -> PromptConfig:
        return self.prompts.get(name, PromptConfig())

    def settings(self, name: str, *, margin: float | None = None, calls_per_month: int | None = None,
                 local: bool = False) -> "TemplateSettings":
        """What one template's run uses, resolved once: a flag wins, then the prompt's own entry, then the top
        level, then the default; `local` applies the embedded model's answer cap."""
        prompt = self.prompt(name)
        where = self.source or CONFIG_FILE
        own = f'[prompts."{name}"]'
        top = f" in {self.source}" if self.source else " (default)"
        if margin is not None:
            the_margin = Setting(margin, "--margin")
        elif prompt.margin is not None:
            the_margin = Setting(prompt.margin, f"{own} margin in {where}")
        else:
            the_margin = Setting(self.margin, "margin" + top)
        cap = Setting(prompt.max_tokens, f"{own} max_tokens in {where}") if prompt.max_tokens is not None else \
            Setting(self.max_tokens, "max_tokens" + top)
        if local and prompt.max_tokens is None:
            cap = Setting(min(cap.value or LOCAL_MAX_TOKENS, LOCAL_MAX_TOKENS),
                          f"the embedded model's cap ({LOCAL_MAX_TOKENS}; set {own} max_tokens to change it)")
        if calls_per_month is not None:
            traffic = Setting(calls_per_month, "--calls-per-month")
        elif name in self.prompts:
            traffic = Setting(prompt.calls_per_month, f"{own} calls_per_month in {where}")
        else:
            traffic = Setting(prompt.calls_per_month, "not set")
        return TemplateSettings(name, the_margin, cap, traffic, prompt)

    def endpoint_of(self, model: str) -> Endpoint:
        """Where a model's calls go: its own [models."name"] table, else the model under test's endpoint."""
        return self.models.get(model, self.target)

    @property
    def home(self) -> Path:
        return state_home(self.root)


@dataclass(frozen=True)
class Setting(Generic[T]):
    """One effective value and where it came from (a flag, the prompt's entry, the top level, a default)."""

    value: T
    source: str


@dataclass(frozen=True)
class TemplateSettings:
    """The settings one template's run uses, resolved once (Config.settings): every command reads them here, so
    ablate, tier and check decide the same prompt at the same margin."""

    name: str
    margin: Setting[float]
    max_tokens: Setting[int | None]
    calls_per_month: Setting[int]
    prompt: PromptConfig  # the prompt's own entry: budgets, cached input, criteria and threshold for .jsonl sets


def state_home(root: Path) -> Path:
    """Where the cache and ledger live: $PROMPTSLIM_HOME, else .promptslim/ at the repo root."""
    env = os.environ.get("PROMPTSLIM_HOME")
    return Path(env) if env else root / ".promptslim"


def ensure_home(home: Path) -> Path:
    """The state folder, created if absent; a dangling link or a file in its place is a one-line error."""
    if home.is_symlink() and not home.exists():
        raise InputError(f"{home}: the state folder is a symlink to nothing (-> {os.readlink(home)}) — remove it, "
                         "or set PROMPTSLIM_HOME")
    if home.exists() and not home.is_dir():
        raise InputError(f"{home}: the state folder is not a folder — remove it, or set PROMPTSLIM_HOME")
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{home}: cannot create the state folder ({exc.strerror}) — set PROMPTSLIM_HOME") from None
    return home


def find_root(start: Path | None = None) -> Path:
    """The nearest folder upwards that holds promptslim.toml, a configured pyproject.toml, prompts/ or .git."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        if (folder / CONFIG_FILE).is_file() or (folder / "prompts").is_dir() or (folder / ".git").exists():
            return folder
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file() and "[tool.promptslim" in pyproject.read_text(encoding="utf-8", errors="replace"):
            return folder
    return here


_TOP = {
    "model", "judge_model", "rewriter_model", "margin", "repeats", "concurrency", "max_cost_usd", "temperature",
    "max_tokens", "timeout", "max_retries", "base_url", "api_key_env", "judge", "models", "prompts", "prices",
    "render_timeout", "render_max_bytes", "max_cases", "max_units", "max_nesting",
}
_FLOATS = {"margin": (0.0, 1.0), "max_cost_usd": (0.0, None), "temperature": (0.0, 2.0), "timeout": (0.1, None),
           "render_timeout": (0.0, 60.0)}
_OPEN_LOW = {"margin", "max_cost_usd", "render_timeout"}  # must be > low: a zero margin or budget gates nothing
_OPEN_HIGH = {"margin"}  # a margin of 1 lets any regression through
_INTS = {"repeats": 1, "concurrency": 1, "max_tokens": 1, "max_retries": 0, "render_max_bytes": 1000, "max_cases": 1,
         "max_units": 1, "max_nesting": 2}
_INT_MAX = {"render_max_bytes": 100_000_000, "max_cases": 10_000_000, "max_units": 1_000_000,
            "max_nesting": 200}  # deeper than 200 would reach Python's recursion limit while building the values


def _norm(text: str) -> str:
    return re.sub(r"[\s\"']", "", text)


class _Where:
    """Finds the line of a key in the config text, so errors can name it."""

    def __init__(self, path: str, text: str, table_prefix: str = "") -> None:
        self.path, self.lines, self.prefix = path, text.splitlines(), table_prefix

    def line(self, key: str, table: str | None = None) -> int | None:
        start = 0
        full = self.prefix + table if table is not None else self.prefix.rstrip(".")
        if full:
            wanted = _norm(full)
            hits = [i for i, text in enumerate(self.lines) if _norm(text).startswith("[")
                    and _norm(text.split("#")[0]).strip("[]") == wanted]
            if not hits:
                return None
            start = hits[0] + 1
        pattern = re.compile(r"^\s*\"?" + re.escape(key) + r"\"?\s*=")
        for i in range(start, len(self.lines)):
            if full and i > start and self.lines[i].lstrip().startswith("["):
                break
            if pattern.match(self.lines[i]):
                return i + 1
        return start or None

    def error(self, message: str, key: str = "", table: str | None = None) -> InputError:
        line = self.line(key, table) if key or table else None
        return InputError(f"{self.path}:{line}: {message}" if line else f"{self.path}: {message}")


def load_config(root: Path | None = None) -> Config:
    """Read the config at root; absent config means DESIGN.md's defaults. Its render bounds govern this process."""
    root = find_root() if root is None else root
    path = root / CONFIG_FILE
    toml = path.read_text(encoding="utf-8") if path.is_file() else None
    pyproject = root / "pyproject.toml"
    py = pyproject.read_text(encoding="utf-8") if toml is None and pyproject.is_file() else None
    return config_from_texts(root, toml, py)


def config_from_texts(root: Path, toml: str | None, pyproject: str | None, label: str = "") -> Config:
    """Build a Config from promptslim.toml text (or else pyproject.toml text); label prefixes file names in errors.

    `check` reads the base revision's files through git and passes them here (label "abc1234:").
    """
    from promptslim import limits

    data: dict[str, Any] = {}
    where: _Where | None = None
    if toml is not None:
        where = _Where(label + CONFIG_FILE, toml)
        data = _parse(toml, label + CONFIG_FILE)
    elif pyproject is not None:
        parsed = _parse(pyproject, label + "pyproject.toml")
        section = parsed.get("tool", {}).get("promptslim")
        if section is not None:
            data, where = section, _Where(label + "pyproject.toml", pyproject, "tool.promptslim.")
    config = Config(root=root) if where is None else _build(root, data, where)
    limits.configure(config.render_timeout, config.render_max_bytes, config.max_cases, config.max_units,
                     config.max_nesting)
    return config


def _parse(text: str, name: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except RecursionError:  # tomllib parses nested arrays and inline tables recursively
        raise InputError(f"{name}: invalid TOML: nested too deep") from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"line (\d+)", str(exc))
        line = f":{match.group(1)}" if match else ""
        raise InputError(f"{name}{line}: invalid TOML: {exc}") from None


def _build(root: Path, data: dict[str, Any], where: _Where) -> Config:
    for key in data:
        if key not in _TOP:
            raise where.error(f"unknown key '{key}' (known: {', '.join(sorted(_TOP))})", key)
    kwargs: dict[str, Any] = {}
    for key in ("model", "judge_model", "rewriter_model"):
        if key in data:
            if not isinstance(data[key], str) or not data[key].strip():
                raise where.error(f"'{key}' must be a model name (a non-empty string)", key)
            kwargs[key] = data[key].strip()
    for key, (low, high) in _FLOATS.items():
        if key in data:
            kwargs[key] = _number(data[key], key, low, high, where)
    for key, low in _INTS.items():
        if key in data:
            value = data[key]
            high = _INT_MAX.get(key)
            if isinstance(value, bool) or not isinstance(value, int) or value < low or (high and value > high):
                bounds = f"between {low} and {high:_}" if high else f">= {low}"
                raise where.error(f"'{key}' must be a whole number {bounds}", key)
            kwargs[key] = value
    kwargs["target"] = _endpoint(data, where, None)
    judge = data.get("judge", {})
    if not isinstance(judge, dict):
        raise where.error("'judge' must be a table: [judge] base_url / api_key_env", "judge")
    for key in judge:
        if key not in ("base_url", "api_key_env"):
            raise where.error(f"unknown key 'judge.{key}' (known: base_url, api_key_env)", key, "judge")
    kwargs["judge"] = _endpoint(judge, where, "judge", fallback=kwargs["target"])
    kwargs["models"] = _models(data.get("models", {}), where, kwargs["target"])
    kwargs["prompts"] = _prompts(data.get("prompts", {}), where)
    kwargs["prices"] = _prices(data.get("prices", {}), where)
    return Config(root=root, source=where.path, **kwargs)


def _number(value: Any, key: str, low: float, high: float | None, where: _Where, table: str | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise where.error(f"'{key}' must be a number", key, table)
    if not math.isfinite(value):
        # NaN compares false with every bound: it would pass a range check and disable the gate it sets
        raise where.error(f"'{key}' must be a finite number, got {value}", key, table)
    if value < low or (high is not None and value > high):
        bounds = f"between {low} and {high}" if high is not None else f">= {low}"
        raise where.error(f"'{key}' must be {bounds}, got {value}", key, table)
    if table is None and ((key in _OPEN_LOW and value == low) or (key in _OPEN_HIGH and value == high)):
        bounds = f"strictly between {low} and {high}" if key in _OPEN_HIGH else f"> {low}"
        raise where.error(f"'{key}' must be {bounds}, got {value}", key, table)
    return float(value)


def _endpoint(data: dict[str, Any], where: _Where, table: str | None, fallback: Endpoint | None = None) -> Endpoint:
    base = fallback or Endpoint()
    base_url = data.get("base_url", base.base_url)
    # a [judge] or [models] table that points at another host sends a key only when it names one: the model
    # under test's key never follows a base_url to a host it was not issued for
    elsewhere = fallback is not None and "base_url" in data and base_url != base.base_url
    key_env = data.get("api_key_env", None if elsewhere else base.api_key_env)
    if base_url is not None and not (isinstance(base_url, str) and base_url.startswith(("http://", "https://"))):
        raise where.error("'base_url' must be an http(s) URL", "base_url", table)
    # upper-case only: a pasted key (sk-…, gsk_…) must never be accepted as a variable name
    if key_env is not None and (not isinstance(key_env, str) or not re.fullmatch(r"[A-Z_][A-Z0-9_]{0,63}", key_env)):
        raise where.error("'api_key_env' must name an environment variable (not the key itself)", "api_key_env", table)
    return Endpoint(base_url=base_url, api_key_env=key_env)


_PROMPT_KEYS = ("calls_per_month", "cached_input_fraction", "max_input_tokens", "criteria", "threshold", "margin",
                "max_tokens", "cache_hit_rate")


def _tables(data: Any, where: _Where, kind: str, known: tuple[str, ...], not_tables: str,
            not_table: str) -> Iterator[tuple[str, dict[str, Any], str]]:
    """Each [kind."name"] section as (name, keys, table): refused, naming it, when the section is no table or holds a
    key not in `known` (`not_table` is formatted with the name)."""
    if not isinstance(data, dict):
        raise where.error(not_tables, kind)
    for name, section in data.items():
        table = f'{kind}."{name}"'
        if not isinstance(section, dict):
            raise where.error(not_table.format(name=name), name, kind)
        for key in section:
            if key not in known:
                raise where.error(f"unknown key '{kind}.\"{name}\".{key}' (known: {', '.join(known)})", key, table)
        yield name, section, table


def _models(data: Any, where: _Where, target: Endpoint) -> dict[str, Endpoint]:
    """[models."name"] base_url / api_key_env: a candidate model on its own endpoint (as [judge] is for the judge)."""
    return {name: _endpoint(section, where, table, fallback=target) for name, section, table in _tables(
        data, where, "models", ("base_url", "api_key_env"),
        "'models' must be a table of [models.\"name\"] sections (base_url, api_key_env)",
        "'models.{name}' must be a table: [models.\"{name}\"] base_url / api_key_env")}


def _prompts(data: Any, where: _Where) -> dict[str, PromptConfig]:
    out = {}
    for name, section, table in _tables(data, where, "prompts", _PROMPT_KEYS,
                                        "'prompts' must be a table of [prompts.\"name\"] sections",
                                        "'prompts.{name}' must be a table"):
        calls = section.get("calls_per_month", 0)
        if isinstance(calls, bool) or not isinstance(calls, int) or calls < 0:
            raise where.error(f"'prompts.\"{name}\".calls_per_month' must be a whole number >= 0", "calls_per_month", table)
        budget = section.get("max_input_tokens")
        if budget is not None and (isinstance(budget, bool) or not isinstance(budget, int) or budget < 1):
            raise where.error(f"'prompts.\"{name}\".max_input_tokens' must be a whole number >= 1", "max_input_tokens", table)
        cached = _number(section.get("cached_input_fraction", 0.0), "cached_input_fraction", 0.0, 1.0, where, table)
        criteria = section.get("criteria")
        if criteria is not None and (not isinstance(criteria, str) or not criteria.strip()):
            raise where.error(f"'prompts.\"{name}\".criteria' must be the judge's rubric (text)", "criteria", table)
        threshold = section.get("threshold")
        if threshold is not None:
            threshold = _number(threshold, "threshold", 0.0, 1.0, where, table)
        margin = section.get("margin")
        if margin is not None:
            margin = _number(margin, "margin", 0.0, 1.0, where, table)
            if margin in (0.0, 1.0):
                raise where.error(f"'prompts.\"{name}\".margin' must be strictly between 0 and 1, got {margin}",
                                  "margin", table)
        cap = section.get("max_tokens")
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < 1):
            raise where.error(f"'prompts.\"{name}\".max_tokens' must be a whole number >= 1", "max_tokens", table)
        hits = section.get("cache_hit_rate")
        if hits is not None:
            hits = _number(hits, "cache_hit_rate", 0.0, 1.0, where, table)
        out[name] = PromptConfig(calls_per_month=calls, cached_input_fraction=cached, max_input_tokens=budget,
                                 criteria=criteria, threshold=threshold, margin=margin, max_tokens=cap,
                                 cache_hit_rate=hits)
    return out


def _prices(data: Any, where: _Where) -> dict[str, PriceOverride]:
    out = {}
    for model, section, table in _tables(data, where, "prices", ("input", "cached_input", "output", "batch_input",
                                                                  "batch_output"),
                                         "'prices' must be a table of [prices.\"model\"] sections",
                                         "'prices.{name}' must be a table with input and output"):
        for key in ("input", "output"):
            if key not in section:
                raise where.error(f"'prices.\"{model}\"' needs '{key}' (USD per million tokens)", model, "prices")
        values = {k: _number(v, k, 0.0, None, where, table) for k, v in section.items()}
        out[model] = PriceOverride(**values)
    return out
