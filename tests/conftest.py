"""Shared fixtures: every test gets its own data and config dirs and its own fake OpenAI server."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import settings

sys.path.insert(0, str(Path(__file__).parent))

from fakeserver import FakeOpenAI
from stores import BACKENDS

from repl.store import ThreadStore

# No test depends on the machine's speed: hypothesis's per-example deadline (200 ms) fails a
# property on a loaded two-core machine, so there is none. Nor on chance: the examples are the
# same at every run (derandomize), so CI is green or red by the code alone; what a search finds
# is pinned with @example. `pytest --hypothesis-profile=explore` searches afresh (random examples,
# 1000 where a test names no number).
settings.register_profile("chatrepl", deadline=None, derandomize=True)
settings.register_profile("explore", deadline=None, max_examples=1000)
settings.load_profile("chatrepl")


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Point XDG dirs and HOME at a temp dir and clear any real OpenAI settings."""
    env = {
        "HOME": str(tmp_path / "home"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    for key, value in env.items():
        os.makedirs(value, exist_ok=True)
        monkeypatch.setenv(key, value)
    for key in list(os.environ):
        if key.startswith(CLEARED) or key in ("NO_COLOR", "VISUAL", "EDITOR"):
            monkeypatch.delenv(key, raising=False)
    return env


# Every variable chatrepl (or the SDK, or redis) reads: a test never sees the user's own.
CLEARED = ("CHATREPL_", "OPENAI_", "REDIS_")

# Modules of tests that drive real terminals, kill processes or race them: `-m "not slow"` skips
# them; elsewhere such a test says so itself (@pytest.mark.slow).
SLOW_MODULES = {"test_terminal", "test_faults", "test_recovery"}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "slow: real terminals, killed processes, races")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        module = item.path.stem
        if module in SLOW_MODULES:
            item.add_marker(pytest.mark.slow)


@pytest.fixture
def data_dir(isolated: dict[str, str]) -> Path:
    return Path(isolated["XDG_DATA_HOME"]) / "chatrepl"


@pytest.fixture
def server() -> Iterator[FakeOpenAI]:
    s = FakeOpenAI().start()
    yield s
    s.stop()


@pytest.fixture
def other() -> Iterator[FakeOpenAI]:
    """A second local server: another endpoint."""
    s = FakeOpenAI().start()
    yield s
    s.stop()


@pytest.fixture
def api_env(server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """OPENAI_* pointing at the fake server; returns the full environment for subprocesses."""
    monkeypatch.setenv("OPENAI_BASE_URL", server.url)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-key-123")
    return dict(os.environ)


@pytest.fixture(params=sorted(BACKENDS))
def store_at(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], ThreadStore]:
    """Open the test's store, once for each kind (again: a restart, or a second process, on
    the same data)."""
    backend = str(request.param)
    return lambda: BACKENDS[backend](tmp_path / "store")
