"""/tree and /switch - (issue 21): the thread's shape (turns with versions, branches, where it was
forked from and the threads forked from it) on every store, across a restart; the thread before."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from fakeserver import FakeOpenAI, Reply
from harness import Session

from repl.store import ThreadStore
from repl.thread_settings import Origin, ThreadSettings


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def test_tree_shows_versions_branches_and_forks_after_a_restart(
        api_env: dict[str, str], server: FakeOpenAI,
        store_at: Callable[[], ThreadStore]) -> None:
    async def first() -> None:
        s = await Session(store=store_at()).start("t")
        for word in ("one", "two", "three"):
            await s.line(word)
        server.queue(Reply("other three"))
        await s.line("/retry")
        await s.line("/edit 2", wait=False)
        await s.wait_prompt()
        await s.line("\x7f" * 3 + "TWO")
        await s.line("/fork f 1")
        out = await s.line("/tree")
        assert "thread 'f' · forked from 't' at turn 1" in out
        assert "turn 1" in out and "turn 2" not in out
        await s.line("/switch -")
        assert s.ctx.thread.name == "t"
        await s.quit()

    async def second() -> None:
        s = await Session(store=store_at()).start("t")
        out = await s.line("/tree")
        lines = [line.strip() for line in out.splitlines()]
        assert lines[0] == "thread 't'"
        assert any(line.startswith("turn 1") and "one" in line for line in lines)
        turn2 = next(line for line in lines if line.startswith("turn 2"))
        assert "‹2/2›" in turn2 and "TWO" in turn2
        branch = next(line for line in lines if line.startswith("└ q1"))
        assert "two" in branch and "1 more turn" in branch  # turn 3, with its two answers
        assert "forked to 'f' at turn 1" in out
        out = await s.line("/switch -")
        assert "no previous thread" in out
        await s.line("/fork g")  # the whole thread: its last turn
        out = await s.line("/tree")
        assert "forked from 't' at turn 2" in out
        await s.line("/switch t")
        await s.line("/rename t2")  # its forks follow it
        await s.line("/switch f")
        out = await s.line("/tree")
        assert "forked from 't2' at turn 1" in out
        await s.quit()

    run(first())
    run(second())


def test_a_thread_forked_before_origins_were_kept_shows_none(
        api_env: dict[str, str], server: FakeOpenAI,
        store_at: Callable[[], ThreadStore]) -> None:
    store = store_at()
    store.create("old")
    store.fork("old", "old-fork")  # as chatrepl forked before: no origin
    store.create("odd")
    store.update("odd", settings=ThreadSettings.of({"forked_from": "not a record",
                                                    "temperature": 0.5}))
    store.close()

    async def go() -> None:
        s = await Session(store=store_at()).start("old-fork")
        out = await s.line("/tree")
        assert out.strip().splitlines()[0].strip() == "thread 'old-fork'"
        assert "no turns yet" in out
        await s.line("/switch odd")
        out = await s.line("/tree")
        assert "forked" not in out and "error" not in out
        assert s.ctx.thread.settings.request == {"temperature": 0.5}
        await s.quit()

    run(go())


def test_switch_back_and_forth_as_cd_dash(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("a")
        out = await s.line("/switch -")
        assert "no previous thread: this session has been on 'a' only" in out
        await s.line("/switch b")
        await s.line("/switch -")
        assert s.ctx.thread.name == "a"
        await s.line("/switch -")
        assert s.ctx.thread.name == "b"
        s.given(ask=_yes)
        await s.line("/delete a")
        out = await s.line("/switch -")
        assert "the thread before, 'a', is gone" in out and s.ctx.thread.name == "b"
        await s.quit()

    run(go())


async def _yes(question: str) -> bool:
    return True


def test_origin_is_read_and_written_as_one_record() -> None:
    settings = ThreadSettings(forked_from=Origin("t", 3))
    assert settings.stored() == {"forked_from": {"thread": "t", "turn": 3}}
    assert ThreadSettings.of(settings.stored()) == settings
    assert ThreadSettings.of({"forked_from": {"thread": "t", "turn": True}}).forked_from is None


def test_a_thread_named_in_the_background_is_followed_by_its_forks(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    """A fork made before its source's auto-title arrives names the title as its origin, and
    keeps the name it was given (the source's settings, copied, would have it titled too)."""
    server.queue(Reply("Knead it well."), Reply("Bread at home", stall=1.0))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/new")
        await s.line("how do I bake bread?")  # the title request now waits a second
        await s.line("/fork copy")
        await s.until(lambda: "is now 'Bread at home'" in s.text)
        out = await s.line("/tree")
        assert "forked from 'Bread at home' at turn 1" in out, out
        assert s.ctx.thread.name == "copy"  # named by the user: never titled
        await s.quit()

    run(go())
