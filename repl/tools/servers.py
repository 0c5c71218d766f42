"""The ``[mcp.servers.NAME]`` tables of config.toml as dataclasses (pure: no I/O, no mcp)."""

from __future__ import annotations

import fnmatch
import re
from dataclasses import dataclass, field
from pathlib import Path

from repl.errors import ConfigError

NAME = re.compile(r"[A-Za-z0-9_-]+\Z")
_KEYS = ("command", "env", "cwd", "url", "headers", "approve")


@dataclass(frozen=True, kw_only=True)
class ServerConfig:
    """One MCP server: ``command`` (program and arguments, over stdio) or ``url`` (streamable
    HTTP). ``approve``: patterns of ``server.tool`` names that run without asking."""

    name: str
    command: tuple[str, ...] = ()
    env: dict[str, str] = field(default_factory=dict)
    cwd: str | None = None
    url: str | None = None
    headers: dict[str, str] = field(default_factory=dict, repr=False)  # may hold a token
    approve: tuple[str, ...] = ()

    def approves(self, tool: str) -> bool:
        """True if ``server.tool`` runs without asking."""
        return any(fnmatch.fnmatchcase(f"{self.name}.{tool}", p) for p in self.approve)


def servers(path: Path, table: dict[str, object]) -> tuple[ServerConfig, ...]:
    """The servers of the ``[mcp]`` table (only ``servers`` is known in it)."""
    unknown = [key for key in table if key != "servers"]
    if unknown:
        raise ConfigError(f"{path}: unknown setting mcp.{unknown[0]} (known: mcp.servers)")
    entries = table.get("servers", {})
    if not isinstance(entries, dict):
        raise ConfigError(f"{path}: mcp.servers must be a table of [mcp.servers.NAME] tables")
    return tuple(_server(path, name, entry) for name, entry in entries.items())


def _server(path: Path, name: str, entry: object) -> ServerConfig:
    where = f"{path}: mcp.servers.{name}"
    if not NAME.match(name):
        raise ConfigError(f"{where}: a server name is letters, digits, - and _")
    if not isinstance(entry, dict):
        raise ConfigError(f"{where} must be a table")
    for key in entry:
        if key not in _KEYS:
            raise ConfigError(f"{where}: unknown key {key!r} (known: {', '.join(_KEYS)})")
    command, url = entry.get("command"), entry.get("url")
    if (command is None) == (url is None):
        raise ConfigError(f"{where}: give either command = [program, args...] or url")
    if (command is not None and not _strings(command, list)) or command == []:
        raise ConfigError(f"{where}: command must be a list of strings (program and arguments)")
    if url is not None and not (isinstance(url, str) and url.startswith(("http://", "https://"))):
        raise ConfigError(f"{where}: url must be an http:// or https:// address")
    for key in ("env", "headers"):
        if key in entry and not _strings(entry[key], dict):
            raise ConfigError(f"{where}: {key} must be a table of strings")
    if "cwd" in entry and not isinstance(entry["cwd"], str):
        raise ConfigError(f"{where}: cwd must be a path")
    approve = entry.get("approve", [])
    if not _strings(approve, list):
        raise ConfigError(f"{where}: approve must be a list of patterns like \"{name}.*\"")
    assert isinstance(approve, list)
    cwd = entry.get("cwd")
    return ServerConfig(name=name, command=tuple(command or ()), env=dict(entry.get("env", {})),
                        cwd=str(Path(cwd).expanduser()) if isinstance(cwd, str) else None,
                        url=url, headers=dict(entry.get("headers", {})), approve=tuple(approve))


def _strings(value: object, kind: type) -> bool:
    if kind is list:
        return isinstance(value, list) and all(isinstance(v, str) for v in value)
    return isinstance(value, dict) and all(isinstance(v, str) for v in value.values())
