"""What real servers and bridges did to chatrepl's Responses requests and to /compact (issue 19,
items 6 to 8), replayed by the fake server: LiteLLM's chat-completions bridge answering 500 to a
replayed output_text item, encrypted reasoning refused by another endpoint or organisation, and
summaries bounded, fitted to the window and never longer than what they replace."""

from __future__ import annotations

import asyncio
from typing import Any

from fakeserver import BRIDGE_500, Failure, FakeOpenAI, Reply
from harness import Session, write_config

from repl import compaction
from repl.client import ChatClient
from repl.thread import SUMMARY, TRUNCATED, Message


def session(server: FakeOpenAI, *, model: str = "gpt-5", retries: int = 0,
            **kwargs: Any) -> Session:
    """A Session whose default endpoint speaks the Responses API to ``server``."""
    s = Session(model=model, **kwargs)
    install(s, server, retries=retries)
    return s


def install(s: Session, server: FakeOpenAI, *, retries: int = 0) -> None:
    s.ctx.endpoints.install("default", ChatClient(
        api_key="sk-test", base_url=server.url, timeout=s.config.timeout, retries=retries,
        backoff=0.01, local_servers=(), api="responses", state=s.store))


def message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": text}


# -- item 6: a plain answer goes back as a plain assistant message ----------------------------


def test_through_a_bridge_a_plain_answer_is_replayed_as_a_plain_assistant_message(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.bridge = True

    async def go() -> None:
        s = await session(server, model="gemma3").start("b")
        await s.line("one")
        out = await s.line("two")
        assert "echo: two" in out and "error" not in out
        assert server.requests[1]["input"] == [
            message("user", "one"), message("assistant", "echo: one"), message("user", "two")]
        assert len(server.requests) == 2
        await s.quit()

    asyncio.run(go())


def test_output_items_that_carry_a_phase_or_reasoning_are_still_replayed_verbatim(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server).start("v")
        server.queue(Reply("Plain.", phase=""), Reply("Phased."), Reply("Thought.",
                                                                         reasoning="Hm.", phase=""))
        for question in ("a", "b", "c", "d"):
            await s.line(question)
        sent = server.requests[-1]["input"]
        assert sent[1] == message("assistant", "Plain.")
        assert sent[3]["type"] == "message" and sent[3]["phase"] == "final_answer"
        assert sent[5]["type"] == "reasoning" and sent[5]["encrypted_content"]
        assert sent[6]["type"] == "message" and sent[6]["content"][0]["text"] == "Thought."
        await s.quit()

    asyncio.run(go())


def test_a_500_with_a_validation_dump_is_one_readable_line_and_not_retried(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server, model="gemma3", retries=2).start("e")
        server.queue(Failure(500, BRIDGE_500))
        out = await s.line("one")
        [line] = [x for x in out.splitlines() if "error" in x]
        assert ("1 validation error for ChatCompletionRequestAssistantMessage: content: Input "
                "should be a valid string") in line
        assert "input_" not in out and "errors.pydantic.dev" not in out
        assert "Model Group" not in out
        assert len(server.requests) == 1  # the same request fails the same way
        await s.quit()

    asyncio.run(go())


# -- item 7: reasoning goes back only to the endpoint that made it ----------------------------


def reasoning_of(sent: list[Any]) -> list[str]:
    return [item["encrypted_content"] for item in sent if item.get("type") == "reasoning"]


def test_a_thread_moved_to_another_endpoint_sends_it_no_reasoning_from_the_first(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str]) -> None:
    write_config(isolated, f'api = "responses"\n[endpoints.b]\nbase_url = "{other.url}"\n')

    async def go() -> None:
        s = await Session(model="gpt-5").start("m")
        server.queue(Reply("A.", reasoning="Mine."))
        await s.line("one")
        assert s.store.messages("m")[-1].meta["endpoint"] == f"default@{server.url}"
        await s.line("/model b:gpt-5")
        other.queue(Reply("B.", reasoning="Theirs."))
        out = await s.line("two")
        assert "B." in out and "error" not in out
        assert reasoning_of(other.sent_input()) == []
        assert other.sent_input()[1]["type"] == "message"  # its phase still goes
        await s.line("/model default:gpt-5")
        await s.line("three")
        assert reasoning_of(server.sent_input()) == ["enc:1:5"]  # its own, back home
        await s.quit()

    asyncio.run(go())


def test_reasoning_refused_by_its_endpoint_is_left_out_once_and_for_good(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server).start("o")
        server.queue(Reply("A.", reasoning="One."), Reply("B.", reasoning="Two."))
        await s.line("one")
        await s.line("two")
        assert reasoning_of(server.sent_input()) == ["enc:1:4"]
        server.encrypted.clear()  # the key now belongs to another organisation
        server.queue(Reply("C.", reasoning="Three."))
        out = await s.line("three")
        assert out.count("encrypted reasoning") == 1 and "error" not in out and "C." in out
        assert server.requests[2]["input"][1]["type"] == "reasoning"  # refused
        assert reasoning_of(server.sent_input(3)) == []  # sent again without any
        await s.line("four")
        assert reasoning_of(server.sent_input()) == ["enc:3:6"]  # only what came since
        assert len(server.requests) == 5
        await s.quit()
        again = session(server)
        await again.start("o")
        await again.line("five")  # remembered in the store: no refusal first
        assert len(server.requests) == 6 and reasoning_of(server.sent_input()) == ["enc:3:6"]
        await again.quit()

    asyncio.run(go())


# -- item 8: /compact bounded, fitted, given a system prompt, never longer ---------------------


async def talk(s: Session, turns: int, size: int = 0) -> None:
    for n in range(turns):
        await s.line(f"question {n}" + " x" * size)


def summaries(s: Session, name: str) -> list[Message]:
    return [m for m in s.store.messages(name) if m.role == SUMMARY]


def test_the_summary_request_has_a_system_prompt_and_a_bounded_output(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="gpt-4o-mini").start("c")
        await talk(s, 3, 100)
        server.queue(Reply("Short."))
        await s.line("/compact 1")
        sent = server.requests[-1]
        assert sent["messages"][0] == {"role": "system", "content": compaction.SYSTEM}
        assert sent["messages"][-1]["content"] == compaction.SUMMARISE
        assert sent["max_tokens"] == 4096  # an eighth of gpt-4o-mini's window, at most 4,096
        await s.line("/set max_tokens 300")  # the user's output limit holds for summaries too
        await talk(s, 1, 100)
        server.queue(Reply("Shorter."))
        await s.line("/compact 1")
        assert server.requests[-1]["max_tokens"] == 300
        assert len(summaries(s, "c")) == 2
        out = await s.line("/set")
        assert "compact_tokens" in out and "an eighth of the window" in out
        await s.quit()

    asyncio.run(go())


def test_the_bound_is_compact_tokens_else_a_share_of_the_window_within_max_tokens() -> None:
    assert compaction.bound(128_000, {}) == 4096
    assert compaction.bound(2_048, {}) == 256
    assert compaction.bound(256, {}) == 64
    assert compaction.bound(None, {}) == 1024
    assert compaction.bound(2_048, {"max_tokens": 100}) == 100
    assert compaction.bound(2_048, {"max_tokens": 100, "compact_tokens": 500}) == 500


def test_on_the_responses_api_the_summary_has_instructions_and_max_output_tokens(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server, run_settings={"compact_tokens": 80}).start("r")
        await talk(s, 3, 100)
        server.queue(Reply("Short."))
        await s.line("/compact 1")
        sent = server.requests[-1]
        assert sent["instructions"] == compaction.SYSTEM and sent["max_output_tokens"] == 80
        assert "compact_tokens" not in sent
        await s.quit()

    asyncio.run(go())


def test_the_summary_request_is_fitted_to_the_window_leaving_out_the_oldest(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    write_config(isolated, '[context_sizes]\n"tiny" = 600\n')
    server.context_limit = 600

    async def go() -> None:
        s = await Session(model="tiny").start("w")
        await talk(s, 5, 250)
        server.queue(Reply("Short."))
        out = await s.line("/compact 1")
        assert "oldest messages do not fit tiny's window beside the summary" in out
        sent = server.requests[-1]
        assert server.tokens(sent["messages"]) + sent["max_tokens"] <= 600
        assert sent["max_tokens"] == 75  # an eighth of 600
        [summary] = summaries(s, "w")
        assert summary.content == "Short." and summary.status is None
        await s.quit()

    asyncio.run(go())


def test_a_summary_longer_than_what_it_replaces_is_refused_and_nothing_changes(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="gpt-4o-mini").start("l")
        await talk(s, 4)
        server.queue(Reply("long " * 100))
        out = await s.line("/compact 2")
        [line] = [x for x in out.splitlines() if "longer than" in x]
        assert "nothing was changed" in line
        assert summaries(s, "l") == []
        await s.line("question 4")
        assert server.sent_messages()[0]["content"] == "question 0"  # all of it still goes
        await s.quit()

    asyncio.run(go())


def test_a_summary_cut_off_by_its_limit_is_stored_flagged_and_said(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="gpt-4o-mini").start("t")
        await talk(s, 3, 100)
        await s.line("/set compact_tokens 20")
        server.queue(Reply("word " * 100))  # the server stops it at 20 tokens
        out = await s.line("/compact 1")
        assert "cut off at its limit of 20 tokens" in out
        [summary] = summaries(s, "t")
        assert summary.status == TRUNCATED and summary.content == "word " * 16
        await s.quit()

    asyncio.run(go())


def test_a_summary_request_the_server_still_finds_too_long_is_fitted_to_what_it_states(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    write_config(isolated, '[context_sizes]\n"tiny" = 2000\n')

    async def go() -> None:
        s = await Session(model="tiny").start("s")
        await talk(s, 4, 300)
        assert "not sent" not in s.text  # it all fits the configured window
        server.context_limit = 600  # the server's real window is smaller
        server.queue(Reply("Short."))
        out = await s.line("/compact 1")
        assert out.count("summary request is too long for tiny") == 1
        assert "oldest messages do not fit tiny's window" in out
        assert server.tokens(server.requests[-1]["messages"]) <= 600
        assert [m.content for m in summaries(s, "s")] == ["Short."]
        await s.quit()

    asyncio.run(go())


def test_the_endpoint_an_answer_records_holds_no_credentials() -> None:
    from repl.responses import origin

    assert origin("w", "https://me:secret@llm.example:8443/v1?key=k2", 0) == \
        "w@https://llm.example:8443/v1"
    assert origin("default", None, 2) == "default@api.openai.com#2"


def test_a_request_that_cannot_hold_even_the_newest_message_summarises_nothing() -> None:
    older = [Message("user", "x" * 2000, id=1), Message("assistant", "y" * 2000, id=2)]
    request = compaction.request(older, size=600, scale=1.0, limit=75)
    assert request.summarised == 0 and request.left_out == 2
    assert request.replaced == 2 * (500 + 4)
    fits = compaction.request(older, size=None, scale=1.0, limit=75)
    assert (fits.summarised, fits.left_out) == (2, 0)
