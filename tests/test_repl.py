"""The REPL end to end: the real App through prompt_toolkit's pipe input, against a real server."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from fakeserver import FakeOpenAI, Reply
from harness import Session


def test_talk_and_history_is_resent_after_restart(api_env: dict[str, str],
                                                  server: FakeOpenAI) -> None:
    async def first() -> None:
        s = await Session().start()
        out = await s.line("hello there")
        assert "echo: hello there" in out
        await s.quit()

    async def second() -> None:
        s = await Session().start()
        assert "hello there" in s.text  # the last turns are shown on opening
        await s.line("and again")
        await s.quit()

    asyncio.run(first())
    asyncio.run(second())
    assert server.sent_messages(-1) == [
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": "echo: hello there"},
        {"role": "user", "content": "and again"},
    ]


def run(coro: object) -> None:
    asyncio.run(coro)  # type: ignore[arg-type]


def stored(s: Session, thread: str) -> list[tuple[str, str, str | None]]:
    return [(m.role, m.content, m.status) for m in s.store.messages(thread)]


def test_switch_creates_threads_and_keeps_them_apart(api_env: dict[str, str],
                                                     server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start()
        await s.line("in default")
        out = await s.line("/switch work")
        assert "new thread 'work'" in out
        await s.line("in work")
        assert server.sent_messages() == [{"role": "user", "content": "in work"}]
        out = await s.line("/sw default")  # a unique prefix
        assert "in default" in out  # its last turns are shown
        await s.line("back")
        assert [m["content"] for m in server.sent_messages()] == [
            "in default", "echo: in default", "back"]
        out = await s.line("/list")
        assert "work" in out and "default" in out
        await s.quit()

    run(go())


def test_new_rename_delete_asks_first(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("one")
        await s.line("hello")
        await s.line("/new two")
        assert s.ctx.thread.name == "two"
        out = await s.line("/new two")
        assert "already exists" in out
        await s.line("/rename deux")
        assert s.store.get("deux") and not s.store.get("two")
        await s.line("/delete one", wait=False)
        await s.wait_prompt()  # the confirmation question
        await s.line("n")
        assert s.store.get("one") is not None
        await s.line("/delete one", wait=False)
        await s.wait_prompt()
        out = await s.line("y")
        assert "moved 'one' to the trash" in out and s.store.get("one") is None
        out = await s.line("/new")  # a generated, date-based name
        assert s.ctx.thread.name not in ("deux", "one")
        await s.quit()

    run(go())


def test_bad_thread_names_get_one_line_and_the_repl_goes_on(api_env: dict[str, str]) -> None:
    async def go() -> None:
        s = await Session().start()
        for bad in ("../etc", "a/b", "x" * 100, ".hidden"):
            out = await s.line(f"/switch {bad}")
            assert out.count("error:") == 1, out
        assert s.ctx.thread.name == "default"
        out = await s.line("/nosuchcommand")
        assert "unknown command /nosuchcommand" in out
        await s.quit()

    run(go())


def test_slash_lines_that_are_paths_are_messages(api_env: dict[str, str],
                                                 server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start()
        out = await s.line("/etc/hosts is a file?")
        assert "echo: /etc/hosts is a file?" in out
        out = await s.line("//help me")
        assert "echo: /help me" in out
        await s.quit()

    run(go())


def test_model_and_system_are_per_thread_and_sent(api_env: dict[str, str],
                                                   server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model my-model")
        await s.line("/system Be brief.")
        await s.line("hi")
        request = server.requests[-1]
        assert request["model"] == "my-model"
        assert request["messages"][0] == {"role": "system", "content": "Be brief."}
        out = await s.line("/model")
        assert "my-model" in out
        await s.line("/system -")
        await s.line("again")
        assert server.requests[-1]["messages"][0]["role"] == "user"
        await s.quit()
        # another thread does not inherit the model; reopening remembers it
        s = await Session().start("other")
        await s.line("x")
        assert server.requests[-1]["model"] == "gpt-4o-mini"
        await s.line("/switch t")
        await s.line("y")
        assert server.requests[-1]["model"] == "my-model"
        await s.quit()

    run(go())


def test_model_flag_overrides_and_is_remembered(api_env: dict[str, str],
                                                server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="flag-model").start("t")
        await s.line("hi")
        assert server.requests[-1]["model"] == "flag-model"
        await s.quit()
        s = await Session().start("t")
        await s.line("hi again")
        assert server.requests[-1]["model"] == "flag-model"
        await s.quit()

    run(go())


def test_ctrl_c_keeps_the_partial_answer(api_env: dict[str, str], server: FakeOpenAI) -> None:
    import os
    import signal

    async def go() -> None:
        s = await Session().start("t")
        server.queue(Reply("word " * 400, pieces=400, delay=0.01))
        await s.line("tell me a long story", wait=False)
        await s.until(lambda: s.text.count("word") > 20)
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        assert "(interrupted)" in s.text
        (_, question, _), (role, answer, status) = stored(s, "t")
        assert question == "tell me a long story"
        assert role == "assistant" and status == "interrupted"
        assert 20 * len("word ") <= len(answer) < 400 * len("word ")
        # the REPL goes on, and the partial answer is part of the history sent next
        out = await s.line("go on")
        assert "echo: go on" in out
        assert server.sent_messages()[1] == {"role": "assistant", "content": answer}
        await s.quit()

    run(go())


def test_api_errors_are_one_line_and_keep_the_message(api_env: dict[str, str],
                                                      server: FakeOpenAI) -> None:
    from fakeserver import Failure

    async def go() -> None:
        s = await Session(timeout=0.5, retries=0).start("t")  # each failure's own line
        cases = [
            (Failure(401, {"error": {"message": "bad key"}}), "refused the API key"),
            (Failure(404, {"error": {"message": "model 'nope' not found"}}), "not found"),
            (Failure(429, {"error": {"message": "slow down"}}, {"retry-after": "7"}),
             "wait 7 s, then /retry sends it again"),
            (Failure(503, "<html><body>Bad gateway</body></html>"), "server failed"),
            (Reply("never", stall=2), "sent nothing for 0.5 s"),
        ]
        for n, (script, expected) in enumerate(cases):
            server.queue(script)
            out = await s.line(f"question {n}")
            assert out.count("error:") == 1 and expected in out, out
            assert "<html>" not in out
        questions = [c for r, c, _ in stored(s, "t") if r == "user"]
        assert questions == [f"question {n}" for n in range(len(cases))]
        out = await s.line("now it works")
        assert "echo: now it works" in out
        await s.quit()

    run(go())


def test_refused_connection_and_missing_key(isolated: dict[str, str],
                                            monkeypatch: object) -> None:
    async def go() -> None:
        s = await Session().start("t")
        out = await s.line("hello")
        assert "OPENAI_API_KEY" in out and out.count("error:") == 1
        assert stored(s, "t") == [("user", "hello", None)]
        out = await s.line("/list")  # local commands still work
        assert "t" in out
        await s.quit()

    run(go())
    import pytest

    mp = pytest.MonkeyPatch()
    mp.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    mp.setenv("OPENAI_API_KEY", "sk-x")
    try:
        async def refused() -> None:
            s = await Session().start("t")
            out = await s.line("hello")
            assert "cannot connect" in out and out.count("error:") == 1
            await s.quit()

        run(refused())
    finally:
        mp.undo()


@pytest.mark.slow
def test_two_processes_on_one_thread_see_each_others_turns(api_env: dict[str, str],
                                                            server: FakeOpenAI) -> None:
    import subprocess
    import sys

    async def go() -> None:
        a = await Session().start("shared")
        await a.line("from a")
        # a second chatrepl process adds a turn while this REPL is open
        done = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "repl", "-t", "shared", "from b"],
            env=api_env, capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        assert [m["content"] for m in server.sent_messages()] == [
            "from a", "echo: from a", "from b"]
        await a.line("a again")
        assert [m["content"] for m in server.sent_messages()] == [
            "from a", "echo: from a", "from b", "echo: from b", "a again"]
        await a.quit()

    run(go())


def test_truncated_and_reasoning(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(terminal=True).start("t")
        server.queue(Reply("cut off here", finish="length"),
                     Reply("the answer", reasoning="thinking hard"),
                     Reply("no finish", finish=None))
        out = await s.line("q1")
        assert "truncated" in out
        out = await s.line("q2")
        assert "reasoned for" in out and "the answer" in out
        out = await s.line("q3")
        assert "stream ended before the answer was finished" in out
        answers = [(c, st) for r, c, st in stored(s, "t") if r == "assistant"]
        assert answers == [("cut off here", "truncated"), ("the answer", None),
                           ("no finish", "truncated")]
        await s.quit()

    run(go())


def test_markdown_is_rendered_and_escapes_neutralised(api_env: dict[str, str],
                                                      server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(terminal=True).start("t")
        text = ("# Title\n\nSome **bold** text and a [link](http://evil.example).\n\n"
                "```python\nprint('hi')\n```\n\nhidden \x1b]52;c;aGk=\x07 and \x1b[2J\x9b done")
        server.queue(Reply(text, pieces=37))
        out = await s.line("show me")
        assert "# Title" not in out and "Title" in out
        assert "print('hi')" in out and "```" not in out
        assert "link (http://evil.example)" in out  # the target is shown, never hidden
        assert "\x1b]52" not in out and "\x1b[2J" not in out and "\x9b" not in out
        assert "␛]52;c;aGk=␇" in out
        assert stored(s, "t")[-1][1] == text  # stored exactly as sent
        await s.quit()

    run(go())


def test_history_and_export(api_env: dict[str, str], server: FakeOpenAI, tmp_path: object,
                            monkeypatch: object) -> None:
    import json
    import os
    from pathlib import Path

    async def go() -> None:
        s = await Session().start("notes")
        for n in range(4):
            await s.line(f"m{n}")
        out = await s.line("/history 2")
        assert "m2" in out and "m3" in out and "m1" not in out
        os.chdir(str(tmp_path))
        out = await s.line("/export")
        md = Path(str(tmp_path), "notes.md")
        assert md.exists() and "echo: m3" in md.read_text()
        assert md.stat().st_mode & 0o077 == 0
        await s.line("/export out.json")
        data = json.loads(Path(str(tmp_path), "out.json").read_text())
        assert data[0] == {"role": "user", "content": "m0"} and len(data) == 8
        await s.quit()

    cwd = os.getcwd()
    try:
        run(go())
    finally:
        os.chdir(cwd)


def test_multiline_input_paste_and_newline_keys(api_env: dict[str, str],
                                                server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("\x1b[200~first line\nsecond line\r\nthird\x1b[201~")  # bracketed paste
        await s.line("one\x1b\rtwo\nthree")  # Alt-Enter, then Ctrl-J
        questions = [c for r, c, _ in stored(s, "t") if r == "user"]
        assert questions == ["first line\nsecond line\nthird", "one\ntwo\nthree"]
        await s.quit()

    run(go())


def test_help_lists_every_command(api_env: dict[str, str]) -> None:
    from repl.commands import COMMANDS

    async def go() -> None:
        s = await Session().start()
        out = await s.line("/help")
        for name in COMMANDS:
            assert f"/{name}" in out
        await s.quit()

    run(go())


def test_disk_full_keeps_the_conversation_in_memory_and_saves_it_later(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("before")
        db = s.store.inner._db  # type: ignore[attr-defined]
        pages = db.execute("PRAGMA page_count").fetchone()[0]
        db.execute(f"PRAGMA max_page_count = {pages}")  # SQLite now answers "disk is full"
        big = "x" * 40_000  # needs new pages; under the 64 KiB a pipe holds
        out = await s.line(f"\x1b[200~{big}\x1b[201~")  # pasted
        assert "full" in out and "kept in memory" in out
        assert f"echo: {big}" in out  # the conversation goes on
        assert len(s.store.pending) == 2
        await s.line("still full")
        assert server.sent_messages()[-3:] == [  # the unsaved turn is part of the history
            {"role": "user", "content": big},
            {"role": "assistant", "content": f"echo: {big}"},
            {"role": "user", "content": "still full"},
        ]
        db.execute("PRAGMA max_page_count = 1073741823")  # space again
        await s.line("after")
        assert s.store.pending == []
        contents = [m.content for m in s.store.inner.messages("t")]  # type: ignore[attr-defined]
        assert contents == ["before", "echo: before", big, f"echo: {big}", "still full",
                            "echo: still full", "after", "echo: after"]
        await s.quit()

    run(go())


def test_a_bug_is_one_line_and_a_private_log_without_the_key(
        api_env: dict[str, str], data_dir: object) -> None:
    from pathlib import Path

    from repl.commands.registry import command

    @command("boom")
    async def boom(ctx: object, arg: str) -> None:
        """Fail like a bug would."""
        raise RuntimeError(f"unexpected state with {api_env['OPENAI_API_KEY']}")

    from repl.commands.registry import COMMANDS

    async def go() -> None:
        s = await Session().start()
        out = await s.line("/boom")
        assert out.count("error:") == 1 and "internal error" in out and "chatrepl.log" in out
        assert api_env["OPENAI_API_KEY"] not in out
        out = await s.line("/list")  # still running
        assert "default" in out
        await s.quit()

    try:
        run(go())
    finally:
        del COMMANDS["boom"]
    log = Path(str(data_dir)) / "chatrepl.log"
    text = log.read_text()
    assert "RuntimeError" in text and api_env["OPENAI_API_KEY"] not in text
    assert log.stat().st_mode & 0o077 == 0



def test_context_too_long_trims_and_retries_once(api_env: dict[str, str],
                                                 server: FakeOpenAI) -> None:
    from fakeserver import Failure

    too_long = Failure(400, {"error": {"message": "This model's maximum context length is 8192 "
                                       "tokens. However, your messages resulted in 9000 tokens",
                                       "code": "context_length_exceeded"}})

    async def go() -> None:
        s = await Session().start("t")
        for n in range(3):
            await s.line(f"turn {n}")
        server.queue(too_long)
        out = await s.line("one more")
        assert "too long" in out and "earliest messages" in out and "echo: one more" in out
        first, second = server.requests[-2]["messages"], server.requests[-1]["messages"]
        assert len(second) < len(first) and second[-1] == first[-1]
        assert second[0]["role"] == "user"  # never starts with a lone answer
        server.queue(too_long, too_long)
        out = await s.line("and again")
        assert out.count("error:") == 1 and "too long" in out  # retried once only
        assert [m.content for m in s.store.messages("t")][-1] == "and again"  # kept
        assert len(s.store.messages("t")) == 9  # nothing was deleted to make it fit
        await s.quit()

    run(go())


def test_long_threads_are_fitted_to_the_context_window(api_env: dict[str, str],
                                                       server: FakeOpenAI,
                                                       isolated: dict[str, str]) -> None:
    from pathlib import Path

    config = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[context_sizes]\n"tiny-model" = 2000\n')

    async def go() -> None:
        s = await Session(model="tiny-model").start("t")
        for n in range(6):
            out = await s.line(f"q{n} " + "word " * 300)
        assert "earlier messages not sent" in out
        sent = server.sent_messages()
        assert sent[-1]["content"].startswith("q5") and sent[0]["content"].startswith("q")
        assert len(sent) < 11
        assert len(s.store.messages("t")) == 12  # all of it stays stored
        await s.quit()

    run(go())


def test_retry_undo_redo_edit(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("first")
        server.queue(Reply("answer A"))
        await s.line("second")
        server.queue(Reply("answer B"))
        out = await s.line("/retry")
        assert "answer B" in out
        assert server.sent_messages() == [  # the retried request: the same history
            {"role": "user", "content": "first"}, {"role": "assistant", "content": "echo: first"},
            {"role": "user", "content": "second"}]
        assert [m.content for m in s.store.messages("t")][-1] == "answer B"
        out = await s.line("/undo")  # after a retry: the previous answer comes back
        assert "previous one is back" in out
        assert [m.content for m in s.store.messages("t")][-2:] == ["second", "answer A"]
        await s.line("/redo")
        assert [m.content for m in s.store.messages("t")][-2:] == ["second", "answer B"]
        await s.line("/undo")
        await s.line("/undo")  # now the whole exchange
        assert [m.content for m in s.store.messages("t")] == ["first", "echo: first"]
        await s.line("/redo")
        assert [m.content for m in s.store.messages("t")][-2:] == ["second", "answer A"]
        # /edit: the prompt is prefilled with the last message; change it and send
        await s.line("/edit", wait=False)
        await s.wait_prompt()
        await s.line("\x7f" * 6 + "changed")  # backspace over "second"
        assert [m.content for m in s.store.messages("t")][-2:] == ["changed", "echo: changed"]
        assert server.sent_messages()[-1] == {"role": "user", "content": "changed"}
        assert len(server.sent_messages()) == 3  # the original question was not sent
        await s.line("/undo")  # the original comes back
        assert [m.content for m in s.store.messages("t")][-2:] == ["second", "answer A"]
        hidden = [m for m in s.store.messages("t", hidden=True) if m.hidden]
        assert {m.content for m in hidden} >= {"answer B", "changed", "echo: changed"}
        await s.quit()

    run(go())


def test_fork_trash_restore_search_goto(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("main")
        for word in ("apples", "bananas", "cherries"):
            await s.line(f"tell me about {word}")
        await s.line("/fork early 2")
        assert s.ctx.thread.name == "early"
        assert [m.content for m in s.store.messages("early")][-1] == "echo: tell me about bananas"
        await s.line("more")
        assert [m["content"] for m in server.sent_messages()][-2:] == [
            "echo: tell me about bananas", "more"]
        out = await s.line("/search bananas")
        assert "main" in out and "early" in out and "turn 2" in out
        out = await s.line("/goto 1")
        assert "bananas" in out
        await s.line("/delete main", wait=False)
        await s.wait_prompt()
        out = await s.line("y")
        assert "trash" in out and s.store.get("main") is None
        out = await s.line("/trash")
        assert "main" in out
        out = await s.line("/search cherries")
        assert "no match" in out  # trashed threads are not searched
        await s.line("/restore main")
        assert len(s.store.messages("main")) == 6
        await s.quit()

    run(go())


def test_tokens_compact_copy(api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="gpt-4o-mini", terminal=True).start("t")
        for n in range(4):
            await s.line(f"question {n}")
        out = await s.line("/tokens")
        assert "prompt" in out and "next request" in out and "$" in out
        server.queue(Reply("We discussed questions 0 and 1."))
        out = await s.line("/compact 2")
        assert "summary" in out
        assert server.requests[-1]["messages"][-1]["content"].startswith("Summarise")
        await s.line("question 4")
        sent = server.sent_messages()
        assert sent[0]["role"] == "system" and "We discussed" in sent[0]["content"]
        assert [m["content"] for m in sent[1:]] == [
            "question 2", "echo: question 2", "question 3", "echo: question 3", "question 4"]
        assert len([m for m in s.store.messages("t") if m.role == "user"]) == 5  # all kept
        server.queue(Reply("code:\n\n```python\nprint(1)\n```\n"))
        await s.line("code please")
        out = await s.line("/copy 1")
        assert "\x1b]52;c;cHJpbnQoMSkK\x07" in out and "copied 9 characters" in out
        await s.quit()

    run(go())


def test_tab_completion_of_commands_threads_and_models(api_env: dict[str, str],
                                                       server: FakeOpenAI) -> None:
    from prompt_toolkit.completion import CompleteEvent
    from prompt_toolkit.document import Document

    from repl.completion import CommandCompleter

    async def go() -> None:
        s = await Session().start("alpha")
        await s.line("/switch beta")
        completer = CommandCompleter(s.ctx)

        async def complete(text: str) -> list[str]:
            found = completer.get_completions_async(Document(text), CompleteEvent())
            return [c.text async for c in found]

        assert await complete("/sw") == ["/switch"]
        assert await complete("/switch al") == ["alpha"]
        assert await complete("/model fa") == ["fake-model"]  # from the endpoint's /v1/models
        assert await complete("hello /sw") == []
        await s.quit()

    run(go())


FIXTURES = __import__("pathlib").Path(__file__).parent / "fixtures"


def test_import_formats_and_name_clashes(api_env: dict[str, str], server: FakeOpenAI,
                                         tmp_path: object) -> None:
    async def go() -> None:
        s = await Session().start("t")
        out = await s.line(f"/import {FIXTURES / 'chat_history.json'} history")
        assert "imported 1 thread (6 messages)" in out
        info = s.store.get("history")
        assert info is not None and info.system and info.message_count > 0
        out = await s.line(f"/import {FIXTURES / 'chat_history.json'} history")
        assert "skipped 1 thread already imported" in out  # the same: never a duplicate
        out = await s.line(f"/import {FIXTURES / 'conversations.json'}")
        assert "imported 2 threads" in out or "imported 3 threads" in out
        out = await s.line(f"/import {FIXTURES / 'bad.json'}")
        assert out.count("error:") == 1 and "JSON" in out
        # a thread exported as markdown comes back the same
        await s.line("/switch history")
        await s.line("one more")
        md = __import__("pathlib").Path(str(tmp_path)) / "h.md"
        await s.line(f"/export {md}")
        await s.line(f"/import {md} again")
        # markdown keeps the text, tool calls and their results (attachments only by name)
        original = [(m.role, m.content, m.fields) for m in s.store.messages("history")]
        assert [(m.role, m.content, m.fields) for m in s.store.messages("again")] == original
        assert s.store.get("again").system == s.store.get("history").system  # type: ignore
        # the imported history is what the model sees next
        await s.line("/switch again")
        await s.line("continue")
        assert server.sent_messages()[0]["role"] == "system"
        from repl import wire

        again = wire.shape([m.for_api() for m in s.store.messages("again")], wire.Quirks())
        assert server.sent_messages()[1:-1] == again[:-2]  # tool calls and results sent again
        assert any("tool_calls" in m for m in again) and any(m["role"] == "tool" for m in again)
        await s.quit()

    run(go())


def test_cli_search_and_import(api_env: dict[str, str], server: FakeOpenAI) -> None:
    import subprocess
    import sys

    def chatrepl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "repl", *args], env=api_env,
                              capture_output=True, text=True, timeout=30)

    done = chatrepl("--import", str(FIXTURES / "chat_history.json"), "-t", "imported")
    assert done.returncode == 0 and "imported 'imported'" in done.stderr
    chatrepl("-t", "notes", "the zebra crossing is blue")
    done = chatrepl("--search", "zebra")
    lines = done.stdout.splitlines()
    assert done.returncode == 0 and len(lines) == 2  # the question and its echo
    assert lines[0].startswith("notes\tturn 1\t") and "[zebra]" in lines[0]
    assert "\x1b" not in done.stdout


# -- the session owns its state; the outside world comes in through cli.py -----------------------


def test_the_current_thread_is_never_stale(api_env: dict[str, str], server: FakeOpenAI) -> None:
    from repl.store import open_store
    from repl.thread import Message

    async def go() -> None:
        s = await Session().start("t")
        other = open_store(s.config.store, s.config.data_dir)  # another chatrepl, same thread
        try:
            other.append("t", Message("user", "from elsewhere"))
            other.append("t", Message("assistant", "seen"))
            other.update("t", model="other-model")
        finally:
            other.close()
        assert s.ctx.thread.message_count == 2 and s.ctx.model == "other-model"
        assert s.app._toolbar() == " t · other-model · 2 messages "  # what the next prompt shows
        await s.line("/model mine")
        assert s.app._toolbar() == " t · mine · 2 messages "
        await s.line("/system be brief")
        assert s.ctx.thread.system == "be brief"
        await s.line("hello")
        assert server.requests[-1]["model"] == "mine"
        assert s.app._toolbar() == " t · mine · 4 messages "
        await s.quit()

    run(go())


def test_edit_in_the_configured_editor_and_new_names_from_the_clock(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import time

    script = tmp_path / "editor.py"
    script.write_text("import sys, pathlib\np = pathlib.Path(sys.argv[1])\n"
                      "p.write_text(p.read_text().upper() + ' (edited)\\n')\n")
    monkeypatch.setenv("VISUAL", f"{sys.executable} {script}")
    moment = time.mktime((2030, 5, 6, 7, 8, 0, 0, 0, -1))

    async def go() -> None:
        s = await Session(clock=lambda: moment).start("t")
        await s.line("make it loud")
        out = await s.line("/edit -e")
        assert server.sent_messages()[-1] == {"role": "user", "content": "MAKE IT LOUD (edited)"}
        assert "❯ MAKE IT LOUD (edited)" in out  # edited out of sight, shown as sent
        out = await s.line("/new")
        assert "new thread '2030-05-06-0708'" in out
        await s.quit()

    run(go())


def test_environment_variables_are_read_only_in_config() -> None:
    import repl

    root = Path(repl.__file__).parent
    readers = sorted(str(p.relative_to(root)) for p in root.rglob("*.py")
                     if any(w in p.read_text() for w in ("os.environ", "getenv(")))
    assert readers == ["config.py"]


# -- a question that got no answer ----------------------------------------------------------------


def test_an_unanswered_question_says_retry_and_retry_sends_it_once(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    import os
    import signal

    from fakeserver import Failure

    async def go() -> None:
        s = await Session(retries=0).start("t")
        server.queue(Failure(503, {"error": {"message": "overloaded"}}))
        out = await s.line("first question")
        assert out.count("error:") == 1 and "; /retry sends it again" in out, out
        out = await s.line("/retry")
        assert "echo: first question" in out
        assert server.sent_messages() == [{"role": "user", "content": "first question"}]
        assert stored(s, "t") == [("user", "first question", None),
                                  ("assistant", "echo: first question", None)]

        server.queue(Reply("late", stall=3))  # Ctrl-C before the first token
        await s.line("second question", wait=False)
        await s.until(lambda: len(server.requests) == 3)
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        assert "(interrupted before the answer began; /retry sends it again)" in s.text
        await s.line("/retry")
        assert [c for r, c, _ in stored(s, "t") if r == "user"] == ["first question",
                                                                   "second question"]
        assert stored(s, "t")[-1] == ("assistant", "echo: second question", None)
        await s.quit()

    run(go())


def test_a_missing_key_says_retry(isolated: dict[str, str]) -> None:
    async def go() -> None:
        s = await Session().start("t")
        out = await s.line("hello")
        assert "OPENAI_API_KEY" in out and out.count("error:") == 1
        # in the order it is done: the fix first, then /retry (the audit found them reversed)
        assert "; then restart chatrepl; /retry sends it again" in out
        await s.quit()

    run(go())


# -- small ones -----------------------------------------------------------------------------------


def test_undo_n_takes_back_n_exchanges_and_redo_returns_them(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        for n in range(4):
            await s.line(f"q{n}")
        out = await s.line("/undo 3")
        assert "took back 3 exchanges" in out
        assert [c for _, c, _ in stored(s, "t")] == ["q0", "echo: q0"]
        out = await s.line("/undo 5")
        assert out.count("error:") == 1 and "has 1 exchange;" in out
        out = await s.line("/undo x")
        assert out.count("error:") == 1 and "usage: /undo [N]" in out
        await s.line("/redo")
        assert [c for r, c, _ in stored(s, "t") if r == "user"] == ["q0", "q1", "q2", "q3"]
        await s.quit()

    run(go())


def test_history_numbers_the_turns_and_never_says_empty_when_it_is_not(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        out = await s.line("/history")
        assert "no messages yet" in out
        for n in range(3):
            await s.line(f"q{n}")
        out = await s.line("/history 0")
        assert "no messages yet" not in out and "0 of 3 turns shown" in out
        assert "q0" not in out
        out = await s.line("/history 2")
        lines = out.splitlines()
        assert "2 of 3 turns shown" in out and "q0" not in out
        assert lines[lines.index("turn 2") + 1] == "❯ q1"
        assert lines[lines.index("turn 3") + 1] == "❯ q2"
        out = await s.line("/history -1")
        assert out.count("error:") == 1
        await s.line("/fork copy 2")  # the numbers /history shows are the ones /fork takes
        assert [c for _, c, _ in stored(s, "copy")][-1] == "echo: q1"
        await s.quit()

    run(go())


def test_fork_with_a_bad_turn_is_an_error_not_a_name(api_env: dict[str, str],
                                                     server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("q0")
        for bad in ("z -1", "z 0", "z 2"):
            out = await s.line(f"/fork {bad}")
            assert out.count("error:") == 1 and "turns 1 to 1" in out, out
        assert [i.name for i in s.store.list_threads()] == ["t"]
        assert s.ctx.thread.name == "t"
        await s.quit()

    run(go())


def test_unsaved_warning_comes_first_in_a_narrow_bottom_bar(api_env: dict[str, str],
                                                            server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(model="a-rather-long-model-name-for-a-narrow-terminal").start(
            "a-long-thread-name")
        db = s.store.inner._db  # type: ignore[attr-defined]
        db.execute(f"PRAGMA max_page_count = {db.execute('PRAGMA page_count').fetchone()[0]}")
        await s.line(f"\x1b[200~{'x' * 40_000}\x1b[201~")  # pasted; needs new pages
        bar = s.app._toolbar()
        assert bar[:60].startswith(" 2 UNSAVED · a-long-thread-name · "), bar
        db.execute("PRAGMA max_page_count = 1073741823")
        await s.quit()

    run(go())
