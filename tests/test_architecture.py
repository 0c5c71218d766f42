"""The layering the README promises: the pure layers import neither prompt_toolkit, rich, openai."""

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
                                    "repl.local", "repl.compaction", "repl.config_tables"])
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


def test_the_readmes_command_table_is_the_registry() -> None:
    from repl.commands import COMMANDS

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    assert set(re.findall(r"^\| `/([a-z]+)", readme, re.M)) == set(COMMANDS)
