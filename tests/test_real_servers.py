"""What real servers did to chatrepl's requests (issue 19), replayed by the local fake server's
switches (tests/fakeserver.py) and driven through the App or the command line: llama-cpp-python's
template-based chat formats (list contents and system messages dropped, no usage in streams, an
empty 200 on overflow), LiteLLM in front of it (an empty answer ending in ``stop``), and
``transformers serve`` (its own overflow wording), a server with no ``/v1/responses``."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeOpenAI, Reply
from harness import Session, write_config

from repl import window, wire
from repl.apierrors import status_error
from repl.errors import ContextTooLongError
from repl.thread import SUMMARY, TRUNCATED, Message

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16
TURN = "x" * 90  # ~90 characters a message: 26 tokens by the estimate


def run(coro: Any) -> None:
    asyncio.run(coro)


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    (folder / "notes.txt").write_text("the launch is on Tuesday\n", encoding="utf-8")
    (folder / "cat.png").write_bytes(PNG)
    monkeypatch.chdir(folder)
    return folder


def seed(s: Session, thread: str, turns: int, model: str) -> None:
    s.store.create(thread, model=model)
    for n in range(turns):
        s.store.append(thread, Message("user", f"q{n} {TURN}", model=model))
        s.store.append(thread, Message("assistant", f"a{n} {TURN}", model=model))


def fit_of(s: Session, model: str, server: FakeOpenAI) -> window.Fit:
    return window.load(s.store, window.state_key(model, server.url))


def quirks_of(s: Session, model: str, server: FakeOpenAI) -> wire.Quirks:
    return wire.load(s.store, wire.state_key(model, server.url))


# -- 1. all-text parts go as one string -----------------------------------------------------


def test_a_text_file_and_the_question_reach_a_template_that_drops_list_contents(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    server.strings_only = True  # llama-cpp-python --chat_format gemma

    async def go() -> None:
        s = await Session(model="gemma3", width=300).start("t")
        await s.line("/attach notes.txt")
        out = await s.line("when is the launch?")
        assert "when is the launch?" in out and "the launch is on Tuesday" in out, out
        await s.line("thanks")
        await s.quit()

    run(go())
    first, again = server.requests[0]["messages"][-1], server.requests[1]["messages"][0]
    assert first["content"] == ('when is the launch?\n\n<file name="notes.txt">\n'
                                'the launch is on Tuesday\n\n</file>')
    assert again == first  # sent back the same way on later turns


# -- 2. a server that ignores part of a request is noticed, and adapted to ------------------


def test_an_ignored_image_part_is_said_once_and_later_sent_as_text(
        api_env: dict[str, str], server: FakeOpenAI, work: Path) -> None:
    server.strings_only = True

    async def go() -> None:
        s = await Session(model="gemma3", width=300).start("t")
        await s.line("/attach cat.png")
        out = await s.line("what is this?")
        said = [line for line in out.splitlines() if "but the server counted" in line]
        assert len(said) == 1 and "ignored list contents (attachments)" in said[0], out
        assert "text only" in said[0] and "/retry" in said[0]
        assert fit_of(s, "gemma3", server) == window.Fit()  # that count taught nothing
        out = await s.line("/retry")
        assert "echo: what is this?" in out and "not sent" in out, out
        await s.line("/attach cat.png")
        out = await s.line("and this one?")
        assert "but the server counted" not in out, out  # said once
        assert fit_of(s, "gemma3", server).measured_ever
        await s.quit()

        s = await Session(model="gemma3", width=300).start("t2")  # remembered across runs
        await s.line("/attach cat.png")
        out = await s.line("and now?")
        assert "but the server counted" not in out
        await s.quit()

    run(go())
    assert isinstance(server.requests[0]["messages"][-1]["content"], list)
    for request in server.requests[1:]:
        content = request["messages"][-1]["content"]
        assert isinstance(content, str) and content.endswith(
            "[image (image/png) not sent: this server takes text only]"), content


def test_a_dropped_system_prompt_is_said_and_folded_into_the_first_question(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.drop_system = True  # a template with no system role
    system = "You are a ship's navigator. " * 12

    async def go() -> None:
        s = await Session(model="local-model", width=300).start("t", system=system)
        out = await s.line("where are we?")
        assert "may have ignored the system message (system prompt, /compact summary)" in out
        assert "sends the system message inside the first question" in out
        assert quirks_of(s, "local-model", server).fold_system
        assert not quirks_of(s, "local-model", server).strings
        out = await s.line("and now?")
        assert "but the server counted" not in out
        await s.quit()

    run(go())
    assert server.requests[0]["messages"][0] == {"role": "system", "content": system}
    folded = server.requests[1]["messages"]
    assert [m["role"] for m in folded] == ["user", "assistant", "user"]
    assert folded[0]["content"] == f"{system}\n\nwhere are we?"


def test_a_gemma_model_gets_even_a_short_system_prompt_inside_the_first_question(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    """Gemma's template has no system role, and a dozen tokens dropped are below what usage
    can tell from noise: for a model of that family the prompt is folded from the start."""
    server.drop_system = True

    async def go() -> None:
        s = await Session(model="gemma-3-270m-it", width=300).start("t", system="Be terse.")
        out = await s.line("where are we?")
        assert "but the server counted" not in out
        await s.quit()

    run(go())
    assert server.requests[0]["messages"] == [
        {"role": "user", "content": "Be terse.\n\nwhere are we?"}]


@pytest.mark.parametrize(("model", "fold"), [("gemma3", False), ("local-model", True)])
def test_an_endpoints_fold_system_setting_wins_and_is_never_unlearned(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str],
        model: str, fold: bool) -> None:
    write_config(isolated, f'[endpoints.box]\nbase_url = "{server.url}"\n'
                        f'fold_system = {str(fold).lower()}\n')
    server.drop_system = not fold  # what the server does is not what is learned
    system = "You are a ship's navigator. " * 12

    async def go() -> None:
        s = await Session(model=f"box:{model}", width=300).start("t", system=system)
        await s.line("where are we?")
        await s.line("and now?")
        assert not quirks_of(s, model, server).fold_system  # the config's choice, not learned
        await s.quit()

    run(go())
    for request in server.requests:
        roles = [m["role"] for m in request["messages"]]
        assert (roles[0] == "system") is not fold, roles


def test_a_summary_is_folded_too_once_the_system_role_is_known_to_be_dropped(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = Session(model="gemma3", width=300)
        seed(s, "t", 3, "gemma3")
        last = s.store.messages("t")[-1]
        s.store.append("t", Message(SUMMARY, "we planned a trip to Zürich", covers=last.id))
        wire.save(s.store, wire.state_key("gemma3", server.url), wire.Quirks(fold_system=True))
        await s.start("t")
        await s.line("what did we plan?")
        await s.quit()

    run(go())
    sent = server.sent_messages()
    assert [m["role"] for m in sent] == ["user"]
    assert sent[0]["content"] == ("Summary of the earlier conversation:\n\nwe planned a trip to "
                                  "Zürich\n\nwhat did we plan?")


def test_a_model_that_counts_images_cheaply_is_not_taken_for_one_that_dropped_them() -> None:
    ref = "chatrepl-blob:" + "0" * 64 + ":400000:1024x1024:data:image/png;base64,"
    images = [{"type": "image_url", "image_url": {"url": ref}} for _ in range(10)]
    sent = [{"role": "user", "content": [{"type": "text", "text": "compare these"}, *images]}]
    assert window.estimate(sent[0]) > 7_000  # OpenAI's count: 765 an image
    assert wire.ignored(sent, 10 * 258 + 10, 1.0) is None  # Gemini's: 258 an image
    dropped = wire.ignored(sent, 7, 1.0)  # llama's template: nothing of it
    assert dropped is not None and dropped.lists and not dropped.system


# -- 3. an answer with no text and no tool call is a failure --------------------------------


def test_an_empty_stop_answer_is_an_error_never_stored_nor_sent_back(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="m").start("t")
        server.queue(Reply(""))
        out = await s.line("hello?")
        assert "error:" in out and "answered with nothing" in out and "too long" in out, out
        assert "/retry sends it again" in out
        assert [(m.role, m.content) for m in s.store.messages("t")] == [("user", "hello?")]
        out = await s.line("hello again")
        assert "echo: hello again" in out
        await s.quit()

    run(go())
    assert server.sent_messages() == [{"role": "user", "content": "hello again"}]


def test_an_empty_answer_stored_by_an_earlier_chatrepl_is_never_sent_back(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = Session(model="m")
        s.store.create("t", model="m")
        for text in ("first", "", "second", "echo: second"):
            s.store.append("t", Message("assistant" if len(s.store.messages("t")) % 2 else
                                        "user", text, model="m"))
        await s.start("t")
        await s.line("third")
        await s.quit()

    run(go())
    assert server.sent_messages() == [
        {"role": "user", "content": "second"}, {"role": "assistant", "content": "echo: second"},
        {"role": "user", "content": "third"}]


def test_an_overflow_answered_empty_through_a_proxy_is_shrunk_and_resent(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    """LiteLLM in front of llama-cpp-python: over the window, an empty answer ending in stop."""
    write_config(isolated, '[context_sizes]\n"gemma3" = 1000\n')
    server.context_limit = 150
    server.blank_when_too_long = True

    async def go() -> None:
        s = Session(model="gemma3", width=300)
        seed(s, "t", 8, "gemma3")
        await s.start("t")
        out = await s.line("one more")
        assert "too long for gemma3" in out and "echo: one more" in out, out
        assert "error:" not in out
        messages = s.store.messages("t")
        assert all(m.content for m in messages if m.role == "assistant")
        assert [m.content for m in messages][-2:] == ["one more", "echo: one more"]
        await s.quit()

    run(go())
    assert server.tokens(server.sent_messages()) <= 150


def test_one_shot_with_an_empty_answer_fails_with_one_line(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.queue(Reply(""))
    done = subprocess.run([sys.executable, "-m", "repl", "-t", "t", "hello?"], env=api_env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stdout == ""
    assert done.stderr.splitlines()[-1].startswith("chatrepl: the model answered with nothing")


# -- 4. the window is learned where the server states none ----------------------------------


def test_the_window_a_shrunk_request_fitted_is_learned_without_usage(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    """llama-cpp-python: no usage in streams, an empty 200 over the window, no size stated."""
    write_config(isolated, '[context_sizes]\n"gemma3" = 1000\n')
    server.context_limit = 150
    server.empty_when_too_long = True
    server.stream_usage = False

    async def go() -> None:
        s = Session(model="gemma3", width=300)
        seed(s, "t", 8, "gemma3")
        await s.start("t")
        out = await s.line("first")
        assert "too long for gemma3" in out and "echo: first" in out, out
        for n in range(3):
            before = len(server.requests)
            out = await s.line(f"question {n}")
            assert f"echo: question {n}" in out and "too long" not in out, out
            assert len(server.requests) == before + 1, f"question {n} was sent again"
        await s.quit()
        s = await Session(model="gemma3", width=300).start("t")  # and after a restart
        before = len(server.requests)
        await s.line("after a restart")
        assert len(server.requests) == before + 1
        await s.quit()

    run(go())


def test_transformers_serves_overflow_is_a_context_error_with_its_numbers(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    error = status_error(400, {"detail": "The prompt has 2849 tokens, but the model takes at "
                                         "most 2048"}, {}, "gemma3", "here")
    assert isinstance(error, ContextTooLongError)
    assert (error.limit, error.prompt) == (2048, 2849)

    write_config(isolated, '[context_sizes]\n"gemma3" = 1000\n')
    server.context_limit = 150
    server.context_style = "transformers"

    async def go() -> None:
        s = Session(model="gemma3", width=300)
        seed(s, "t", 8, "gemma3")
        await s.start("t")
        out = await s.line("one more")
        assert "too long for gemma3" in out and "echo: one more" in out, out
        assert fit_of(s, "gemma3", server).limit == 150
        await s.quit()

    run(go())


def test_tokens_says_the_figures_are_estimates_where_usage_is_never_reported(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.stream_usage = False

    async def go() -> None:
        s = await Session(model="gemma3", width=300).start("t")
        await s.line("hello")
        out = await s.line("/tokens")
        assert "reports no usage" in out and "estimate" in out, out
        await s.quit()

        server.stream_usage = True
        s = await Session(model="gemma3", width=300).start("t")
        await s.line("hello again")
        out = await s.line("/tokens")
        assert "reports no usage" not in out, out
        await s.quit()

    run(go())


# -- 5. calibration weighs by size ----------------------------------------------------------


def test_a_tiny_request_does_not_swing_a_good_estimate(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.template_tokens = 10  # a chat template's own tokens, in every request

    def estimated(out: str) -> int:
        found = re.search(r"about ([\d,]+) tokens", out)
        assert found, out
        return int(found.group(1).replace(",", ""))

    async def go() -> None:
        s = await Session(model="gemma3", width=300).start("long")
        await s.line("tell me " + "about the sea " * 200)
        before = estimated(await s.line("/tokens"))
        await s.line("/switch other")
        await s.line("Hi.")
        await s.line("/switch long")
        after = estimated(await s.line("/tokens"))
        assert abs(after - before) <= before * 0.05, (before, after)
        await s.quit()

    run(go())


# -- 9. a server without /v1/responses ------------------------------------------------------


@pytest.mark.parametrize("proxied", [False, True])
def test_no_responses_api_is_said_as_such_naming_the_endpoint(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str],
        proxied: bool) -> None:
    """Also through LiteLLM, whose 404 names the model group but passes on the upstream's
    route 404 (seen against a real proxy in front of llama-cpp-python)."""
    server.no_responses, server.proxied = True, proxied
    write_config(isolated, f'[endpoints.llama]\nbase_url = "{server.url}"\napi = "responses"\n')

    async def go() -> None:
        s = await Session(model="llama:gemma3").start("t")
        out = await s.line("hello")
        assert "the server has no Responses API" in out, out
        assert '[endpoints.llama]' in out and 'api = "chat"' in out
        assert "not found" not in out and "OPENAI_BASE_URL" not in out
        await s.quit()

    run(go())
    assert server.paths == ["/v1/responses"]


def test_with_api_auto_a_server_without_responses_falls_back_to_chat_and_remembers(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.responses_only = {"m"}  # learned first: the model moves to the Responses API

    async def go() -> None:
        s = await Session(model="m").start("t")
        out = await s.line("first")
        assert "served only on the Responses API" in out and "echo: first" in out, out
        server.responses_only, server.no_responses = set(), True  # now a llama server there
        out = await s.line("second")
        assert "the server has no Responses API: chatrepl uses chat completions" in out, out
        assert "echo: second" in out and "error:" not in out
        await s.line("third")
        await s.quit()
        s = await Session(model="m").start("t")
        await s.line("after a restart")
        await s.quit()

    run(go())
    assert server.paths == ["/v1/chat/completions", "/v1/responses", "/v1/responses",
                            "/v1/chat/completions", "/v1/chat/completions",
                            "/v1/chat/completions"]


def test_the_api_is_switched_once_a_request_never_back_and_forth(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.responses_only, server.no_responses = {"m"}, True

    async def go() -> None:
        s = await Session(model="m").start("t")
        out = await s.line("hello")
        assert "error:" in out and "the server has no Responses API" in out, out
        await s.quit()

    run(go())
    assert server.paths == ["/v1/chat/completions", "/v1/responses"]


@pytest.mark.parametrize("api", ["chat", "responses"])
def test_an_answer_said_complete_at_the_output_limit_is_kept_as_truncated(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str], api: str) -> None:
    """transformers serve's Responses API says "completed" of an answer cut at
    max_output_tokens: an answer that used the whole limit is said and stored as cut off."""
    write_config(isolated, f'api = "{api}"\n')
    server.stop_at_limit = True
    server.queue(Reply("word " * 200), Reply("a short one"))

    async def go() -> None:
        s = await Session(model="m", width=300).start("t")
        await s.line("/set max_tokens 20")
        out = await s.line("go on at length")
        assert "(truncated: the model reached its output limit)" in out, out
        out = await s.line("and briefly?")
        assert "truncated" not in out, out  # well under the limit: complete
        assert [m.status for m in s.store.messages("t") if m.role == "assistant"] == \
            [TRUNCATED, None]
        await s.quit()

    run(go())
