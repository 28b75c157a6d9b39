"""Config: DESIGN.md's defaults, the documented file parses, and every mistake is named with its line."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptslim.config import Config, Endpoint, PriceOverride, PromptConfig, find_root, load_config
from promptslim.errors import InputError

REPO = Path(__file__).resolve().parents[1]

DESIGN_EXAMPLE = """\
model = "gpt-4o-mini"          # model under test
judge_model = "gpt-4o"         # LLM judge ("none" = assertions only)
margin = 0.05                  # non-inferiority margin on the 0..1 score scale
repeats = 1
concurrency = 8
max_cost_usd = 5.0             # budget for one promptslim run's own API spend
[prompts."support_reply"]      # keyed by template path under prompts/ without .j2
calls_per_month = 1_200_000
cached_input_fraction = 0.0   # share of input tokens billed at the cached-input price (provider prompt caching); default 0
max_input_tokens = 900         # token budget checked by `check`
[prices."my-finetune"]         # USD per million tokens; overrides genai-prices
input = 0.30
cached_input = 0.15
output = 1.20
"""


def config_from(tmp_path: Path, text: str, name: str = "promptslim.toml") -> Config:
    (tmp_path / name).write_text(text, encoding="utf-8")
    return load_config(tmp_path)


def error_from(tmp_path: Path, text: str, name: str = "promptslim.toml") -> str:
    with pytest.raises(InputError) as err:
        config_from(tmp_path, text, name)
    assert err.value.exit_code == 2
    return err.value.message


def test_defaults_without_a_config_file(tmp_path):
    config = load_config(tmp_path)
    assert config == Config(root=tmp_path)
    assert (config.source, config.model, config.judge_model) == (None, None, None)
    assert (config.margin, config.repeats, config.concurrency, config.max_cost_usd) == (0.05, 1, 8, 5.0)
    assert config.target == Endpoint(None, "OPENAI_API_KEY") == config.judge
    assert config.prompts == {} and config.prices == {}
    assert config.prompt("anything") == PromptConfig(calls_per_month=0, cached_input_fraction=0.0,
                                                     max_input_tokens=None)


def test_state_home_follows_promptslim_home(tmp_path, monkeypatch):
    monkeypatch.setenv("PROMPTSLIM_HOME", str(tmp_path / "state"))
    assert load_config(tmp_path).home == tmp_path / "state"
    monkeypatch.delenv("PROMPTSLIM_HOME")
    assert load_config(tmp_path).home == tmp_path / ".promptslim"


def test_design_example_config_parses(tmp_path):
    config = config_from(tmp_path, DESIGN_EXAMPLE)
    assert config.source == "promptslim.toml"
    assert (config.model, config.judge_model) == ("gpt-4o-mini", "gpt-4o")
    assert (config.margin, config.repeats, config.concurrency, config.max_cost_usd) == (0.05, 1, 8, 5.0)
    assert config.prompts == {"support_reply": PromptConfig(calls_per_month=1_200_000, cached_input_fraction=0.0,
                                                            max_input_tokens=900)}
    assert config.prompt("support_reply").calls_per_month == 1_200_000
    assert config.prices == {"my-finetune": PriceOverride(input=0.30, output=1.20, cached_input=0.15)}


def test_repo_config_parses():
    config = load_config(REPO)
    assert config.model == "gpt-4o-mini"
    assert config.prompt("support_reply") == PromptConfig(1_200_000, 0.0, 900)
    assert config.prompt("ticket_classifier").calls_per_month == 3_000_000
    assert config.prompt("summarize").max_input_tokens == 700


def test_tool_promptslim_in_pyproject(tmp_path):
    config = config_from(tmp_path, '[project]\nname = "demo"\n\n[tool.promptslim]\nmodel = "gpt-4.1"\nmargin = 0.05\n'
                                   '[tool.promptslim.prompts."support_reply"]\ncalls_per_month = 10\n'
                                   '[tool.promptslim.judge]\nbase_url = "http://localhost:11434/v1"\n',
                         "pyproject.toml")
    assert config.source == "pyproject.toml"
    assert (config.model, config.margin) == ("gpt-4.1", 0.05)
    assert config.prompt("support_reply").calls_per_month == 10
    assert config.judge == Endpoint("http://localhost:11434/v1", None)  # its own host, no api_key_env: no key sent
    assert config.target == Endpoint(None, "OPENAI_API_KEY")


def test_pyproject_without_section_gives_defaults(tmp_path):
    config = config_from(tmp_path, '[project]\nname = "demo"\n', "pyproject.toml")
    assert config == Config(root=tmp_path)


def test_promptslim_toml_wins_over_pyproject(tmp_path):
    (tmp_path / "pyproject.toml").write_text('[tool.promptslim]\nmodel = "from-pyproject"\n')
    config = config_from(tmp_path, 'model = "from-toml"\n')
    assert (config.model, config.source) == ("from-toml", "promptslim.toml")


def test_find_root_walks_up_to_the_config(tmp_path):
    (tmp_path / "promptslim.toml").write_text('model = "x"\n')
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    assert find_root(deep) == tmp_path.resolve()


def test_judge_endpoint_inherits_then_overrides(tmp_path):
    config = config_from(tmp_path, 'base_url = "https://proxy.example/v1"\napi_key_env = "PROXY_KEY"\n'
                                   '[judge]\napi_key_env = "JUDGE_KEY"\n')
    assert config.target == Endpoint("https://proxy.example/v1", "PROXY_KEY")
    assert config.judge == Endpoint("https://proxy.example/v1", "JUDGE_KEY")


def test_a_table_on_another_host_sends_a_key_only_when_it_names_one(tmp_path):
    config = config_from(tmp_path, '[judge]\nbase_url = "https://judge.example/v1"\n'
                                   '[models."llama3"]\nbase_url = "http://localhost:11434/v1"\n'
                                   '[models."mine"]\nbase_url = "http://localhost:8000/v1"\napi_key_env = "MINE_KEY"\n'
                                   '[models."same"]\napi_key_env = "SAME_KEY"\n')
    assert config.judge == Endpoint("https://judge.example/v1", None)  # OPENAI_API_KEY does not follow it there
    assert config.models["llama3"] == Endpoint("http://localhost:11434/v1", None)
    assert config.models["mine"] == Endpoint("http://localhost:8000/v1", "MINE_KEY")
    assert config.models["same"] == Endpoint(None, "SAME_KEY")  # the target's host: a key it names is sent
    assert config.target == Endpoint(None, "OPENAI_API_KEY")


# --- errors name the key and its line ------------------------------------------------------------------


def test_unknown_top_level_key_names_key_and_line(tmp_path):
    message = error_from(tmp_path, 'model = "gpt-4o-mini"\nmargin = 0.05\nmodle = "gpt-4o"\n')
    assert message.startswith("promptslim.toml:3: unknown key 'modle' (known: ")
    assert "model" in message.split("known:")[1]


def test_unknown_key_in_prompts_table_names_line(tmp_path):
    message = error_from(tmp_path, 'model = "a"\n\n[prompts."x"]\ncalls_per_month = 5\ncals = 3\n')
    assert message == ("promptslim.toml:5: unknown key 'prompts.\"x\".cals' "
                       "(known: calls_per_month, cached_input_fraction, max_input_tokens, criteria, threshold, margin, "
                       "max_tokens, cache_hit_rate)")


def test_a_prompt_can_set_its_own_margin_and_max_tokens(tmp_path):
    (tmp_path / "promptslim.toml").write_text('margin = 0.05\n[prompts."demo"]\nmargin = 0.1\nmax_tokens = 8\n')
    config = load_config(tmp_path)
    assert config.prompt("demo").margin == 0.1 and config.prompt("demo").max_tokens == 8
    assert config.prompt("other").margin is None and config.margin == 0.05


def test_a_prompt_margin_of_zero_is_refused_with_its_line(tmp_path):
    message = error_from(tmp_path, '[prompts."demo"]\ncalls_per_month = 5\nmargin = 0\n')
    assert message.startswith("promptslim.toml:3: 'prompts.\"demo\".margin' must be strictly between 0 and 1")


def test_unknown_key_in_prices_table_names_line(tmp_path):
    message = error_from(tmp_path, '[prompts."x"]\ncalls_per_month = 5\n\n[prices."y"]\ninput = 1\noutput = 2\n'
                                   'cached = 3\n')
    assert message == ("promptslim.toml:7: unknown key 'prices.\"y\".cached' (known: input, cached_input, output, "
                       "batch_input, batch_output)")


def test_same_key_in_two_tables_reports_the_right_table(tmp_path):
    message = error_from(tmp_path, '[prices."a"]\ninput = 1\noutput = 2\n\n[prompts."b"]\ncalls_per_month = 1\n'
                                   'input = 2\n')
    assert message.startswith("promptslim.toml:7: unknown key 'prompts.\"b\".input'")


def test_unknown_key_in_judge_names_line(tmp_path):
    message = error_from(tmp_path, 'model = "a"\n[judge]\nbase_url = "http://x"\nmodel = "b"\n')
    assert message == "promptslim.toml:4: unknown key 'judge.model' (known: base_url, api_key_env)"


def test_wrong_types_name_the_key(tmp_path):
    assert error_from(tmp_path, 'model = "a"\nmargin = "a"\n') == "promptslim.toml:2: 'margin' must be a number"
    assert error_from(tmp_path, 'repeats = 0\n') == "promptslim.toml:1: 'repeats' must be a whole number >= 1"
    assert error_from(tmp_path, 'concurrency = true\n') == \
        "promptslim.toml:1: 'concurrency' must be a whole number >= 1"
    assert error_from(tmp_path, 'margin = 1.5\n') == "promptslim.toml:1: 'margin' must be between 0.0 and 1.0, got 1.5"
    assert error_from(tmp_path, 'model = ""\n') == "promptslim.toml:1: 'model' must be a model name (a non-empty string)"
    assert error_from(tmp_path, 'base_url = "ftp://x"\n') == "promptslim.toml:1: 'base_url' must be an http(s) URL"


def test_wrong_types_inside_tables_name_key_and_line(tmp_path):
    assert error_from(tmp_path, '[prompts."x"]\ncalls_per_month = -1\n') == \
        "promptslim.toml:2: 'prompts.\"x\".calls_per_month' must be a whole number >= 0"
    assert error_from(tmp_path, '[prompts."x"]\ncached_input_fraction = 2\n') == \
        "promptslim.toml:2: 'cached_input_fraction' must be between 0.0 and 1.0, got 2"
    assert error_from(tmp_path, '[prices."y"]\ninput = 1\noutput = "x"\n') == \
        "promptslim.toml:3: 'output' must be a number"
    message = error_from(tmp_path, '[prices."y"]\ninput = 1\n')
    assert message.endswith("'prices.\"y\"' needs 'output' (USD per million tokens)")


def test_invalid_toml_names_line(tmp_path):
    message = error_from(tmp_path, 'model = "a"\nmargin = \n')
    assert message.startswith("promptslim.toml:2: invalid TOML: ")
    (tmp_path / "py").mkdir()
    message = error_from(tmp_path / "py", '[tool.promptslim]\n[prices\n', "pyproject.toml")
    assert message.startswith("pyproject.toml:2: invalid TOML: ")


def test_unknown_key_in_pyproject_names_line(tmp_path):
    message = error_from(tmp_path, '[tool.promptslim]\nmodel = "gpt-4.1"\nmodle = 1\n', "pyproject.toml")
    assert message.startswith("pyproject.toml:3: unknown key 'modle'")


def test_pyproject_errors_name_the_line_inside_tool_promptslim(tmp_path):
    message = error_from(tmp_path, '[project]\nname = "demo"\nversion = "0.1"\n\n[tool.promptslim]\n'
                                   'model = "gpt-4o-mini"\nversion = 2\n', "pyproject.toml")
    assert message.startswith("pyproject.toml:7: unknown key 'version'")


@pytest.mark.parametrize("value", ["sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", "sk-ant-api03-abcdefghijk",
                                   "Bearer abc", "https://example.com/key"])
def test_api_key_env_that_looks_like_a_key_is_rejected(tmp_path, value):
    message = error_from(tmp_path, f'model = "a"\napi_key_env = "{value}"\n')
    assert message == "promptslim.toml:2: 'api_key_env' must name an environment variable (not the key itself)"
    assert value not in message
    message = error_from(tmp_path, f'[judge]\napi_key_env = "{value}"\n')
    assert message == "promptslim.toml:2: 'api_key_env' must name an environment variable (not the key itself)"


def test_api_key_env_rejects_an_identifier_shaped_key(tmp_path):
    key = "gsk_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3zA5bC7dE9fG1hJ3kL5mN7p"
    message = error_from(tmp_path, f'api_key_env = "{key}"\n')
    assert "api_key_env" in message and key not in message


def test_cache_hit_rate_is_a_share(tmp_path):
    message = error_from(tmp_path, '[prompts."x"]\ncache_hit_rate = 1.5\n')
    assert message.startswith("promptslim.toml:2:") and "cache_hit_rate" in message
