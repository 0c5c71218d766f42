"""The layering docs/architecture.md promises (the pure layers import neither prompt_toolkit,
rich nor openai), and the docs that the code generates or names."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest


@pytest.mark.parametrize("module", ["repl.store.sqlite", "repl.client", "repl.export",
                                    "repl.export_html", "repl.export_style",
                                    "repl.thread", "repl.sanitize", "repl.config",
                                    "repl.importers", "repl.window", "repl.sse",
                                    "repl.store.words", "repl.store.jsonfiles",
                                    "repl.files", "repl.transfer", "repl.attachments",
                                    "repl.apierrors", "repl.store.redis", "repl.store.blobs",
                                    "repl.responses", "repl.completions", "repl.events",
                                    "repl.endpoints", "repl.tools.servers",
                                    "repl.tools.toolbox", "repl.tools.names", "repl.wire",
                                    "repl.local", "repl.compaction", "repl.config_tables",
                                    "repl.texspan", "repl.toolcalls", "repl.replay",
                                    "repl.thread_settings", "repl.sdk"])
def test_pure_layers_do_not_import_the_ui(module: str) -> None:
    code = (f"import sys, {module}; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'prompt_toolkit', 'rich', 'openai'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_openai_is_not_imported_on_the_way_to_the_prompt() -> None:
    code = ("import sys, repl.cli, repl.app, repl.chat, repl.commands; "
            "print('openai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_the_usage_command_table_is_the_registry() -> None:
    from repl.commands import COMMANDS

    usage = (ROOT / "docs" / "usage.md").read_text()
    assert set(re.findall(r"^\| `/([a-z]+)", usage, re.M)) == set(COMMANDS)


def test_docs_commands_is_generated_from_the_registry() -> None:
    """docs/commands.md is what ``python -m repl.commands`` prints (run it to make it again)."""
    from repl.commands import reference

    assert (ROOT / "docs" / "commands.md").read_text() == reference()


def test_the_readme_names_only_real_commands_and_links_only_real_files() -> None:
    from repl.commands import COMMANDS

    readme = (ROOT / "README.md").read_text()
    assert set(re.findall(r"^\| `/([a-z]+)", readme, re.M)) <= set(COMMANDS)
    for folder, text in [(ROOT, readme), *((ROOT / "docs", p.read_text())
                                            for p in (ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", text):
            assert (folder / target).exists(), f"{target} (linked from {folder})"


ROOT = Path(__file__).parent.parent
