"""The house (docs/architecture.md, "Layers"): every import of the package, lazy ones included,
points down or sideways, never up; and the rooms of one floor keep out of one another."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPL = Path(__file__).resolve().parent.parent / "repl"

# from the ground up; a module of a package named here is on its package's floor (``repl.store.x``
# is where ``repl.store`` is); every other module is named (``repl`` is the package alone)
FLOORS: list[tuple[str, tuple[str, ...]]] = [
    ("data", ("repl", "repl.errors", "repl.thread", "repl.files", "repl.sanitize",
              "repl.redaction", "repl.texspan", "repl.local", "repl.signals", "repl.sse",
              "repl.keys", "repl.parts", "repl.events", "repl.export_style", "repl.toolcalls",
              "repl.replay", "repl.thread_settings", "repl.tree", "repl.prices",
              "repl.continuation")),
    ("rooms", ("repl.store", "repl.render", "repl.config", "repl.config_tables",
               "repl.tools.servers", "repl.tools.names", "repl.tools.stderr",
               "repl.tools.toolbox", "repl.client", "repl.completions", "repl.responses",
               "repl.apierrors", "repl.window", "repl.wire", "repl.export", "repl.export_html",
               "repl.importers", "repl.attachments", "repl.input_history", "repl.prompts",
               "repl.endpoints", "repl.compaction", "repl.transfer", "repl.included",
               "repl.sdk")),
    ("turn", ("repl.turn", "repl.calls")),
    ("session", ("repl.context", "repl.chat", "repl.titles", "repl.services", "repl.meter")),
    ("commands", ("repl.commands",)),
    ("shell", ("repl.completion", "repl.app", "repl.cli", "repl.__main__")),
]
# rooms of the same floor that never import one another (left: the room; right: kept out)
APART = {
    "repl.store": ("repl.render", "repl.client", "repl.config", "repl.window", "repl.wire",
                   "repl.endpoints", "repl.tools", "repl.importers", "repl.export"),
    "repl.render": ("repl.store", "repl.client", "repl.config", "repl.attachments",
                    "repl.window", "repl.endpoints", "repl.tools", "repl.importers"),
    "repl.client": ("repl.store", "repl.render", "repl.config", "repl.window", "repl.tools"),
    "repl.importers": ("repl.store", "repl.render", "repl.client", "repl.config"),
    "repl.export": ("repl.store", "repl.render", "repl.client", "repl.config"),
}


def modules() -> dict[str, Path]:
    found = {}
    for path in REPL.rglob("*.py"):
        parts = path.relative_to(REPL.parent).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


def imported(name: str, path: Path, known: dict[str, Path]) -> set[str]:
    """The package's modules ``name`` imports, at its top or inside a function."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "repl")
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[:len(package.split(".")) - node.level + 1] \
                if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            if module.split(".")[0] != "repl":
                continue
            for alias in node.names:
                full = f"{module}.{alias.name}"
                out.add(full if full in known else module)
    out.discard(name)
    return out


def floor(name: str) -> int:
    best, level = -1, -1
    for n, (_, names) in enumerate(FLOORS):
        for prefix in names:
            inside = name.startswith(prefix + ".") and prefix != "repl"
            if (name == prefix or inside) and len(prefix) > best:
                best, level = len(prefix), n
    assert level >= 0, f"{name} is on no floor: add it to FLOORS"
    return level


def room(name: str, rooms: tuple[str, ...]) -> str | None:
    return next((r for r in rooms if name == r or name.startswith(r + ".")), None)


KNOWN = modules()
GRAPH = {name: imported(name, path, KNOWN) for name, path in sorted(KNOWN.items())}


@pytest.mark.parametrize("name", sorted(GRAPH))
def test_no_import_points_up(name: str) -> None:
    up = sorted(m for m in GRAPH[name] if floor(m) > floor(name))
    assert not up, f"{name} ({FLOORS[floor(name)][0]}) imports from above: {up}"


@pytest.mark.parametrize("owner", sorted(APART))
def test_the_rooms_keep_apart(owner: str) -> None:
    crossing = sorted(f"{name} -> {m}" for name, found in GRAPH.items()
                      if room(name, (owner,)) for m in found if room(m, APART[owner]))
    assert not crossing, crossing


def test_only_the_registry_of_the_commands_is_imported_from_outside() -> None:
    """Services live below the commands: the shell runs a command through the registry
    (``repl.commands``: parse, dispatch, COMMANDS), never by reaching into a command's module."""
    allowed = {"repl.commands", "repl.commands.registry"}
    reaching = sorted(f"{name} -> {m}" for name, found in GRAPH.items()
                      if not room(name, ("repl.commands",)) for m in found
                      if room(m, ("repl.commands",)) and m not in allowed)
    assert not reaching, reaching
