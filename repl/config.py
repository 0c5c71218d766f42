"""Settings: the one place that knows platformdirs, environment variables and the config file.

Precedence for each setting: command-line flag > environment variable > config file > default.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from repl.errors import ConfigError
from repl.tools.servers import ServerConfig, servers

APP = "chatrepl"
DEFAULT_MODEL = "gpt-4o-mini"
APIS = ("auto", "chat", "responses")  # chat completions or OpenAI's Responses API
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
    def db_path(self) -> Path:
        return self.data_dir / "chatrepl.db"

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

    for name, value in table.items():
        numbers = value if key == "prices" else [value]
        ok = isinstance(numbers, list) and len(numbers) == (2 if key == "prices" else 1) and all(
            isinstance(n, int | float) and not isinstance(n, bool) and n >= 0 for n in numbers)
        if not ok:
            shape = "[input, output] prices" if key == "prices" else "a number of tokens"
            raise ConfigError(f"{path}: {key}.{name} must be {shape}")
    return table


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
    values["endpoints"] = _endpoints(config_file, values, env)
    values["presets"] = _presets(config_file, values.get("presets"))
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


# -- endpoints, request settings and presets -------------------------------------------------

DEFAULT_ENDPOINT = "default"  # base_url / OPENAI_BASE_URL and OPENAI_API_KEY
EFFORTS = ("none", "minimal", "low", "medium", "high", "xhigh")
# chatrepl's request settings: (what a value must be, the check)
SETTINGS: dict[str, str] = {
    "temperature": "a number from 0 to 2", "top_p": "a number from 0 to 1",
    "max_tokens": "a whole number of tokens, 1 or more", "seed": "a whole number",
    "effort": "one of " + ", ".join(EFFORTS),
    "compact_tokens": "a whole number of tokens, 1 or more",  # /compact's summary; never sent
}
_ENDPOINT_KEYS = ("base_url", "api_key_env", "api_key_command", "api", "headers", "models",
                  "context_sizes", *SETTINGS)
_PRESET_KEYS = ("system", "model", "description", *SETTINGS)
APIS = ("auto", "chat", "responses")


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """A server chatrepl talks to. ``api_key``: read from ``api_key_env`` here (never stored);
    ``key_problem``: why it could not be (said when the endpoint is used, not before)."""

    name: str
    base_url: str | None
    api_key: str | None = field(default=None, repr=False)
    api_key_env: str | None = None
    api_key_command: str | None = None
    key_problem: str | None = None
    api: str = "auto"  # auto | chat | responses (passed to the client once it takes it)
    headers: dict[str, str] = field(default_factory=dict)
    models: tuple[str, ...] = ()
    context_sizes: dict[str, int] = field(default_factory=dict)
    settings: dict[str, object] = field(default_factory=dict)  # temperature... for its requests


@dataclass(frozen=True, kw_only=True)
class Preset:
    name: str
    system: str | None = None
    model: str | None = None  # may be ENDPOINT:MODEL
    description: str | None = None
    settings: dict[str, object] = field(default_factory=dict)

    def describe(self) -> str:
        if self.description:
            return self.description
        parts = [f"model {self.model}"] if self.model else []
        parts += [f"{k} {v}" for k, v in self.settings.items()]
        if self.system:
            parts.append(f"system: {self.system[:40]}" + ("…" if len(self.system) > 40 else ""))
        return ", ".join(parts) or "(empty)"


def parse_setting(key: str, value: object) -> object:
    """``value`` (typed text or a config value) as the request setting ``key`` holds it; a
    ConfigError naming what it must be."""
    if key not in SETTINGS:
        raise ConfigError(f"unknown setting {key!r} (known: {', '.join(SETTINGS)})")
    text = str(value).strip().lower() if not isinstance(value, bool) else "?"
    try:
        if key == "effort":
            if text in EFFORTS:
                return text
        elif key in ("max_tokens", "seed", "compact_tokens"):
            number = int(text)
            if key == "seed" or number >= 1:
                return number
        else:
            real = float(text)
            if 0 <= real <= (2 if key == "temperature" else 1):
                return real
    except ValueError:
        pass
    raise ConfigError(f"{key} must be {SETTINGS[key]}, not {str(value)[:40]!r}")


def _settings_of(path: Path, where: str, table: dict[str, object]) -> dict[str, object]:
    try:
        return {k: parse_setting(k, v) for k, v in table.items() if k in SETTINGS}
    except ConfigError as e:
        raise ConfigError(f"{path}: {where}: {e}") from None


def _table(path: Path, where: str, table: object, known: tuple[str, ...]) -> dict[str, object]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {where} must be a table")
    for key in table:
        if key not in known:
            raise ConfigError(f"{path}: unknown setting {where}.{key} (known: {', '.join(known)})")
    for key in ("base_url", "api_key_env", "api_key_command", "system", "model", "description"):
        if key in table and not isinstance(table[key], str):
            raise ConfigError(f"{path}: {where}.{key} must be a string")
    return table


def _endpoints(path: Path, values: dict[str, object],
               env: dict[str, str]) -> dict[str, Endpoint]:
    raw = values.get("endpoints") or {}
    assert isinstance(raw, dict)
    found: dict[str, Endpoint] = {}
    for name, table in {DEFAULT_ENDPOINT: {}, **raw}.items():
        where = f"endpoints.{name}"
        t = _table(path, where, table, _ENDPOINT_KEYS)
        base_url = t.get("base_url")
        if name == DEFAULT_ENDPOINT:
            base_url = values.get("base_url") or base_url  # OPENAI_BASE_URL, base_url
        elif not base_url:
            raise ConfigError(f"{path}: {where} needs a base_url")
        if not name or ":" in name:
            raise ConfigError(f"{path}: endpoint names cannot be empty or hold a colon: {name!r}")
        found[name] = _endpoint(path, name, t, base_url, env)
    return found


def _endpoint(path: Path, name: str, t: dict[str, object], base_url: object,
              env: dict[str, str]) -> Endpoint:
    where = f"endpoints.{name}"
    var, command = t.get("api_key_env"), t.get("api_key_command")
    if var and command:
        raise ConfigError(f"{path}: {where}: api_key_env or api_key_command, not both")
    key = env.get(str(var)) if var else None
    if name == DEFAULT_ENDPOINT and not (var or command):
        key = env.get("OPENAI_API_KEY")
    headers, models = t.get("headers", {}), t.get("models", [])
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        raise ConfigError(f"{path}: {where}.headers must be a table of strings")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"{path}: {where}.models must be a list of model names")
    if t.get("api", "auto") not in APIS:
        raise ConfigError(f"{path}: {where}.api must be one of {', '.join(APIS)}")
    sizes = _check_table(path, f"{where}.context_sizes", t.get("context_sizes", {}))
    assert isinstance(sizes, dict)
    return Endpoint(
        name=name, base_url=str(base_url) if base_url else None, api_key=key or None,
        api_key_env=str(var) if var else None, api_key_command=str(command) if command else None,
        key_problem=f"the environment variable {var} is not set" if var and not key else None,
        api=str(t.get("api", "auto")), headers=dict(headers), models=tuple(models),
        context_sizes=sizes, settings=_settings_of(path, where, t))


def _presets(path: Path, raw: object) -> dict[str, Preset]:
    presets: dict[str, Preset] = {}
    for name, table in (raw or {}).items() if isinstance(raw, dict) else ():
        t = _table(path, f"presets.{name}", table, _PRESET_KEYS)
        text = {k: str(t[k]) for k in ("system", "model", "description") if k in t}
        presets[name] = Preset(name=name, **text,
                               settings=_settings_of(path, f"presets.{name}", t))
    return presets
