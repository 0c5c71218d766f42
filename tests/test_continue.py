"""/continue (issue 21): an answer cut short goes on where it stopped, through the App against
the local server, on every store and across a restart; the requests as each server is asked
(an instruction by default, the final assistant message continued where configured)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest
from fakeserver import Failure, FakeOpenAI, Reply
from harness import Session, write_config
from test_responses import session as responses_session

from repl.continuation import ASK, Joining, lead, overlap
from repl.store import ThreadStore
from repl.thread import INTERRUPTED, TRUNCATED, Message

PARTIAL = "The capital of France is Par"


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def answers(s: Session, thread: str = "t") -> list[tuple[str, str | None, str | None]]:
    """(text, status, hidden) of every answer stored, hidden ones too."""
    return [(m.content, m.status, m.hidden and m.hidden.split(":")[0])
            for m in s.store.messages(thread, hidden=True) if m.role == "assistant"]


def test_continue_after_the_output_limit_sends_the_partial_and_an_instruction(
        api_env: dict[str, str], server: FakeOpenAI,
        store_at: Callable[[], ThreadStore]) -> None:
    async def first() -> None:
        s = await Session(store=store_at()).start("t")
        server.queue(Reply(PARTIAL, finish="length"))
        out = await s.line("capital of France?")
        assert "output limit" in out
        await s.quit()

    async def second() -> None:  # tomorrow: the partial is still there to go on from
        s = await Session(store=store_at()).start("t")
        server.queue(Reply("is, on the Seine."))
        out = await s.line("/continue")
        assert out.count("The capital of France") == 1  # its end, once, then the rest
        assert "is, on the Seine." in out
        assert server.sent_messages() == [
            {"role": "user", "content": "capital of France?"},
            {"role": "assistant", "content": PARTIAL},
            {"role": "user", "content": ASK}]
        assert [m.content for m in s.store.messages("t")] == [
            "capital of France?", "The capital of France is Paris, on the Seine."]
        assert answers(s) == [(PARTIAL, TRUNCATED, "replaced"),
                              ("The capital of France is Paris, on the Seine.", None, None)]
        await s.quit()

    async def third() -> None:
        s = await Session(store=store_at()).start("t")
        await s.line("and Italy?")  # the instruction is never sent again, the whole answer is
        assert [m["content"] for m in server.sent_messages()] == [
            "capital of France?", "The capital of France is Paris, on the Seine.", "and Italy?"]
        out = await s.line("/versions 1")
        assert "(truncated)" in out and "* 2" in out  # the partial, kept as the version before
        await s.quit()

    run(first())
    run(second())
    run(third())


def test_a_repeated_start_is_left_out_on_screen_and_in_the_store(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        server.queue(Reply(PARTIAL, finish="length"),
                     Reply("The capital of France is Paris. It is on the Seine.", pieces=12))
        await s.line("capital of France?")
        out = await s.line("/continue")
        assert out.count("The capital of France") == 1, out
        assert "is. It is on the Seine." in out
        assert [m.content for m in s.store.messages("t")][-1] == \
            "The capital of France is Paris. It is on the Seine."
        out = await s.line("/undo")  # the partial back, the whole kept as its version
        assert "the previous one is back" in out
        assert [m.content for m in s.store.messages("t")][-1] == PARTIAL
        await s.quit()

    run(go())


def test_continue_on_a_finished_answer_or_none_says_so_and_sends_nothing(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        out = await s.line("/continue")
        assert "nothing to continue: this thread has no answer yet" in out
        await s.line("hello")
        out = await s.line("/continue")
        assert "nothing to continue: the last answer is finished" in out
        assert len(server.requests) == 1
        await s.quit()

    run(go())


def test_a_dropped_stream_continued_twice_is_one_answer(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        server.queue(Reply("one two ", finish=None, done=False),
                     Reply("three four ", finish="length"), Reply("five."))
        out = await s.line("count")
        assert "stream ended before the answer was finished" in out
        out = await s.line("/continue")
        assert "output limit" in out
        assert server.sent_messages()[-2]["content"] == "one two "
        out = await s.line("/continue")
        assert server.sent_messages()[-2]["content"] == "one two three four "
        assert [m.content for m in s.store.messages("t")] == ["count", "one two three four five."]
        assert [a[1:] for a in answers(s)] == [(TRUNCATED, "replaced"), (TRUNCATED, "replaced"),
                                               (None, None)]
        out = await s.line("/continue")
        assert "nothing to continue" in out
        await s.quit()

    run(go())


def test_a_failed_continuation_leaves_the_partial_as_it_was(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(retries=0).start("t")
        server.queue(Reply(PARTIAL, finish="length"), Failure(500))
        await s.line("capital of France?")
        out = await s.line("/continue")
        assert "error" in out
        assert answers(s) == [(PARTIAL, TRUNCATED, None)]
        server.queue(Reply("is."))
        await s.line("/continue")
        assert [m.content for m in s.store.messages("t")][-1] == "The capital of France is Paris."
        await s.quit()

    run(go())


def test_ctrl_c_then_continue(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        server.queue(Reply("word " * 400, pieces=400, delay=0.01), Reply("the end."))
        await s.line("a long story", wait=False)
        await s.until(lambda: s.text.count("word") > 20)
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        (partial, status, _), = answers(s)
        assert status == INTERRUPTED
        await s.line("/continue")
        assert server.sent_messages()[-2] == {"role": "assistant", "content": partial}
        assert [m.content for m in s.store.messages("t")][-1] == partial + "the end."
        await s.quit()

    run(go())


@pytest.mark.parametrize("how", ["vllm", "prefill"])
def test_servers_that_continue_the_final_message_get_it_last_and_no_instruction(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str],
        how: str) -> None:
    write_config(isolated, f'[endpoints.default]\ncontinue_as = "{how}"\n')

    async def go() -> None:
        s = await Session().start("t")
        server.queue(Reply(PARTIAL, finish="length"), Reply("is."))
        await s.line("capital of France?")
        await s.line("/continue")
        body = server.requests[-1]
        assert body["messages"][-1] == {"role": "assistant", "content": PARTIAL}
        assert ASK not in str(body)
        vllm = {"continue_final_message": True, "add_generation_prompt": False}
        assert {k: body.get(k) for k in vllm} == (vllm if how == "vllm" else
                                                  dict.fromkeys(vllm))
        assert [m.content for m in s.store.messages("t")][-1] == "The capital of France is Paris."
        await s.line("thanks")  # only /continue's request has them
        assert "continue_final_message" not in server.requests[-1]
        await s.quit()

    run(go())


def test_an_incomplete_responses_answer_is_continued_with_an_instruction(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    write_config(isolated, '[endpoints.default]\ncontinue_as = "vllm"\n')  # not on Responses

    async def go() -> None:
        s = await responses_session(server).start("r")
        server.queue(Reply(PARTIAL, finish="length"), Reply("is."))
        out = await s.line("capital of France?")
        assert "incomplete" in out or "truncated" in out
        await s.line("/continue")
        assert server.paths[-1] == "/v1/responses"
        sent = server.sent_input()
        assert sent[-1] == {"role": "user", "content": ASK}
        assert PARTIAL in str(sent[-2])
        assert "continue_final_message" not in server.requests[-1]
        assert [m.content for m in s.store.messages("r")][-1] == "The capital of France is Paris."
        await s.quit()

    run(go())


# -- the pure parts -------------------------------------------------------------------------------


def test_overlap_needs_a_real_repeat() -> None:
    assert overlap("The capital of France is Par", "The capital of France is Paris.") == 28
    assert overlap("The capital of France is Par", "  France is Paris") == 2 + len("France is Par")
    assert overlap("wor", "rd") == 0  # too short to tell from the text itself
    assert overlap("abc", "") == 0


def test_joining_holds_back_only_what_may_repeat() -> None:
    j = Joining(Message("assistant", PARTIAL, status=TRUNCATED))
    assert j.feed("The cap") == "" and j.feed("ital of") == ""
    assert j.feed(" France is Paris!") == "is!"
    assert j.feed(" More.") == " More."
    k = Joining(Message("assistant", PARTIAL, status=TRUNCATED))
    assert k.feed("is") == ""  # "is" is in the partial's end: held until it cannot be a repeat
    assert k.feed(", yes.") == "is, yes."
    assert Joining(Message("assistant", "x"), "prefill").feed("y") == "y"


def test_lead_is_the_end_of_the_last_line_in_its_fence() -> None:
    assert lead("short") == "short"
    long = "word " * 30 + "end"
    assert lead(long).startswith("…") and lead(long).endswith("end") and len(lead(long)) <= 61
    assert lead("text\n```python\nx = 1\ny =") == "```python\ny ="
    assert lead("```\ncode\n```\nafter") == "after"
