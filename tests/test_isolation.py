"""The suite never reaches the user's own settings or store, whatever their environment holds."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent


@pytest.mark.slow
def test_the_suite_never_touches_the_store_named_by_the_environment(tmp_path: Path) -> None:
    sentinel = tmp_path / "users-own" / "threads.db"
    env = {**os.environ, "CHATREPL_STORE": f"sqlite://{sentinel}",
           "CHATREPL_MODEL": "users-model", "OPENAI_API_KEY": "sk-users-real-key",
           "OPENAI_BASE_URL": "http://127.0.0.1:9/v1", "REDIS_PASSWORD": "users-password"}
    tests = ["tests/test_repl.py::test_talk_and_history_is_resent_after_restart",
             "tests/test_repl.py::test_switch_creates_threads_and_keeps_them_apart",
             "tests/test_repl.py::test_model_flag_overrides_and_is_remembered"]
    command = [sys.executable, "-m", "pytest", "-o", "addopts=", "-q", "-p", "no:cacheprovider"]
    out = subprocess.run([*command, *tests], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "3 passed" in out.stdout
    assert not sentinel.exists() and not sentinel.parent.exists()


def test_every_variable_chatrepl_reads_is_cleared_inside_a_test() -> None:
    leaked = [k for k in os.environ if k.startswith(("CHATREPL_", "OPENAI_", "REDIS_"))]
    assert leaked == []
