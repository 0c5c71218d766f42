"""The [endpoints.NAME] and [presets.NAME] tables of config.toml, and the request settings
(temperature, max_tokens...) both carry: read and checked here, used by config.load."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from repl.continuation import INSTRUCTION
from repl.continuation import MODES as CONTINUE_MODES
from repl.errors import ConfigError

APIS = ("auto", "chat", "responses")  # chat completions or OpenAI's Responses API

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
                  "context_sizes", "fold_system", "continue_as", *SETTINGS)
_PRESET_KEYS = ("system", "model", "description", *SETTINGS)


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
    # the system message at the head of the first user message: True, False, None (learned)
    fold_system: bool | None = None
    # how /continue asks for the rest of an answer (repl/continuation.py: instruction, prefill,
    # vllm); only what the server is known to do, so an instruction unless told
    continue_as: str = "instruction"


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


def endpoints_of(path: Path, values: dict[str, object],
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
    sizes = numbers_table(path, f"{where}.context_sizes", t.get("context_sizes", {}))
    if t.get("continue_as", INSTRUCTION) not in CONTINUE_MODES:
        raise ConfigError(f"{path}: {where}.continue_as must be one of {', '.join(CONTINUE_MODES)}")
    return Endpoint(
        name=name, base_url=str(base_url) if base_url else None, api_key=key or None,
        api_key_env=str(var) if var else None, api_key_command=str(command) if command else None,
        key_problem=f"the environment variable {var} is not set" if var and not key else None,
        api=str(t.get("api", "auto")), headers=dict(headers), models=tuple(models),
        context_sizes={k: int(v) for k, v in sizes.items() if isinstance(v, int | float)},
        settings=_settings_of(path, where, t), fold_system=_flag(path, where, t, "fold_system"),
        continue_as=str(t.get("continue_as", INSTRUCTION)))


def _flag(path: Path, where: str, t: dict[str, object], key: str) -> bool | None:
    value = t.get(key)
    if value is not None and not isinstance(value, bool):
        raise ConfigError(f"{path}: {where}.{key} must be true or false")
    return value


def presets_of(path: Path, raw: object) -> dict[str, Preset]:
    presets: dict[str, Preset] = {}
    for name, table in (raw or {}).items() if isinstance(raw, dict) else ():
        t = _table(path, f"presets.{name}", table, _PRESET_KEYS)
        text = {k: str(t[k]) for k in ("system", "model", "description") if k in t}
        presets[name] = Preset(name=name, **text,
                               settings=_settings_of(path, f"presets.{name}", t))
    return presets


def numbers_table(path: Path, key: str, table: object) -> dict[str, object]:
    """A table of model names to numbers: tokens ([context_sizes]), or [input, output] prices
    ([prices]); ConfigError naming the entry that is neither."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: {key} must be a table")
    prices = key.endswith("prices")
    for name, value in table.items():
        numbers = value if prices else [value]
        ok = isinstance(numbers, list) and len(numbers) == (2 if prices else 1) and all(
            isinstance(n, int | float) and not isinstance(n, bool) and n >= 0 for n in numbers)
        if not ok:
            shape = "[input, output] prices" if prices else "a number of tokens"
            raise ConfigError(f"{path}: {key}.{name} must be {shape}")
    return table
