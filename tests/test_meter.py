"""The context meter in the bottom bar (issue 22): the next request against the model's window
and the thread's cost, by the plan sending uses (repl/turn.py), checked against what the local
server receives and what /tokens says; and the plan itself, measured once and fitted per key."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeOpenAI
from harness import Session
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from test_window import configure, seed

from repl import config as config_mod
from repl import meter, window
from repl.app import asked
from repl.context import Context
from repl.endpoints import Endpoints
from repl.render import UI
from repl.store import open_store
from repl.store.buffered import BufferedStore
from repl.thread import Message

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 16


def run(coro: Any) -> None:
    asyncio.run(coro)


def figures(bar: str) -> tuple[str, int, str, str | None]:
    """(percent, tokens, window, cost) at the bar's end."""
    found = re.search(r"· (\?|\d+)% · (\d+)/(\S+)(?: · (\S+))? $", bar)
    assert found, bar
    return found.group(1), int(found.group(2)), found.group(3), found.group(4)


def shown(s: Session) -> window.Plan:
    """The plan the bar shows now (its figures are rounded past 1,000 tokens)."""
    assert s.app._ahead is not None
    return s.app._ahead.plan(asked(s.app.session.default_buffer.text))


def styles(s: Session) -> set[str]:
    return {style for style, *_ in s.app._shown_bar() if style}


async def typed(s: Session, text: str) -> None:
    s.pipe.send_text(text)
    await s.until(lambda: s.app.session.default_buffer.text == text)


def users(messages: list[dict[str, Any]]) -> int:
    return sum(m["role"] == "user" for m in messages)


def test_the_bar_shows_the_next_request_against_the_window_and_the_cost(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="gpt-4o-mini").start("t")
        assert s.bar() == " t · gpt-4o-mini · 0 messages · 0% · 0/128k · $0.00 "
        await s.line("hello there")
        percent, tokens, size, cost = figures(s.bar())
        assert (percent, size, cost) == ("0", "128k", "<$0.01") and tokens > 0
        out = await s.line("/tokens")  # the same estimate, one function for both
        assert f"about {tokens:,} tokens of gpt-4o-mini's 128,000" in out, out
        await typed(s, "x" * 4000)  # the typed text counts as it is typed
        assert shown(s).tokens == tokens + round(window.estimate(
            {"role": "user", "content": "x" * 4000}) * s.ctx.turn().fit.scale)
        assert styles(s) == {"class:meter.ok"}
        s.pipe.send_text("\x15")  # Ctrl-U: nothing typed, the thread alone again
        await s.until(lambda: shown(s).tokens == tokens)
        await s.quit()

    run(go())


def test_the_cost_is_what_usage_reported_at_the_models_prices(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    config = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text('[prices]\n"priced" = [1000.0, 2000.0]\n[context_sizes]\n"priced" = 8000\n')

    async def go() -> None:
        s = await Session(model="priced").start("t")
        await s.line("x" * 400)
        answer = s.store.messages("t")[-1].usage
        expected = ((answer.prompt_tokens or 0) * 1000 + (answer.completion_tokens or 0) * 2000
                    ) / 1e6
        assert figures(s.bar())[3] == f"${expected:,.2f}" and expected > 0.05
        out = await s.line("/tokens")
        assert f"${expected:,.4f} at $1000 / $2000 per million tokens" in out
        await s.quit()

    run(go())


def test_an_unknown_window_is_a_question_mark_and_an_unknown_price_no_cost(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="mystery-model").start("t")
        await s.line("hello")
        percent, tokens, size, cost = figures(s.bar())
        assert (percent, size, cost) == ("?", "?", None) and tokens > 0
        assert "$" not in s.bar() and styles(s) == {"class:meter.ok"}
        await s.quit()

    run(go())


def test_yellow_names_the_earlier_turns_the_next_request_leaves_out_as_sent(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    """The bar's count is the count of questions missing from the request the server gets."""
    configure(isolated, {"ctx-300": 300})

    async def go() -> None:
        s = Session(model="ctx-300")
        seed(s, "t", 8, "ctx-300")
        await s.start("t")
        out = await s.line("/tokens")
        quiet = figures(s.bar())[1]
        assert f"about {quiet:,} tokens of ctx-300's 300" in out
        left = re.search(r"next: (\d+) earlier turns not sent", s.bar())
        assert left and f"; {left.group(1)} earlier turns not sent" in " ".join(out.split())
        await typed(s, "question 8 " + "y" * 200)
        bar = s.bar()
        found = re.search(r"^ next: (\d+) earlier turns not sent · t · ctx-300 · 16 messages ·",
                          bar)
        assert found, bar
        assert styles(s) == {"class:meter.warn"}
        planned = figures(bar)[1]
        s.pipe.send_text("\r")
        await s.wait_prompt()
        sent = server.sent_messages()
        assert 9 - users(sent) == int(found.group(1))  # left out: as the bar said
        assert planned == sum(map(window.estimate, sent))  # and the size it showed
        await s.quit()

    run(go())


def test_red_when_even_the_last_turn_cannot_fit(api_env: dict[str, str], server: FakeOpenAI,
                                                isolated: dict[str, str]) -> None:
    configure(isolated, {"ctx-300": 300})

    async def go() -> None:
        s = Session(model="ctx-300")
        seed(s, "t", 2, "ctx-300")
        await s.start("t")
        await typed(s, "z" * 2000)
        assert s.bar().startswith(" next: too long for the window even alone · t · ")
        assert styles(s) == {"class:meter.full"}
        assert figures(s.bar())[0] == str(round(100 * figures(s.bar())[1] / 300))
        s.pipe.send_text("\x15")  # Ctrl-U: the line is emptied before /quit
        await s.quit()

    run(go())


def test_a_staged_file_is_in_the_meter_as_it_is_in_the_request(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "cat.png").write_bytes(PNG)

    async def go() -> None:
        s = await Session(model="gpt-4o-mini").start("t")
        before = figures(s.bar())[1]
        await s.line("/attach cat.png")
        assert shown(s).tokens > before + window.LOW_DETAIL  # before a word is typed
        await typed(s, "what is this?")
        planned = shown(s).tokens
        assert s.bar().endswith(f" · 1% · {meter.short(planned)}/128k · $0.00 ")
        s.pipe.send_text("\r")
        await s.wait_prompt()
        assert planned == sum(map(window.estimate, server.sent_messages()))
        await s.quit()

    run(go())


def test_a_command_being_typed_is_not_a_question(api_env: dict[str, str],
                                                 server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="gpt-4o-mini").start("t")
        await s.line("hello")
        quiet = figures(s.bar())[1]
        await typed(s, "/tokens " + "w" * 400)
        assert figures(s.bar())[1] == quiet
        s.pipe.send_text("\x15")
        await typed(s, "//tokens " + "w" * 400)  # a literal slash: a question
        assert figures(s.bar())[1] > quiet
        s.pipe.send_text("\x15")
        await s.quit()

    run(go())


def test_a_model_override_given_to_the_context_is_kept(api_env: dict[str, str]) -> None:
    config = config_mod.load(model="from-config")
    store = BufferedStore(open_store(config.store, config.data_dir))
    made = [Context(store=store, ui=UI(Console()), config=config,
                    endpoints=Endpoints(config), **given) for given in
            ({"model_override": "given"}, {})]
    assert [ctx.model_override for ctx in made] == ["given", "from-config"]
    store.close()


# -- the plan: measured once, fitted after each key as sending fits it --------------------------

roles = st.sampled_from(["user", "assistant", "assistant", "tool"])
histories = st.lists(st.tuples(roles, st.integers(0, 400)), max_size=30)


@given(histories, st.integers(0, 600), st.one_of(st.none(), st.integers(50, 2000)),
       st.sampled_from([0.5, 1.0, 1.7]))
def test_a_question_fitted_after_a_measured_thread_is_the_plan_of_the_whole(
        shape: list[tuple[str, int]], typed_chars: int, limit: int | None, scale: float) -> None:
    history = [Message(role, "m" * n, id=i + 1) for i, (role, n) in enumerate(shape)]
    question = Message("user", "q" * typed_chars)
    head = [{"role": "system", "content": "Be brief."}]
    whole = window.plan(head, [*history, question], limit=limit, scale=scale)
    after = window.fit(window.sized(head, history, scale=scale), limit=limit,
                       last=question.for_api())
    assert after == whole
    everything = window.plan(head, [*history, question], limit=None)
    assert whole.turns_dropped == users(everything.messages) - users(whole.messages)
    assert whole.over == (limit is not None and whole.tokens > limit - window.answer_room(limit))


def test_the_tool_loop_and_the_turn_import_nothing_above_them() -> None:
    """repl/calls.py is given the session and the Turn; it no longer reaches up for them."""
    import subprocess
    import sys

    code = ("import sys, repl.calls, repl.turn; print(sorted(m for m in sys.modules if m in "
            "{'repl.context', 'repl.chat', 'repl.commands', 'repl.render', 'repl.app'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
