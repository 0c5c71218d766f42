"""What goes with an erased turn or an emptied trash (issue 18: 4, 5, 9, 10, 11): the /compact
summary made from it, its typed lines in the input history, the responses the server stored,
an auto-title made from it; and an erase killed halfway finished at the next open."""

from __future__ import annotations

import time

from fakeserver import FakeOpenAI, Reply
from harness import Session, run


def asking(s: Session) -> list[str]:
    """The questions the session asks from now on (answered as typed)."""
    asked: list[str] = []
    real = s.ctx.ask

    async def ask(question: str) -> bool:
        asked.append(question)
        return await real(question)

    s.ctx.ask = ask
    return asked


async def answer(s: Session, command: str, reply: str) -> str:
    await s.line(command, wait=False)
    await s.wait_prompt()  # the confirmation question
    return await s.line(reply)


def test_erasing_a_turn_a_summary_covers_erases_the_summary(api_env: dict[str, str],
                                                            server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("c")
        for text in ("my secret plan", "second", "third"):
            await s.line(text)
        server.queue(Reply("They planned a secret."))
        await s.line("/compact 1")
        assert [m.role for m in s.store.messages("c")][-1] == "summary"
        asked = asking(s)
        out = await answer(s, "/erase 1", "y")
        assert "summary made from it goes too" in asked[0]
        assert "erased turn 1 for good: 2 messages, and the summary made from it" in out
        assert all(m.role != "summary" for m in s.store.messages("c", hidden=True))
        await s.line("fourth")
        assert [m["content"] for m in server.sent_messages()] == [
            "second", "echo: second", "third", "echo: third", "fourth"]
        await s.quit()

    run(go)


def test_a_later_turn_keeps_the_summary(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("c")
        for text in ("first", "second"):
            await s.line(text)
        server.queue(Reply("A summary."))
        await s.line("/compact 1")
        asked = asking(s)
        await answer(s, "/erase 2", "y")
        assert "summary" not in asked[0]
        assert [m.role for m in s.store.messages("c")] == ["user", "assistant", "summary"]
        await s.quit()

    run(go)


def test_an_auto_title_from_an_erased_turn_goes_back_to_the_date(api_env: dict[str, str],
                                                                 server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("main")
        await s.line("/new")
        server.queue(Reply("noted"), Reply("Secret Merger Plans"))
        await s.line("the merger with Acme is secret")
        await s.until(lambda: s.ctx.thread.name == "Secret Merger Plans")
        await s.line("something else")
        created = s.ctx.thread.created_at
        asked = asking(s)
        out = await answer(s, "/erase 2", "y")  # not the turn the title came from
        assert "name" not in asked[0] and s.ctx.thread.name == "Secret Merger Plans"
        out = await answer(s, "/erase 1", "y")
        assert "'Secret Merger Plans', made from it, goes back to its date" in asked[1]
        dated = time.strftime("%Y-%m-%d-%H%M", time.localtime(created))
        assert s.ctx.thread.name == dated
        assert f"the thread is named {dated!r} again" in out
        assert s.store.get("Secret Merger Plans") is None
        assert "titled_from" not in s.ctx.thread.settings
        await s.quit()

    run(go)


def test_a_name_the_user_gave_stays(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("main")
        await s.line("/new")
        server.queue(Reply("noted"), Reply("Secret Merger Plans"))
        await s.line("the merger with Acme is secret")
        await s.until(lambda: s.ctx.thread.name == "Secret Merger Plans")
        await s.line("/rename plans")
        await answer(s, "/erase 1", "y")
        assert s.ctx.thread.name == "plans"
        await s.quit()

    run(go)
