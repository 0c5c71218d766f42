"""An answer cut short while it streamed tool calls keeps them: interrupted (Ctrl-C), failed
(the server went silent) or ended early, on chat completions and the Responses API. Each call is
stored with its arguments as they arrived and answered at once by a tool message saying it was
not run, so the next request is valid; driven through the App against the fake server, asserting
the exact next request. (Written by a parallel branch for the same fix; kept for its cases.)"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from typing import Any

from fakeserver import FakeOpenAI, RawSSE, chunk
from harness import Session

from repl.calls import NOT_RUN
from repl.chat import CUT_SHORT
from repl.client import ChatClient
from repl.thread import ERROR, INTERRUPTED, TRUNCATED

WHOLE = '{"city": "Zürich"}'
CUT = '{"tz": "Eur'  # the second call's arguments stop mid-JSON


def call(call_id: str, name: str, arguments: str) -> dict[str, Any]:
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


CALLS = [call("call_a", "get_weather", WHOLE), call("call_b", "get_time", CUT)]


def fragments(*, then: str = "", finish: bool = False) -> bytes:
    """Chat completions chunks: call_a whole (in two pieces), call_b's first fragment with half
    its arguments; then ``then`` as text, and the end of the stream if ``finish``."""
    def tool(fragment: dict[str, Any]) -> str:
        return chunk({"content": None, "tool_calls": [fragment]})

    body = chunk({"role": "assistant", "content": ""}) + "".join([
        tool({"index": 0, "id": "call_a", "type": "function",
              "function": {"name": "get_weather", "arguments": ""}}),
        tool({"index": 0, "function": {"arguments": WHOLE[:7]}}),
        tool({"index": 0, "function": {"arguments": WHOLE[7:]}}),
        tool({"index": 1, "id": "call_b", "type": "function",
              "function": {"name": "get_time", "arguments": CUT}}),
    ])
    if then:
        body += chunk({"content": then})
    if finish:
        body += chunk({}, finish="tool_calls") + "data: [DONE]\n\n"
    return body.encode()


def stored_calls(s: Session, thread: str, status: str, text: str = "") -> None:
    """The answer holds both calls, flagged ``status``; each is answered at once as not run."""
    _, answer, a, b = s.store.messages(thread)
    assert (answer.role, answer.content, answer.status) == ("assistant", text, status)
    assert answer.fields == {"tool_calls": CALLS}
    assert [(m.role, m.content, m.fields) for m in (a, b)] == [
        ("tool", CUT_SHORT, {"tool_call_id": "call_a"}),
        ("tool", CUT_SHORT, {"tool_call_id": "call_b"})]


def sent_after(server: FakeOpenAI, question: str, text: str = "") -> None:
    """The next request carries the calls as stored, each followed by its result."""
    assert server.sent_messages() == [
        {"role": "user", "content": question},
        {"role": "assistant", "content": text, "tool_calls": CALLS},
        {"role": "tool", "content": CUT_SHORT, "tool_call_id": "call_a"},
        {"role": "tool", "content": CUT_SHORT, "tool_call_id": "call_b"},
        {"role": "user", "content": "go on"}]


def test_ctrl_c_mid_tool_call_keeps_the_calls_and_the_thread_goes_on(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        server.queue(RawSSE(fragments(then="checking"), stall=2))
        await s.line("weather and time?", wait=False)
        await s.until(lambda: "checking" in s.text)  # sent after the calls' fragments
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        assert "(interrupted)" in s.text
        stored_calls(s, "t", INTERRUPTED, "checking")
        out = await s.line("go on")
        assert "echo: go on" in out
        sent_after(server, "weather and time?", "checking")
        await s.quit()

    asyncio.run(go())


def test_a_server_gone_silent_mid_tool_call_keeps_the_calls(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(timeout=0.5, retries=0).start("t")
        server.queue(RawSSE(fragments(), stall=1.5))
        out = await s.line("weather and time?")
        assert out.count("error:") == 1 and "sent nothing for 0.5 s" in out
        stored_calls(s, "t", ERROR)
        await s.line("go on")
        sent_after(server, "weather and time?")
        await s.quit()

    asyncio.run(go())


def test_a_stream_ended_mid_tool_call_keeps_the_calls_and_a_whole_one_is_not_cut(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        server.queue(RawSSE(fragments()))  # no finish reason, no [DONE]
        out = await s.line("weather and time?")
        assert "truncated: the stream ended" in out
        stored_calls(s, "t", TRUNCATED)
        await s.line("go on")
        sent_after(server, "weather and time?")
        # an answer that ends as it should: its calls go to the tool loop (no such tools here)
        server.queue(RawSSE(fragments(finish=True)))
        await s.line("again?")
        assert [m.content for m in s.store.messages("t")[-2:]] == [
            NOT_RUN.format("get_weather"), NOT_RUN.format("get_time")]
        assert s.store.messages("t")[-3].status is None
        await s.quit()

    asyncio.run(go())


def event(kind: str, **fields: Any) -> str:
    return f"event: {kind}\ndata: {json.dumps({'type': kind, **fields})}\n\n"


def test_responses_api_a_function_call_cut_mid_arguments_is_kept(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    response = {"id": "resp_9", "object": "response", "status": "in_progress", "output": []}
    item = {"id": "fc_1", "type": "function_call", "call_id": "call_r", "name": "lookup",
            "arguments": "", "status": "in_progress"}
    body = "".join([
        event("response.created", response=response),
        event("response.output_item.added", output_index=0, item=item),
        event("response.function_call_arguments.delta", item_id="fc_1", output_index=0,
              delta='{"q": '),
        event("response.function_call_arguments.delta", item_id="fc_1", output_index=0,
              delta='"ca'),
    ]).encode()

    async def go() -> None:
        s = Session(model="gpt-5", timeout=0.5)
        s.ctx.endpoints.install("default", ChatClient(
            api_key="sk-test", base_url=server.url, timeout=0.5, retries=0, local_servers=(),
            api="responses"))
        await s.start("r")
        server.queue(RawSSE(body, stall=1.5))
        out = await s.line("find cats")
        assert out.count("error:") == 1
        _, answer, result = s.store.messages("r")
        assert answer.status == ERROR
        assert answer.fields == {"tool_calls": [call("call_r", "lookup", '{"q": "ca')]}
        assert (result.content, result.fields) == (CUT_SHORT, {"tool_call_id": "call_r"})
        await s.line("go on")
        assert server.sent_input() == [
            {"role": "user", "content": "find cats"},
            {"type": "function_call", "call_id": "call_r", "name": "lookup",
             "arguments": '{"q": "ca'},
            {"type": "function_call_output", "call_id": "call_r", "output": CUT_SHORT},
            {"role": "user", "content": "go on"}]
        await s.quit()

    asyncio.run(go())


def test_calls_stored_in_other_shapes_are_sent_verbatim_and_each_gets_a_result(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    """An answer from an older store or another client: keys chatrepl does not know, a call of
    another type, a call without arguments. What is stored goes back as it was; each call chatrepl
    was killed before answering gets its result, read through Message.tool_calls."""
    from repl.calls import UNFINISHED
    from repl.thread import Message
    from repl.toolcalls import ToolCall

    odd = [{**call("k1", "get_weather", WHOLE), "index": 0, "x_vendor": {"cached": True}},
           {"id": "k2", "type": "custom", "custom": {"name": "grep", "input": "cats"}},
           {"id": "k3", "type": "function", "function": {"name": "get_time"}}]

    async def go() -> None:
        s = await Session().start("t")
        s.store.append("t", Message("user", "weather?"))
        answer = s.store.append("t", Message("assistant", "", fields={"tool_calls": odd}))
        assert answer.tool_calls == (ToolCall("k1", "get_weather", WHOLE),
                                     ToolCall("k2", "", ""), ToolCall("k3", "get_time", ""))
        await s.line("go on")
        assert server.sent_messages() == [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": "", "tool_calls": odd},
            *({"role": "tool", "content": UNFINISHED, "tool_call_id": k}
              for k in ("k1", "k2", "k3")),
            {"role": "user", "content": "go on"}]
        await s.quit()

    asyncio.run(go())
