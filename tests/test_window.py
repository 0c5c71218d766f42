"""What is sent to the model: the window plan, its calibration, and the App against a server that
refuses requests over its context window the way real servers do."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from fakeserver import CONTEXT_ERRORS, Failure, FakeOpenAI, Reply
from harness import Session, write_config

from repl import window
from repl.chat import SHRINKS
from repl.thread import SUMMARY, Message, Usage
from repl.window import Fit

TURN = "x" * 90  # ~90 characters a message: 26 tokens by the estimate


def run(coro: Any) -> None:
    asyncio.run(coro)


def configure(isolated: dict[str, str], sizes: dict[str, int]) -> None:
    write_config(isolated, "[context_sizes]\n" + "".join(f'"{k}" = {v}\n'
                                                          for k, v in sizes.items()))


def seed(s: Session, thread: str, turns: int, model: str) -> None:
    """A thread of ``turns`` earlier exchanges (no usage reported for them)."""
    s.store.create(thread, model=model)
    for n in range(turns):
        s.store.append(thread, Message("user", f"q{n} {TURN}", model=model))
        s.store.append(thread, Message("assistant", f"a{n} {TURN}", model=model))


def no_two_users_in_a_row(server: FakeOpenAI) -> bool:
    return all(not (a["role"] == b["role"] == "user")
               for r in server.requests for a, b in zip(r["messages"], r["messages"][1:],
                                                        strict=False))


# -- through the App -------------------------------------------------------------------------


def test_after_a_trimmed_request_every_later_turn_fits_the_first_time(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    configure(isolated, {"ctx-150": 150})
    server.context_limit = 150

    async def go() -> None:
        s = Session(model="ctx-150")
        seed(s, "t", 8, "ctx-150")
        await s.start("t")
        for n in range(4):
            before = len(server.requests)
            out = await s.line(f"question {n}")
            assert f"echo: question {n}" in out and "error" not in out, out
            assert len(server.requests) == before + 1, f"question {n} was sent again"
            assert server.tokens(server.sent_messages()) <= 150
        assert len(s.store.messages("t")) == 16 + 8  # nothing was taken out of the thread
        await s.quit()

    run(go())


@pytest.mark.parametrize("style", sorted(CONTEXT_ERRORS))
def test_the_window_a_server_states_is_learned_and_remembered(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str],
        style: str) -> None:
    """The config says 1,000 tokens; the server's window is 150 and its error says so."""
    configure(isolated, {"ctx-big": 1000})
    server.context_limit = 150
    server.context_style = style

    async def first() -> None:
        s = Session(model="ctx-big")
        seed(s, "t", 8, "ctx-big")
        await s.start("t")
        out = await s.line("question 0")
        assert "too long" in out and "earliest" in out and "echo: question 0" in out
        assert len(server.requests) == 2
        for n in range(1, 4):
            out = await s.line(f"question {n}")
            assert f"echo: question {n}" in out and "too long" not in out, out
        assert len(server.requests) == 5  # one request a turn once the window is known
        await s.quit()

    async def after_restart() -> None:
        s = Session(model="ctx-big")
        seed(s, "other", 8, "ctx-big")  # the window belongs to the model, not to a thread
        await s.start("other")
        out = await s.line("question 4")
        assert "echo: question 4" in out and "too long" not in out, out
        assert len(server.requests) == 6
        out = await s.line("/tokens")  # the next request is sized against the learned window
        assert "of ctx-big's 150" in out, out
        await s.quit()

    run(first())
    run(after_restart())


def test_a_tokenizer_unlike_four_characters_a_token_is_calibrated_on_what_was_sent(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    """The server counts two characters a token: our estimates are half its counts."""
    configure(isolated, {"ctx-300": 300})
    server.context_limit = 300
    server.chars_per_token = 2

    async def go() -> None:
        s = Session(model="ctx-300")
        seed(s, "t", 8, "ctx-300")
        await s.start("t")
        await s.line("question 0")  # refused once; the error says how many tokens it counted
        assert len(server.requests) == 2
        for n in range(1, 4):
            before = len(server.requests)
            out = await s.line(f"question {n}")
            assert f"echo: question {n}" in out and len(server.requests) == before + 1, out
            assert len(server.sent_messages()) > 3  # and the window is used, not starved
        await s.quit()

    run(go())


def test_a_failed_question_stays_stored_but_is_not_sent_again(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(retries=0).start("t")
        await s.line("q1")
        server.queue(Failure(429, {"error": {"message": "slow down"}}))
        out = await s.line("q2")
        assert "rate limited" in out
        await s.line("q2")  # typed again
        assert [m["content"] for m in server.sent_messages()] == ["q1", "echo: q1", "q2"]
        server.queue(Failure(429, {"error": {"message": "slow down"}}))
        await s.line("q3")
        await s.line("something else")
        assert [m["content"] for m in server.sent_messages()][-2:] == ["echo: q2",
                                                                       "something else"]
        assert no_two_users_in_a_row(server)
        stored = [(m.role, m.content) for m in s.store.messages("t")]
        assert stored.count(("user", "q2")) == 2 and ("user", "q3") in stored  # never lost
        await s.quit()

    run(go())


def test_failed_one_shots_are_not_sent_again(api_env: dict[str, str], server: FakeOpenAI) -> None:
    import subprocess
    import sys

    def one_shot() -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "repl", "-t", "t", "hello"], env=api_env,
                              capture_output=True, text=True, timeout=60)

    # 402: a failure no retry helps, so each one-shot sends one request
    server.queue(*[Failure(402, {"error": {"message": "no credits"}})] * 3)
    assert [one_shot().returncode for _ in range(3)] == [1, 1, 1]
    done = one_shot()
    assert done.returncode == 0 and "echo: hello" in done.stdout
    assert server.sent_messages() == [{"role": "user", "content": "hello"}]


def test_a_question_stopped_before_the_first_token_is_not_sent_again(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    import os
    import signal

    async def go() -> None:
        s = await Session().start("t")
        server.queue(Reply("late", stall=5))
        await s.line("first try", wait=False)
        await s.until(lambda: len(server.requests) == 1)
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        await s.line("second try")
        assert server.sent_messages() == [{"role": "user", "content": "second try"}]
        assert [m.content for m in s.store.messages("t")][:2] == ["first try", "second try"]
        await s.quit()

    run(go())


def test_compact_after_a_failed_question_asks_for_the_summary_in_turn(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(retries=0).start("t")
        await s.line("q0")
        server.queue(Failure(503))
        await s.line("q1")
        await s.line("q2")
        await s.line("q3")
        server.queue(Reply("We discussed q0."))
        out = await s.line("/compact 2")
        assert "summary" in out
        request = [m["content"] for m in server.sent_messages()]
        assert request[1:3] == ["q0", "echo: q0"] and request[3].startswith("Summarise")
        assert no_two_users_in_a_row(server)
        await s.quit()

    run(go())


def test_compact_with_a_system_prompt_sends_one_system_message(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t", system="Be brief.")
        for n in range(4):
            await s.line(f"question {n}")
        server.queue(Reply("We discussed questions 0 and 1."))
        await s.line("/compact 2")
        await s.line("question 4")
        sent = server.sent_messages()
        systems = [m for m in sent if m["role"] == "system"]
        assert len(systems) == 1 and sent[0] == systems[0]
        assert systems[0]["content"].startswith("Be brief.")
        assert "We discussed questions 0 and 1." in systems[0]["content"]
        assert [m["content"] for m in sent[1:]] == [
            "question 2", "echo: question 2", "question 3", "echo: question 3", "question 4"]
        await s.quit()

    run(go())


# -- window.py on its own ----------------------------------------------------------------------


def msg(role: str, content: str, id: int | None = None, **kw: Any) -> Message:
    return Message(role, content, id=id, **kw)


def exchange(n: int, size: int = 90) -> list[Message]:
    """``n`` turns, ids from 1, each message ``size`` characters."""
    out = []
    for i in range(n):
        out.append(msg("user", f"q{i}".ljust(size, "."), 2 * i + 1))
        out.append(msg("assistant", f"a{i}".ljust(size, "."), 2 * i + 2))
    return out


def test_estimate_is_four_characters_a_token_plus_the_message_overhead() -> None:
    assert window.estimate({"role": "user", "content": ""}) == window.MESSAGE_OVERHEAD
    assert window.estimate({"role": "user", "content": "x" * 400}) == 100 + window.MESSAGE_OVERHEAD


def test_context_size_by_longest_prefix_and_overrides() -> None:
    assert window.context_size("gpt-4o-mini") == 128_000
    assert window.context_size("gpt-4") == 8_192
    assert window.context_size("openrouter/llama3.1:8b") == 131_072
    assert window.context_size("my-model", {"my-model": 500}) == 500
    assert window.context_size("unknown") is None


def test_calibration_is_what_the_server_counted_over_the_estimate_of_what_was_sent() -> None:
    sent = [{"role": "user", "content": "x" * 396}]  # 99 + 4 = 103 estimated
    assert Fit().measured(sent, 206).scale == pytest.approx(2.0)
    assert Fit().measured(sent, 10_000).scale == window.SCALES[1]  # kept in range
    assert Fit().measured(sent, 1).scale == window.SCALES[0]
    assert Fit(scale=1.5).measured([], 100).scale == 1.5  # nothing sent: nothing learned


def test_the_scale_applies_to_the_plan() -> None:
    history = exchange(4)
    plain = window.plan([], history, limit=None)
    doubled = window.plan([], history, limit=None, scale=2.0)
    assert doubled.tokens == 2 * plain.tokens
    tight = window.plan([], history, limit=4 * 26 * 2, reserve=0, scale=2.0)
    assert len(tight.messages) == 4


@pytest.mark.parametrize("style", sorted(CONTEXT_ERRORS))
def test_overflow_reads_each_servers_numbers(style: str) -> None:
    from repl.apierrors import status_error
    from repl.errors import ContextTooLongError

    error = status_error(400, CONTEXT_ERRORS[style](4096, 4476), {}, "m", "here")
    assert isinstance(error, ContextTooLongError)
    assert (error.limit, error.prompt) == (4096, 4476)


def test_overflow_of_other_wordings() -> None:
    from repl.apierrors import overflow

    openai_requested = ("This model's maximum context length is 8192 tokens. However, you "
                        "requested 9000 tokens (8000 in the messages, 1000 in the completion).")
    assert overflow({}, openai_requested) == (8192, 8000)
    anthropic = "prompt is too long: 210000 tokens > 200000 maximum"
    assert overflow({}, anthropic) == (200000, 210000)
    assert overflow({}, "the stream was empty") == (None, None)


def test_a_refusal_teaches_the_window_and_the_scale() -> None:
    sent = [{"role": "user", "content": "x" * 396}]  # 103 estimated
    fit = Fit().refused(sent, 1000, limit=150, prompt=206)
    assert fit == Fit(scale=pytest.approx(2.0), limit=150, configured=1000, weight=103)
    assert fit.window(1000) == 150
    assert fit.window(100) == 100  # [context_sizes] edited since: the config is used again
    unstated = Fit().refused(sent, 1000)
    assert unstated.limit == 103  # the window is smaller than what was refused
    assert Fit(limit=150, configured=None).window(None) == 150  # a model no table knows


def test_a_fit_is_kept_in_the_store_state(tmp_path: Path) -> None:
    from repl.store import open_store

    store = open_store(f"sqlite:///{tmp_path}/s.db", tmp_path)
    key = window.state_key("m", "http://localhost:8080/v1")
    assert window.load(store, key) == Fit()
    window.save(store, key, Fit(scale=1.25, limit=4096, configured=8192, weight=500))
    assert window.load(store, key) == Fit(scale=1.25, limit=4096, configured=8192, weight=500)
    assert window.load(store, window.state_key("m", None)) == Fit()  # another endpoint
    for damaged in ("not json", "[1]", '{"scale": "x"}', '{"scale": NaN}'):
        store.set_state(key, damaged)
        assert window.load(store, key) == Fit(), damaged
    store.set_state(key, '{"scale": 99, "limit": "4096", "configured": true}')
    assert window.load(store, key) == Fit(scale=window.SCALES[1], weight=1000)  # kept before
    store.close()


def test_conversation_leaves_out_a_question_that_another_replaced() -> None:
    history = [msg("user", "q1", 1), msg("assistant", "a1", 2), msg("user", "hello", 3),
               msg("user", "hello", 4), msg("user", "hello", 5)]
    assert window.conversation(history) == [
        {"role": "user", "content": "q1"}, {"role": "assistant", "content": "a1"},
        {"role": "user", "content": "hello"}]
    partial = [msg("user", "q1", 1), msg("assistant", "half", 2, status="interrupted"),
               msg("user", "q2", 3)]
    assert len(window.conversation(partial)) == 3  # a partial answer is an answer
    assert window.conversation([msg("user", "only", 1)]) == [{"role": "user", "content": "only"}]
    assert window.conversation([]) == []


def test_the_summary_stands_in_for_what_it_covers() -> None:
    history = [*exchange(3), msg(SUMMARY, "the gist", 7, covers=4)]
    sent = window.conversation(history)
    assert sent[0] == {"role": "system",
                       "content": "Summary of the earlier conversation:\n\nthe gist"}
    assert [m["content"][:2] for m in sent[1:]] == ["q2", "a2"]
    plan = window.plan([{"role": "system", "content": "Be brief."}], history, limit=None)
    assert [m["role"] for m in plan.messages] == ["system", "user", "assistant"]
    assert plan.messages[0]["content"] == ("Be brief.\n\nSummary of the earlier conversation:"
                                           "\n\nthe gist")
    assert window.plan([], history, limit=None).messages[0]["content"].startswith("Summary")


def test_plan_drops_the_oldest_first_and_keeps_the_head() -> None:
    head = [{"role": "system", "content": "S"}]
    history = exchange(5)  # ten messages of 26 tokens
    everything = window.plan(head, history, limit=None)
    assert everything.dropped == 0 and len(everything.messages) == 11
    plan = window.plan(head, history, limit=4 + 4 * 26, reserve=0)
    assert plan.messages[0] == head[0]
    assert [m["content"][:2] for m in plan.messages[1:]] == ["q3", "a3", "q4", "a4"]
    assert plan.dropped == 6 and plan.dropped_tokens == 6 * 26
    assert plan.tokens == 4 + 4 * 26
    assert window.plan(head, history, limit=2000).dropped == 0


def test_plan_never_starts_with_a_lone_answer_and_always_sends_the_last_message() -> None:
    history = exchange(5)
    plan = window.plan([], history, limit=3 * 26, reserve=0)  # room for three: a3 q4 a4
    assert [m["content"][:2] for m in plan.messages] == ["q4", "a4"]
    last = [*history, msg("user", "z" * 4000, 11)]
    tiny = window.plan([], last, limit=10, reserve=0)
    assert tiny.messages == [{"role": "user", "content": "z" * 4000}] and tiny.dropped == 10


def test_plan_leaves_room_for_the_answer() -> None:
    assert window.answer_room(150) == 37 and window.answer_room(1_000_000) == 4096
    assert window.answer_room(None) == 0
    history = exchange(5)
    assert len(window.plan([], history, limit=150).messages) == 4  # 150 - 37: four fit


def test_usage_of_history_no_longer_calibrates() -> None:
    """A count reported for a trimmed request says nothing about the whole history."""
    history = exchange(8)
    history[-1] = msg("assistant", history[-1].content, 16, usage=Usage(prompt_tokens=30))
    assert window.plan([], history, limit=None).tokens == 16 * 26


def test_a_server_that_answers_too_long_with_nothing_gets_fewer_messages_until_it_answers(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    """llama-cpp-python answers a prompt over its context with an empty 200 body, stating
    nothing: chatrepl halves what it sends a few times, keeping the thread whole."""
    configure(isolated, {"ctx-big": 4000})
    server.context_limit = 150
    server.empty_when_too_long = True

    async def go() -> None:
        s = Session(model="ctx-big")
        seed(s, "t", 20, "ctx-big")
        await s.start("t")
        out = await s.line("question 0")
        assert "echo: question 0" in out and "error" not in out, out
        assert 3 <= len(server.requests) <= 1 + SHRINKS  # more than the one retry of before
        assert server.tokens(server.sent_messages()) <= 150
        assert no_two_users_in_a_row(server)
        assert len(s.store.messages("t")) == 40 + 2  # nothing was taken out of the thread
        await s.quit()

    run(go())
