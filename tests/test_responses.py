"""OpenAI's Responses API through the App, against the fake server's /v1/responses: the exact
request bodies (instructions, input items, replayed reasoning, include, store,
previous_response_id), the switch from chat completions, /effort, usage, failures."""

from __future__ import annotations

import asyncio
import os
import signal
from dataclasses import replace
from typing import Any

import pytest
from fakeserver import ErrorEvent, Failure, FakeOpenAI, Reply, ResponseFailed
from harness import Session

from repl import responses
from repl.calls import NOT_RUN
from repl.client import ChatClient
from repl.replay import Replay
from repl.thread import ERROR, INTERRUPTED, TRUNCATED, Message

ENC = ["reasoning.encrypted_content"]


def session(server: FakeOpenAI, *, api: str = "responses", server_state: bool = False,
            model: str | None = "gpt-5", **kwargs: Any) -> Session:
    """A Session whose client speaks ``api`` (the harness's speaks chat completions)."""
    s = Session(model=model, **kwargs)
    s.ctx.endpoints.install("default", ChatClient(
        api_key="sk-test", base_url=server.url, timeout=s.config.timeout, retries=0,
        local_servers=(), api=api, server_state=server_state, state=s.store))
    return s


def message(role: str, text: str) -> dict[str, Any]:
    return {"role": role, "content": text}


def reasoning_item(n: int, text: str) -> dict[str, Any]:
    return {"id": f"rs_{n}", "type": "reasoning",
            "summary": [{"type": "summary_text", "text": text}],
            "encrypted_content": f"enc:{n}:{len(text)}"}


def message_item(n: int, text: str) -> dict[str, Any]:
    return {"id": f"msg_{n}", "type": "message", "role": "assistant", "status": "completed",
            "content": [{"type": "output_text", "text": text, "annotations": []}],
            "phase": "final_answer"}


def test_every_turn_is_stateless_and_replays_the_reasoning_items_verbatim(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server).start("r", system="Be brief.")
        server.queue(Reply("Four.", reasoning="Two and two."), Reply("Five."))
        out = await s.line("2+2?")
        assert "Four." in out  # the summary streams dimmed as any reasoning, then collapses
        assert server.paths == ["/v1/responses"]
        assert server.requests[0] == {
            "model": "gpt-5", "input": [message("user", "2+2?")], "stream": True,
            "store": False, "instructions": "Be brief.", "include": ENC,
            "reasoning": {"summary": "auto"}}
        answer = s.store.messages("r")[-1]
        assert (answer.content, answer.reasoning) == ("Four.", "Two and two.")
        assert answer.meta["api"] == "responses" and answer.meta["response_id"] == "resp_1"
        assert answer.meta["output"] == [reasoning_item(1, "Two and two."),
                                         message_item(1, "Four.")]
        await s.line("and 2+3?")
        assert server.requests[1]["input"] == [
            message("user", "2+2?"), reasoning_item(1, "Two and two."),
            message_item(1, "Four."), message("user", "and 2+3?")]
        assert server.requests[1]["instructions"] == "Be brief."  # sent every turn
        assert "previous_response_id" not in server.requests[1]
        assert server.stored == {}  # store: false
        await s.quit()

    asyncio.run(go())


def test_usage_with_cached_and_reasoning_tokens_is_stored_and_shown_by_tokens(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server).start("u")
        server.queue(Reply("x" * 40, reasoning="y" * 80, cached=3))
        await s.line("count")
        usage = s.store.messages("u")[-1].usage
        assert (usage.cached_tokens, usage.reasoning_tokens) == (3, 20)
        assert usage.completion_tokens == 30 and usage.prompt_tokens
        out = await s.line("/tokens")
        assert "3 cached" in out and "20 reasoning" in out
        await s.quit()

    asyncio.run(go())


def test_server_state_chains_from_the_right_response_through_retry_undo_and_edit(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server, server_state=True).start("s", system="sys")
        await s.line("one")
        assert server.requests[0]["store"] is True
        assert "previous_response_id" not in server.requests[0]
        await s.line("two")
        assert server.requests[1]["previous_response_id"] == "resp_1"
        assert server.requests[1]["input"] == [message("user", "two")]
        assert server.requests[1]["instructions"] == "sys"
        await s.line("/retry")  # the answer to "two" again: from resp_1, not resp_2
        assert server.requests[2]["previous_response_id"] == "resp_1"
        assert server.requests[2]["input"] == [message("user", "two")]
        await s.line("/undo")
        await s.line("/undo")  # "two" and its answers are taken back
        await s.line("three")
        assert server.requests[3]["previous_response_id"] == "resp_1"
        assert server.requests[3]["input"] == [message("user", "three")]
        s.ctx.edit = lambda text: _done("four")  # type: ignore[assignment]
        await s.line("/edit")
        assert server.requests[4]["previous_response_id"] == "resp_1"
        assert server.requests[4]["input"] == [message("user", "four")]
        assert "echo: four" in s.store.messages("s")[-1].content
        meta = s.store.messages("s")[-1].meta
        assert meta["stored"] is True and meta["response_id"] == "resp_5"
        await s.quit()

    asyncio.run(go())


async def _done(text: str) -> str:
    return text


def test_a_response_the_server_no_longer_has_is_replayed_in_full_once(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server, server_state=True).start("gone")
        await s.line("one")
        server.stored.clear()  # expired, deleted, or another endpoint
        out = await s.line("two")
        assert out.count("no longer has the previous response") == 1
        assert server.requests[1]["previous_response_id"] == "resp_1"
        assert "previous_response_id" not in server.requests[2]
        assert server.requests[2]["input"] == [
            message("user", "one"), message_item(1, "echo: one"), message("user", "two")]
        assert s.store.messages("gone")[-1].content == "echo: two"
        await s.line("three")  # chains from the replayed answer
        assert server.requests[3]["previous_response_id"] == "resp_2"
        await s.quit()

    asyncio.run(go())


def test_a_changed_system_prompt_or_compacted_thread_is_replayed_not_chained(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server, server_state=True).start("c")
        await s.line("one")
        await s.line("/system be terse")
        await s.line("two")
        assert "previous_response_id" not in server.requests[1]
        assert server.requests[1]["instructions"] == "be terse"
        assert server.requests[1]["input"][0] == message("user", "one")
        await s.line("three")
        server.queue(Reply("SUMMARY"))
        await s.line("/compact 1")
        await s.line("four")
        sent = server.requests[-1]
        assert "previous_response_id" not in sent
        assert sent["instructions"] == ("be terse\n\nSummary of the earlier conversation:"
                                        "\n\nSUMMARY")  # one system message, as on chat
        assert sent["input"][0] == message("user", "three")
        assert sent["input"][-1] == message("user", "four")
        await s.quit()

    asyncio.run(go())


def test_a_responses_only_model_switches_in_one_line_and_is_remembered_across_runs(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.responses_only = {"gpt-5-pro"}

    async def go() -> None:
        s = await session(server, api="auto", model="gpt-5-pro").start("pro")
        out = await s.line("hello")
        assert out.count("served only on the Responses API") == 1
        assert server.paths == ["/v1/chat/completions", "/v1/responses"]
        assert s.store.messages("pro")[-1].content == "echo: hello"
        await s.quit()
        again = await session(server, api="auto", model="gpt-5-pro").start("pro")
        out = await again.line("and again")
        assert "Responses API" not in out
        assert server.paths[2:] == ["/v1/responses"]
        await again.quit()
        other = await session(server, api="auto", model="gpt-4o").start("other")
        await other.line("hi")
        assert server.paths[3:] == ["/v1/chat/completions"]  # only that model moved
        await other.quit()

    asyncio.run(go())


def test_auto_uses_responses_on_the_openai_platform_only() -> None:
    def uses(base_url: str | None, api: str = "auto") -> bool:
        return ChatClient(api_key="k", base_url=base_url, timeout=1,
                          api=api).uses_responses("m")

    assert uses(None) and uses("https://api.openai.com/v1")
    assert not uses("http://localhost:11434/v1")
    assert uses("http://localhost:11434/v1", "responses") and not uses(None, "chat")


def test_a_refused_include_is_left_out_and_remembered(api_env: dict[str, str],
                                                      server: FakeOpenAI) -> None:
    server.refuse_include = True

    async def go() -> None:
        s = await session(server).start("inc")
        out = await s.line("one")
        assert "echo: one" in out and "rejected" not in out
        assert server.requests[0]["include"] == ENC and "include" not in server.requests[1]
        await s.line("two")
        assert len(server.requests) == 3 and "include" not in server.requests[2]
        await s.quit()

    asyncio.run(go())


def test_effort_is_saved_per_thread_and_sent_on_both_apis(api_env: dict[str, str],
                                                          server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server, model="o4-mini").start("e")
        assert "model's default" in await s.line("/effort")
        assert "one of" in await s.line("/effort extreme")  # one line; the REPL goes on
        await s.line("/effort high")
        assert s.store.get("e").settings.request["effort"] == "high"  # type: ignore[union-attr]
        assert "high" in await s.line("/effort")
        await s.line("think")
        assert server.requests[-1]["reasoning"] == {"effort": "high", "summary": "auto"}
        s.ctx.endpoints.install("default", ChatClient(api_key="k", base_url=server.url,
                                                      timeout=5, api="chat", local_servers=()))
        await s.line("think on chat")
        assert server.paths[-1] == "/v1/chat/completions"
        assert server.requests[-1]["reasoning_effort"] == "high"
        await s.line("/effort -")
        await s.line("plain")
        assert "reasoning_effort" not in server.requests[-1]
        await s.quit()

    asyncio.run(go())


@pytest.mark.parametrize("script, said", [
    (ResponseFailed("The model broke.", text="Half an"), "the response failed: The model broke."),
    (ErrorEvent("Overloaded now.", text="Half an"), "Overloaded now."),
])
def test_a_failed_response_or_error_event_is_one_line_and_the_partial_answer_is_kept(
        api_env: dict[str, str], server: FakeOpenAI, script: Any, said: str) -> None:
    async def go() -> None:
        s = await session(server).start("f")
        server.queue(script)
        out = await s.line("go")
        assert said in out and "Traceback" not in out
        answer = s.store.messages("f")[-1]
        assert (answer.role, answer.content, answer.status) == ("assistant", "Half an", ERROR)
        assert "echo: more" in await s.line("more")  # the REPL goes on
        await s.quit()

    asyncio.run(go())


def test_a_failure_before_any_answer_keeps_the_question_and_says_so(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server).start("f0")
        server.queue(Failure(400, {"error": {"message": "Unsupported parameter: 'temperature'",
                                             "type": "invalid_request_error"}}))
        out = await s.line("go")
        assert "Unsupported parameter: 'temperature'" in out and "/retry" in out
        assert [m.role for m in s.store.messages("f0")] == ["user"]
        await s.quit()

    asyncio.run(go())


@pytest.mark.parametrize("finish, note", [("length", "output limit"),
                                          ("content_filter", "content filter")])
def test_an_incomplete_response_keeps_its_partial_answer_flagged(
        api_env: dict[str, str], server: FakeOpenAI, finish: str, note: str) -> None:
    async def go() -> None:
        s = await session(server).start("i")
        server.queue(Reply("Cut sho", finish=finish))
        out = await s.line("go")
        assert note in out
        answer = s.store.messages("i")[-1]
        assert (answer.content, answer.status) == ("Cut sho", TRUNCATED)
        assert answer.meta["output"][0]["status"] == "incomplete"
        await s.quit()

    asyncio.run(go())


def test_a_stream_cut_short_or_stalled_keeps_the_guarantees(api_env: dict[str, str],
                                                            server: FakeOpenAI) -> None:
    async def go() -> None:
        # a deadline far from how long a loaded machine takes to answer from 127.0.0.1
        s = await session(server, timeout=1.0).start("cut")
        server.queue(Reply("no end", finish=None), Reply("late", stall=3.0))
        out = await s.line("one")
        assert "stream ended before the answer was finished" in out
        assert s.store.messages("cut")[-1].status == TRUNCATED
        out = await s.line("two")
        assert "sent nothing for 1 s" in out
        assert s.store.messages("cut")[-1].content == "two"  # the question is kept
        await s.quit()

    asyncio.run(go())


def test_function_calls_come_back_in_chat_completions_shape_and_replay_as_items(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    calls = [("call_a", "get_weather", '{"city": "Zürich"}')]

    async def go() -> None:
        s = await session(server).start("t")
        server.queue(Reply("", tool_calls=calls, finish="stop"))
        await s.line("weather?")
        stored = s.store.messages("t")
        assert [m.role for m in stored] == ["user", "assistant", "tool"]
        assert stored[1].fields["tool_calls"] == [{"id": "call_a", "type": "function", "function": {
            "name": "get_weather", "arguments": '{"city": "Zürich"}'}}]
        await s.line("never mind")
        assert server.requests[1]["input"] == [
            message("user", "weather?"),
            {"id": "fc_1_0", "type": "function_call", "call_id": "call_a",
             "name": "get_weather", "arguments": '{"city": "Zürich"}', "status": "completed"},
            {"type": "function_call_output", "call_id": "call_a",
             "output": NOT_RUN.format("get_weather")},
            message("user", "never mind")]
        await s.quit()

    asyncio.run(go())


def test_messages_without_stored_output_become_input_items() -> None:
    """An answer from chat completions (or imported) has no output items: its text, function
    calls, tool results, images and files are converted; tools are flattened."""
    sent = [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": [
            {"type": "text", "text": "look"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA"}},
            {"type": "file", "file": {"file_data": "data:application/pdf;base64,AA",
                                      "filename": "a.pdf"}}]},
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "content": "It is 42."},
    ]
    tool = {"type": "function", "function": {"name": "f", "description": "d",
                                             "parameters": {"type": "object"}}}
    body = responses.body(sent, "gpt-4o", {"max_tokens": 9, "temperature": 0.5, "seed": 1},
                          [tool], store=False, include=True, chain=False)
    assert body == {
        "model": "gpt-4o", "stream": True, "store": False, "instructions": "sys",
        "include": ENC, "max_output_tokens": 9, "temperature": 0.5,
        "tools": [{"type": "function", "name": "f", "description": "d",
                   "parameters": {"type": "object"}}],
        "input": [
            {"role": "user", "content": [
                {"type": "input_text", "text": "look"},
                {"type": "input_image", "image_url": "data:image/png;base64,AA",
                 "detail": "auto"},
                {"type": "input_file", "file_data": "data:application/pdf;base64,AA",
                 "filename": "a.pdf"}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "42"},
            message("assistant", "It is 42.")]}


def test_each_answers_replay_comes_beside_the_messages_never_in_them() -> None:
    """The request builder reads each answer's Replay from ``replays`` (beside the messages):
    it chains from the last answer its own endpoint stored, replays its own reasoning only, and
    no message sent holds anything but what chat completions has."""
    origin = responses.origin("default", None, 0)
    sent = [message("system", "sys"), message("user", "one"), message("assistant", "1"),
            message("user", "two"), message("assistant", "2"), message("user", "three")]
    mine = Replay(stored=True, context=responses.context(sent[:2]), endpoint=origin,
                  response_id="resp_1", output=(reasoning_item(1, "hm"), message_item(1, "1")))
    theirs = replace(mine, endpoint="other@example.com", response_id="resp_2",
                     context=responses.context(sent[:4]),
                     output=(reasoning_item(2, "no"), message_item(2, "2")))
    replays = [None, None, mine, None, theirs, None]

    chained = responses.body(sent, "gpt-5", {}, [], store=True, include=False, chain=True,
                             origin=origin, replays=replays)
    assert chained["previous_response_id"] == "resp_1"
    # not chained from theirs, nor sent its reasoning: another endpoint's
    assert chained["input"] == [message("user", "two"), message_item(2, "2"),
                                message("user", "three")]

    replayed = responses.body(sent, "gpt-5", {}, [], store=False, include=False,
                              chain=False, origin=origin, replays=replays)
    assert "previous_response_id" not in replayed
    assert replayed["input"][1:3] == [reasoning_item(1, "hm"), message_item(1, "1")]
    assert sent == [message("system", "sys"), message("user", "one"),
                    message("assistant", "1"), message("user", "two"),
                    message("assistant", "2"), message("user", "three")]


def test_a_replay_reads_back_from_the_meta_stores_have_always_held() -> None:
    """Message.meta stays the JSON on disk; Message.replay reads it (an answer stored before
    the endpoint was recorded too), and Replay.meta writes the same keys back."""
    old = {"api": "responses", "stored": False, "context": "abc", "response_id": "resp_7",
           "output": [message_item(7, "hi")], "tool_names": {"calc__add": "calc.add"}}
    replay = Message("assistant", "hi", meta=old).replay
    assert replay == Replay(stored=False, context="abc", endpoint="", response_id="resp_7",
                            output=(message_item(7, "hi"),))
    assert Replay.of(replay.meta()) == replay
    assert replay.meta() == {**{k: v for k, v in old.items() if k != "tool_names"},
                             "endpoint": ""}
    assert Message("assistant", "hi").replay is None
    assert Message("assistant", "hi", meta={"tool_names": {}}).replay is None


def test_ctrl_c_mid_answer_keeps_the_partial_answer_flagged(api_env: dict[str, str],
                                                            server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server).start("c")
        server.queue(Reply("one two three four", pieces=4, delay=0.1))
        await s.line("count", wait=False)
        await s.until(lambda: len(server.requests) == 1)
        await asyncio.sleep(0.15)  # the first piece has arrived, not the second
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        assert "(interrupted)" in s.text
        answer = s.store.messages("c")[-1]
        assert (answer.role, answer.status) == ("assistant", INTERRUPTED)
        assert answer.content and "four" not in answer.content
        await s.quit()

    asyncio.run(go())


def test_a_conversation_too_long_is_fitted_and_sent_again_on_responses(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server).start("w")
        for n in range(6):
            await s.line(f"question {n} " + "x" * 200)
        server.context_limit = 300
        out = await s.line("last one")
        assert "too long for gpt-5: sending it again without the" in out
        assert "echo: last one" in out
        first = server.sent_input(-1)[0]
        assert first != message("user", "question 0 " + "x" * 200)
        assert len(s.store.messages("w")) == 14  # nothing was taken out of the thread
        await s.quit()

    asyncio.run(go())


def test_with_api_chat_a_responses_only_model_is_one_error_with_the_way_out(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.responses_only = {"o3-pro"}

    async def go() -> None:
        s = await session(server, api="chat", model="o3-pro").start("pro")
        out = await s.line("hello")
        assert "o3-pro is served only on the Responses API" in out
        assert 'api = "responses"' in out and out.count("error:") == 1
        assert server.paths == ["/v1/chat/completions"]
        await s.quit()

    asyncio.run(go())


def test_the_api_setting_is_read_from_the_environment_and_checked(
        isolated: dict[str, str]) -> None:
    from pathlib import Path

    from repl import config
    from repl.errors import ConfigError

    path = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    path.parent.mkdir(parents=True)
    path.write_text('api = "chat"\nserver_state = true\n')
    assert (config.load(env={}).api, config.load(env={}).server_state) == ("chat", True)
    path.write_text("server_state = 1\n")
    with pytest.raises(ConfigError, match="server_state must be a bool"):
        config.load(env={})
    path.unlink()

    assert config.load(env={}).api == "auto"
    assert config.load(env={"CHATREPL_API": "responses"}).api == "responses"
    with pytest.raises(ConfigError, match="api must be one of auto, chat, responses"):
        config.load(env={"CHATREPL_API": "soap"})


def test_a_fork_chains_from_the_answer_it_was_cut_at(api_env: dict[str, str],
                                                     server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await session(server, server_state=True).start("main")
        await s.line("one")
        await s.line("two")
        await s.line("/fork early 1")
        await s.line("three")
        assert server.requests[-1]["previous_response_id"] == "resp_1"
        assert server.requests[-1]["input"] == [message("user", "three")]
        await s.line("/switch main")
        await s.line("/fork whole")
        await s.line("four")
        assert server.requests[-1]["previous_response_id"] == "resp_2"
        await s.quit()

    asyncio.run(go())


def test_without_a_store_to_remember_in_the_switch_still_happens_once(
        server: FakeOpenAI) -> None:
    server.responses_only = {"gpt-5-pro"}

    async def go() -> None:
        client = ChatClient(api_key="k", base_url=server.url, timeout=5, local_servers=())
        try:
            for question in ("a", "b"):
                events = [e async for e in client.stream([message("user", question)],
                                                         "gpt-5-pro")]
                assert events[-1].replay.api == "responses"  # type: ignore[union-attr]
        finally:
            await client.aclose()
        assert server.paths == ["/v1/chat/completions", "/v1/responses", "/v1/responses"]

    asyncio.run(go())


def test_attachments_become_input_parts_and_a_thread_with_them_still_chains(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 8
    (tmp_path / "cat.png").write_bytes(png)
    monkeypatch.chdir(tmp_path)

    async def go() -> None:
        s = await session(server, server_state=True).start("pics")
        await s.line("/attach cat.png")
        await s.line("what is it?")
        [item] = server.sent_input(0)
        assert item["content"][0] == {"type": "input_text", "text": "what is it?"}
        image = item["content"][1]
        assert image["type"] == "input_image" and image["detail"] == "auto"
        assert image["image_url"].startswith("data:image/png;base64,")
        await s.line("and its colour?")  # the stored image, expanded, is what was sent
        assert server.requests[1]["previous_response_id"] == "resp_1"
        assert server.sent_input(1) == [message("user", "and its colour?")]
        await s.quit()

    asyncio.run(go())
