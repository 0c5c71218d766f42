"""What goes with an erased turn or an emptied trash (issue 18: 4, 5, 9, 10, 11): the /compact
summary made from it, its typed lines in the input history, the responses the server stored,
an auto-title made from it; and an erase killed halfway finished at the next open."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import stores
from fakeserver import FakeOpenAI, Reply
from harness import Session, run

from repl.thread import Message


def asking(s: Session) -> list[str]:
    """The questions the session asks from now on (answered as typed)."""
    asked: list[str] = []
    real = s.ctx.ask

    async def ask(question: str) -> bool:
        asked.append(question)
        return await real(question)

    s.given(ask=ask)
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
        assert s.ctx.thread.settings.titled_from is None
        await s.quit()

    run(go)


def test_the_question_names_what_chatrepl_cannot_clean(api_env: dict[str, str],
                                                      server: FakeOpenAI) -> None:
    """Exports already written, mcp.log, MCP servers' own logs, and a file chatrepl wrote what
    it could not store to (a full disk) may all hold what is erased: the question says so."""
    rescued = Path.home() / "chatrepl-unsaved-20261208-101010-42.json"
    rescued.write_text("[]")

    async def go() -> None:
        s = await Session().start("main")
        s.config.mcp_log_path.write_text("")
        await s.line("the merger with Acme is secret")
        asked = asking(s)
        await answer(s, "/erase 1", "n")
        assert f"Exports already written, mcp.log, {rescued} and MCP servers' own logs keep " \
               "what they have (chatrepl cannot clean them)" in asked[0]
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


def responses_session(server: FakeOpenAI) -> Session:
    """A Session on the Responses API with server_state = true."""
    from repl.client import ChatClient

    s = Session(model="gpt-5")
    s.ctx.endpoints.install("default", ChatClient(
        api_key="sk-test", base_url=server.url, timeout=s.config.timeout, retries=0,
        local_servers=(), api="responses", server_state=True, state=s.store))
    return s


def test_erase_deletes_the_responses_the_server_stored(api_env: dict[str, str],
                                                      server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await responses_session(server).start("s")
        await s.line("one")
        await s.line("my secret")
        await s.line("/retry")  # a second stored response for the turn
        assert set(server.stored) == {"resp_1", "resp_2", "resp_3"}
        asked = asking(s)
        out = await answer(s, "/erase 2", "y")
        assert "The 2 responses the server stored are deleted there" in asked[0]
        assert sorted(server.deletes) == ["/v1/responses/resp_2", "/v1/responses/resp_3"]
        assert set(server.stored) == {"resp_1"}
        assert "still keeps" not in out
        await s.quit()

    run(go)


def test_a_title_and_a_summary_are_never_stored_at_the_server(api_env: dict[str, str],
                                                             server: FakeOpenAI) -> None:
    """Found by the audit: with server_state = true, the auto-title's request (the first
    question, whole) and /compact's (the whole conversation) were sent store: true and never
    deleted by /erase. What chatrepl asks aside is never stored there."""
    async def go() -> None:
        s = await responses_session(server).start("main")
        await s.line("/new")
        server.queue(Reply("noted"), Reply("Merger Plans"))
        await s.line("the merger with Acme is secret")
        await s.until(lambda: s.ctx.thread.name == "Merger Plans")
        await s.line("second question")
        server.queue(Reply("They discussed a secret merger."))
        await s.line("/compact 1")
        bodies = [r for r, path in zip(server.requests, server.paths, strict=True)
                  if path.endswith("/responses")]
        assert [b["store"] for b in bodies] == [True, False, True, False]  # the title, /compact
        assert "previous_response_id" not in bodies[3]  # the whole conversation, not stored
        assert len(server.stored) == 2  # the two answers only
        await answer(s, "/erase 1", "y")
        await answer(s, "/erase 1", "y")
        assert server.stored == {}  # nothing of the thread is left at the server
        await s.quit()

    run(go)


def test_a_response_that_cannot_be_deleted_is_named(api_env: dict[str, str],
                                                   server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await responses_session(server).start("s")
        await s.line("my secret")
        await s.line("another")
        server.undeletable.add("resp_1")
        out = await answer(s, "/erase 1", "y")
        assert "erased turn 1 for good" in out
        line = next(x for x in out.splitlines() if "still keeps" in x)
        assert "1 of its responses (resp_1)" in line
        server.stored.pop("resp_2")  # gone already: a 404 is not a failure
        await s.line("/delete s", wait=False)
        await s.wait_prompt()
        await s.line("y")
        asked = asking(s)
        out = await answer(s, "/trash empty", "y")
        assert "The response the server stored is deleted there" in asked[0]
        assert server.deletes[-1] == "/v1/responses/resp_2"
        assert "still keeps" not in out
        await s.quit()

    run(go)


UP = "\x1b[A"


def test_erase_takes_the_typed_lines_out_of_the_input_history(api_env: dict[str, str],
                                                             server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(history=True).start("h")
        await s.line("my secret password is hunter2")
        await s.line("keep this")
        await s.line("//slash secret")  # sent as "/slash secret"
        path = s.config.history_path
        assert b"hunter2" in path.read_bytes()
        asked = asking(s)
        await answer(s, "/erase 1", "y")
        await answer(s, "/erase 2", "y")
        assert "The lines typed for it leave the input history" in asked[0]
        assert "Exports already written and MCP servers' own logs keep" in asked[0]
        raw = path.read_bytes()
        assert b"hunter2" not in raw and b"slash secret" not in raw
        assert b"+keep this\n" in raw and b"+/erase 1\n" in raw
        # Up as far as it goes: the oldest line left is "keep this", not the erased one
        await s.line(UP * 6)
        assert server.sent_messages()[-1]["content"] == "keep this"
        await s.quit()
        again = Session(history=True)  # the next run reads the file
        kept = again.app.session.history.load_history_strings()
        assert not any("hunter2" in line for line in kept)
        await again.quit()

    run(go)


def test_trash_empty_takes_the_typed_lines_out_too(api_env: dict[str, str],
                                                   server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session(history=True).start("main")
        await s.line("/switch old")
        await s.line("an old secret")
        await s.line("/switch main")
        await answer(s, "/delete old", "y")
        s.config.mcp_log_path.write_text("a server said something\n")
        asked = asking(s)
        await answer(s, "/trash empty", "y")
        assert "Exports already written, mcp.log and MCP servers' own logs keep" in asked[0]
        assert b"an old secret" not in s.config.history_path.read_bytes()
        assert "an old secret" not in s.app.session.history.get_strings()
        await s.quit()

    run(go)


SECRET_BYTES = b"\x89PNG\r\n\x1a\n" + b"SECRET-ATTACHMENT-BYTES" * 8
KEPT_BYTES = b"\x89PNG\r\n\x1a\n" + b"KEPT-ATTACHMENT-BYTES" * 8

_KILLED_ERASER = textwrap.dedent("""
    import os, signal, sys
    from pathlib import Path
    sys.path.insert(0, sys.argv[1])
    import stores
    backend, base, url, what = sys.argv[2], Path(sys.argv[3]), sys.argv[4], sys.argv[5]
    if url:
        stores._server["url"] = url
    s = stores.BACKENDS[backend](base)
    # kill -9 right after the delete itself, before the store scrubs what it leaves behind
    after = "_scrub" if backend == "sqlite" else "_drop_blobs"
    setattr(type(s), after, lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL))
    if what == "erase":
        s.erase("t", [m.id for m in s.messages("t", hidden=True)][:2])
    else:
        s.purge("t")
    print("not killed")
""")


def picture(raw: bytes, text: str) -> Message:
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    return Message("user", text, parts=({"type": "text", "text": text},
                                        {"type": "image_url", "image_url": {"url": url}}))


@pytest.mark.parametrize("what", ["erase", "purge"])
@pytest.mark.parametrize("backend", list(stores.BACKENDS))
def test_an_erase_killed_halfway_is_finished_at_the_next_open(backend: str, what: str,
                                                              tmp_path: Path) -> None:
    store = stores.BACKENDS[backend](tmp_path)
    store.create("t")
    store.append_many("t", [picture(SECRET_BYTES, "zanzibarquux plans"),
                            Message("assistant", "zanzibarquux noted"),
                            Message("user", "later"), Message("assistant", "ok")])
    store.create("other")
    store.append("other", picture(KEPT_BYTES, "a kept picture"))
    if what == "purge":
        store.delete("t")
    store.close()
    url = stores.redis_url() if backend == "redis" else ""
    here = Path(__file__).parent
    done = subprocess.run([sys.executable, "-c", _KILLED_ERASER, str(here), backend,
                           str(tmp_path), url, what], cwd=here.parent, capture_output=True,
                          timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stderr
    assert b"SECRET-ATTACHMENT" in stores.stored_bytes(backend, tmp_path)  # the kill left it

    reopened = stores.BACKENDS[backend](tmp_path)  # the next start
    kept = reopened.expand([m.for_api() for m in reopened.messages("other")])
    reopened.close()
    raw = stores.stored_bytes(backend, tmp_path)
    assert b"SECRET-ATTACHMENT" not in raw and b"zanzibarquux" not in raw
    assert base64.b64encode(KEPT_BYTES).decode() in json.dumps(kept)


def test_the_json_store_collects_blobs_no_message_refers_to(tmp_path: Path) -> None:
    store = stores.jsonfiles(tmp_path)
    store.create("t")
    store.append_many("t", [picture(KEPT_BYTES, "kept"), Message("user", "gone")])
    folder = tmp_path / "threads" / "blobs"
    orphan = folder / ("ab" * 32)  # an append's bytes whose thread write a crash stopped
    orphan.write_bytes(b"orphaned")
    (folder / "notes.txt").write_bytes(b"not a blob")
    store.erase("t", [m.id for m in store.messages("t") if m.content == "gone"])
    assert not orphan.exists() and (folder / "notes.txt").exists()
    assert base64.b64encode(KEPT_BYTES).decode() in json.dumps(
        store.expand([m.for_api() for m in store.messages("t")]))
