"""Settings: the one place that knows platformdirs, environment variables and the config file.

Precedence for each setting: command-line flag > environment variable > config file > default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from repl.config_tables import (  # re-exported: what the rest of chatrepl reads from config
    APIS,
    DEFAULT_ENDPOINT,
    EFFORTS,
    SETTINGS,
    Endpoint,
    Preset,
    endpoints_of,
    numbers_table,
    parse_setting,
    presets_of,
)
from repl.errors import ConfigError
from repl.tools.servers import ServerConfig, servers

APP = "chatrepl"
DEFAULT_MODEL = "gpt-4o-mini"
EDITING_MODES = ("emacs", "vi")

# Every setting the file takes, documented: what `chatrepl --config` prints (a test checks that
# it names every key _read_file accepts)
CONFIG_TEMPLATE = """\
# chatrepl settings. Every key is optional; flags and environment variables win over this file.
# model = "gpt-4o-mini"          # default model for new threads (or CHATREPL_MODEL)
# base_url = "http://localhost:11434/v1"   # any OpenAI-compatible endpoint (or OPENAI_BASE_URL)
# store = "redis://localhost:6379/0"  # or json:///path/dir, sqlite:///path/file.db (CHATREPL_STORE)
# timeout = 60                   # seconds without a token before an answer is given up
# retries = 2                    # automatic retries of a failed request (busy server...); 0: off
# code_theme = "monokai"         # pygments theme for code blocks
# math = true                    # TeX in answers ($x^2$, $$...$$) shown as Unicode (x²)
# show_turns = 3                 # turns shown when a thread is opened
# api = "auto"                   # auto, chat or responses (or CHATREPL_API); auto: the Responses
#                                # API on api.openai.com, chat completions elsewhere
# server_state = false           # Responses: store answers at OpenAI, send only what is new
# [context_sizes]                # tokens, by model-name prefix, for models chatrepl doesn't know
# "my-local-model" = 32768
# [prices]                       # US$ per million tokens [input, output], for /tokens
# "my-model" = [0.5, 1.5]
# [attach]                       # largest files /attach and -a send, in MB (1,000,000 bytes)
# image_mb = 20                  # PNG, JPEG, GIF, WebP
# pdf_mb = 32
# text_mb = 1                    # UTF-8 text files
# max_tool_rounds = 10           # tool calls answered in a row before the loop stops
# tool_timeout = 60              # seconds a tool call may run before it is cancelled
# [mcp.servers.files]            # an MCP server over stdio (needs: pip install 'chatrepl[mcp]')
# command = ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/home/me/notes"]
# env = {}                       # extra environment variables; cwd = "/path" too
# approve = ["files.read_*"]     # tools that run without asking
# [mcp.servers.web]              # or over streamable HTTP
# url = "http://localhost:8000/mcp"
# headers = { Authorization = "Bearer ..." }
# auto_title = true              # name a thread /new made without a name from its first exchange
# title_model = "gpt-4o-mini"    # the model that names it (default: the thread's); NAME:MODEL too
# editing_mode = "emacs"         # the prompt's keys: emacs or vi (the mode shown in the bar)
# [endpoints.ollama]             # more servers; a model written ollama:llama3.2 goes there
# base_url = "http://localhost:11434/v1"
# fold_system = true             # the system prompt sent inside the first question (a template
#                                # with no system role); unset: learned (at once for Gemma)
# continue_as = "prefill"        # how /continue asks for the rest: instruction (default),
#                                # prefill (llama-server), vllm (continue_final_message)
# [endpoints.openrouter]
# base_url = "https://openrouter.ai/api/v1"
# api_key_env = "OPENROUTER_API_KEY"   # or api_key_command = "pass show openrouter"
# headers = { "X-Title" = "chatrepl" }
# models = ["openai/gpt-4o"]     # offered by /model's Tab when the server lists none
# [presets.terse]                # /preset terse, -p terse
# system = "Answer in one sentence."
# model = "ollama:llama3.2"
# temperature = 0.2              # also top_p, max_tokens, seed, effort, compact_tokens (the
#                                # most a /compact summary takes), and in [endpoints.X]
"""

_KEYS: dict[str, type] = {
    "model": str,
    "base_url": str,
    "store": str,
    "timeout": float,
    "retries": int,
    "code_theme": str,
    "math": bool,
    "show_turns": int,
    "api": str,
    "server_state": bool,
    "context_sizes": dict,
    "prices": dict,
    "attach": dict,
    # tools: [mcp.servers.NAME] tables, the loop's limits
    "mcp": dict,
    "max_tool_rounds": int,
    "tool_timeout": float,
    # endpoints, presets, titles
    "endpoints": dict,
    "presets": dict,
    "auto_title": bool,
    "title_model": str,
    "editing_mode": str,
}


@dataclass(frozen=True, kw_only=True)
class AttachLimits:
    """The largest file of each kind that is attached, in MB (1,000,000 bytes)."""

    image_mb: float = 20.0
    pdf_mb: float = 32.0
    text_mb: float = 1.0


@dataclass(frozen=True, kw_only=True)
class Config:
    data_dir: Path
    config_file: Path
    model: str = DEFAULT_MODEL  # for threads that have none yet: CHATREPL_MODEL, file, default
    model_override: str | None = None  # -m/--model: this run, whatever the thread used before
    base_url: str | None = None
    store: str | None = None  # a store URL; None: SQLite in data_dir
    api_key: str | None = field(default=None, repr=False)
    redis_password: str | None = field(default=None, repr=False)  # REDIS_PASSWORD; never stored
    timeout: float = 60.0
    retries: int = 2  # automatic retries of a request that failed before any answer arrived
    code_theme: str = "monokai"
    math: bool = True  # TeX in answers shown as Unicode on the screen (the text is unchanged)
    show_turns: int = 3
    api: str = "auto"  # auto, chat or responses (APIS)
    server_state: bool = False  # Responses: store: true and previous_response_id
    context_sizes: dict[str, int] = field(default_factory=dict)  # model prefix -> tokens
    prices: dict[str, list[float]] = field(default_factory=dict)  # model -> [in, out] $/1M
    attach: AttachLimits = field(default_factory=AttachLimits)  # [attach] in the file
    mcp: tuple[ServerConfig, ...] = ()  # [mcp.servers.NAME] in the file
    max_tool_rounds: int = 10  # answers with tool calls run in a row before the loop stops
    tool_timeout: float = 60.0  # seconds a tool call may run before it is cancelled
    endpoints: dict[str, Endpoint] = field(default_factory=dict)  # [endpoints.NAME], default too
    presets: dict[str, Preset] = field(default_factory=dict)  # [presets.NAME]
    auto_title: bool = True
    title_model: str | None = None
    editing_mode: str = "emacs"  # the prompt's keys (EDITING_MODES)
    editor: str = "vi"  # for /edit -e: VISUAL, else EDITOR, else vi
    term: str = ""  # TERM: "" or "dumb" means the terminal's abilities are unknown

    @property
    def history_path(self) -> Path:
        return self.data_dir / "input_history"

    @property
    def log_path(self) -> Path:
        return self.data_dir / "chatrepl.log"

    @property
    def mcp_log_path(self) -> Path:
        return self.data_dir / "mcp.log"  # what stdio MCP servers write to stderr


def _dirs() -> tuple[Path, Path]:
    from platformdirs import user_config_path, user_data_path

    return user_data_path(APP, appauthor=False), user_config_path(APP, appauthor=False)


def config_path() -> Path:
    """The settings file: config.toml in the user's config dir."""
    return _dirs()[1] / "config.toml"


def _read_file(path: Path) -> dict[str, object]:
    if not path.exists():
        return {}
    import tomllib

    try:
        with path.open("rb") as f:
            raw = tomllib.load(f)
    except FileNotFoundError:
        return {}
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from None
    values: dict[str, object] = {}
    for key, value in raw.items():
        kind = _KEYS.get(key)
        if kind is None:
            raise ConfigError(f"{path}: unknown setting {key!r} (known: {', '.join(_KEYS)})")
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            raise ConfigError(f"{path}: {key} must be a {kind.__name__}")
        values[key] = _check_table(path, key, value) if kind is dict else value
    return values


def _attach_limits(path: Path, table: dict[str, object]) -> AttachLimits:
    known = AttachLimits.__dataclass_fields__
    limits: dict[str, float] = {}
    for key, value in table.items():
        if key not in known:
            raise ConfigError(f"{path}: unknown setting attach.{key} (known: {', '.join(known)})")
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ConfigError(f"{path}: attach.{key} must be a positive number of MB")
        limits[key] = float(value)
    return AttachLimits(**limits)


def _check_table(path: Path, key: str, table: object) -> object:
    assert isinstance(table, dict)
    if key == "attach":
        return _attach_limits(path, table)
    if key == "mcp":
        return servers(path, table)
    if key in ("endpoints", "presets"):
        return table  # read by _endpoints and _presets, which know the environment

    return numbers_table(path, key, table)


def load(*, model: str | None = None, store: str | None = None,
         env: dict[str, str] | None = None) -> Config:
    """Build the Config from flags, the environment and the config file."""
    env = dict(os.environ) if env is None else env
    data_dir, config_file = _dirs()[0], config_path()
    values = _read_file(config_file)
    if env.get("CHATREPL_MODEL"):
        values["model"] = env["CHATREPL_MODEL"]
    if env.get("OPENAI_BASE_URL"):
        values["base_url"] = env["OPENAI_BASE_URL"]
    if env.get("CHATREPL_API"):
        values["api"] = env["CHATREPL_API"]
    if values.get("api", "auto") not in APIS:
        raise ConfigError(f"api must be one of {', '.join(APIS)} (CHATREPL_API or "
                          f"{config_file}), not {values['api']!r}")
    if values.get("editing_mode", "emacs") not in EDITING_MODES:
        raise ConfigError(f"{config_file}: editing_mode must be emacs or vi, "
                          f"not {values['editing_mode']!r}")
    if env.get("CHATREPL_STORE"):
        values["store"] = env["CHATREPL_STORE"]
    if store:
        values["store"] = store
    timeout = values.get("timeout", 60.0)
    assert isinstance(timeout, float)
    if timeout <= 0:
        raise ConfigError(f"{config_file}: timeout must be positive")
    if isinstance(retries := values.get("retries"), int) and retries < 0:
        raise ConfigError(f"{config_file}: retries must be 0 (off) or more")
    for key in ("max_tool_rounds", "tool_timeout"):
        if isinstance(limit := values.get(key), int | float) and limit <= 0:
            raise ConfigError(f"{config_file}: {key} must be positive")
    values["endpoints"] = endpoints_of(config_file, values, env)
    values["presets"] = presets_of(config_file, values.get("presets"))
    return Config(
        data_dir=data_dir,
        config_file=config_file,
        api_key=env.get("OPENAI_API_KEY") or None,
        redis_password=env.get("REDIS_PASSWORD") or None,
        model_override=model or None,
        editor=env.get("VISUAL") or env.get("EDITOR") or "vi",
        term=env.get("TERM", ""),
        **values,  # type: ignore[arg-type]
    )


__all__ = ["APIS", "CONFIG_TEMPLATE", "DEFAULT_ENDPOINT", "EFFORTS", "SETTINGS", "AttachLimits",
           "Config", "Endpoint", "Preset", "config_path", "load", "parse_setting"]
