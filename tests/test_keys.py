"""API keys and credentials (issue 18, items 2, 3 and 15; issue 20, item 8): what a key command
prints, when it runs and how it is stopped, and that no key or URL password is ever on screen,
whatever its escaping. Through the App against real fake servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from fakeserver import Failure, FakeOpenAI
from harness import Session, write_config

from repl.commands.session import model_names

REPL = Path(__file__).parent.parent / "repl"


def command_table(name: str, url: str, command: str, extra: str = "") -> str:
    return f"[endpoints.{name}]\nbase_url = {json.dumps(url)}\n" \
           f"api_key_command = {json.dumps(command)}\n{extra}"


def bearer(headers: dict[str, str]) -> str:
    return {k.lower(): v for k, v in headers.items()}["authorization"]


def shown_forms(secret: str) -> list[str]:
    """How an error could spell ``secret``: as is, repr'd as str and bytes, JSON, each line."""
    return [secret, repr(secret), repr(secret.encode()), json.dumps(secret),
            repr(f"Bearer {secret}".encode()), *secret.splitlines()]


def assert_hidden(out: str, secret: str) -> None:
    for form in shown_forms(secret):
        assert form not in out, (form, out)


def stored(s: Session, name: str) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in s.store.messages(name)]


# -- item 2: what a key command prints; a key never shown ----------------------------------------


def test_a_key_command_printing_several_lines_sends_its_first_line(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str]) -> None:
    write_config(isolated, command_table(
        "pass", other.url, "printf 'sk-first-line-key-789\\nlogin: me\\nurl: example.org\\n'"))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model pass:m")
        out = await s.line("hello")
        assert "echo: hello" in out and "error" not in out, out
        assert bearer(other.headers[-1]) == "Bearer sk-first-line-key-789"
        await s.quit()

    asyncio.run(go())


@pytest.mark.parametrize(("key", "header"), [
    ("sk-env-secret-line-1\nlogin: me", "chatrepl"),  # a key variable set from `pass show`
    ("sk-caf\u00e9-secret-key-2", "chatrepl"),  # not ASCII
    ("sk-fine-key-3", "two\nlines"),  # a header of the endpoint's own
])
def test_a_key_or_header_no_header_can_hold_is_one_configuration_line(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str],
        monkeypatch: pytest.MonkeyPatch, key: str, header: str) -> None:
    monkeypatch.setenv("LOCAL_KEY", key)
    write_config(isolated, f'[endpoints.local]\nbase_url = "{other.url}"\n'
                           f'api_key_env = "LOCAL_KEY"\n'
                           f'headers = {{ "X-Title" = {json.dumps(header)} }}\n')

    async def go() -> None:
        s = await Session(backoff=0.01).start("t")  # retries as configured (2)
        await s.line("/model local:m")
        out = await s.line("hello")
        assert out.count("error:") == 1 and "endpoint 'local'" in out, out
        assert "cannot be sent as an HTTP header" in out and "api_key_command" in out
        assert "cannot connect" not in out and "OPENAI_BASE_URL" not in out
        assert "retrying" not in out.lower() and "interrupted" not in out
        assert_hidden(out, key)
        assert not other.requests
        await s.quit()

    asyncio.run(go())


def test_a_key_is_never_shown_whatever_its_escaping(
        api_env: dict[str, str], server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    key = "sk-qu'o\"te\\key-5678"
    monkeypatch.setenv("OPENAI_API_KEY", key)
    echoed = f"bad key {key!r}, {key.encode()!r}, {json.dumps(key)}, {'Bearer ' + key!r}"

    async def go() -> None:
        s = await Session(retries=0).start("t")
        server.queue(Failure(401, {"error": {"message": echoed}}))
        out = await s.line("hello")
        assert out.count("error:") == 1 and "refused the API key" in out and "***" in out
        assert_hidden(out, key)
        await s.quit()

    asyncio.run(go())


def test_credential_headers_of_an_endpoint_are_never_shown(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str]) -> None:
    write_config(isolated, f'[endpoints.hdr]\nbase_url = "{other.url}"\nheaders = {{ '
                           f'"X-Api-Key" = "hdr-secret-value-77", '
                           f'Authorization = "Bearer hdr-bearer-88", "X-Title" = "chatrepl" }}\n')

    async def go() -> None:
        s = await Session(retries=0).start("t")
        await s.line("/model hdr:m")
        other.queue(Failure(401, {"error": {"message": "neither hdr-secret-value-77 nor "
                                                       "'hdr-bearer-88' will do (chatrepl)"}}))
        out = await s.line("hello")
        assert out.count("error:") == 1 and "(chatrepl)" in out, out
        assert_hidden(out, "hdr-secret-value-77")
        assert_hidden(out, "hdr-bearer-88")
        await s.quit()

    asyncio.run(go())


def test_scrub_hides_every_spelling_of_a_secret() -> None:
    from repl.redaction import scrub

    secret = "sk-line-one'x\"y\\z\nsecond-line"
    header = f"Bearer {secret}".encode()
    text = " | ".join([*shown_forms(secret), f"Illegal header value {header!r}",
                       repr(f'"{secret}'), "ok"])
    cleaned = scrub(text, [secret])
    assert_hidden(cleaned, secret)
    assert cleaned.endswith("| ok") and "Illegal header value b'Bearer ***'" in cleaned


def test_one_primitive_hides_secrets() -> None:
    """Keys are taken out in one place (repl/redaction.py), which every other module calls."""
    writers = [p.relative_to(REPL).as_posix() for p in REPL.rglob("*.py")
               if '"***"' in p.read_text() and p.name != "redaction.py"]
    assert writers == []


def test_a_failing_key_commands_stderr_is_scrubbed_of_keys(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str]) -> None:
    command = ("printf 'sk-cmd-secret-4242\\n'; "
               "echo \"token sk-cmd-secret-4242 refused, not $OPENAI_API_KEY\" >&2; exit 2")
    write_config(isolated, command_table("cmd", other.url, command))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model cmd:m")
        out = await s.line("hello")
        assert out.count("error:") == 1 and "failed (exit status 2: token *** refused" in out
        assert_hidden(out, "sk-cmd-secret-4242")
        assert_hidden(out, api_env["OPENAI_API_KEY"])
        await s.quit()

    asyncio.run(go())


# -- item 3: a key command runs off the loop, once, when the endpoint first sends ----------------


def test_tab_never_runs_a_key_command_and_a_failure_runs_once(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str],
        tmp_path: Path) -> None:
    runs, broken = tmp_path / "runs", tmp_path / "broken"
    write_config(isolated, command_table(
        "cmd", other.url, f"echo run >> '{runs}'; echo key-from-cmd",
        'models = ["by-hand"]\n') + command_table(
        "broken", other.url, f"echo run >> '{broken}'; echo nope >&2; exit 3"))

    async def go() -> None:
        s = await Session().start("t")
        names = await model_names(s.ctx)
        assert "fake-model" in names and "cmd:by-hand" in names  # listed without its key
        assert not runs.exists() and not broken.exists() and not other.gets
        await s.line("/model cmd:m")
        await s.line("one")
        await s.line("two")
        assert [bearer(h) for h in other.headers] == ["Bearer key-from-cmd"] * 2
        await model_names(s.ctx)
        assert other.gets  # its key had: asked now
        await s.line("/model broken:m")
        first = await s.line("three")
        again = await s.line("four")
        await model_names(s.ctx)
        assert first.count("error:") == 1 and "failed (exit status 3: nope)" in first, first
        assert again.count("error:") == 1 and "earlier this session" in again, again
        assert "interrupted" not in first + again
        assert runs.read_text().count("run") == 1 and broken.read_text().count("run") == 1
        await s.quit()

    asyncio.run(go())


def test_a_key_command_runs_off_the_event_loop(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str],
        tmp_path: Path) -> None:
    started, go_on = tmp_path / "started", tmp_path / "go"
    write_config(isolated, command_table(
        "slow", other.url,
        f"touch '{started}'; while [ ! -f '{go_on}' ]; do sleep 0.02; done; echo slow-key"))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model slow:m")
        await s.line("hello", wait=False)
        await s.until(started.exists)  # the loop runs while the command waits
        assert "default:fake-model" in await model_names(s.ctx)  # Tab lists the others
        go_on.touch()
        await s.wait_prompt()
        assert "echo: hello" in s.text and bearer(other.headers[-1]) == "Bearer slow-key"
        await s.quit()

    asyncio.run(go())


# -- issue 20, item 8: each key failure said as what happened, once -------------------------------


def test_ctrl_c_stops_a_key_command_and_says_it_was_cancelled(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str],
        tmp_path: Path) -> None:
    pid, second = tmp_path / "pid", tmp_path / "second"
    write_config(isolated, command_table(
        "slow", other.url,
        f"if [ -f '{second}' ]; then echo key-2; else echo $$ > '{pid}'; sleep 30; fi"))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model slow:m")
        before = len(s.text)
        await s.line("hello", wait=False)
        await s.until(lambda: pid.exists() and pid.read_text().strip() != "")
        os.kill(os.getpid(), signal.SIGINT)
        await s.wait_prompt()
        out = s.text[before:]
        assert out.count("cancelled") == 1 and "api_key_command of endpoint 'slow'" in out, out
        assert "error" not in out and "interrupted" not in out and "fix it" not in out
        with pytest.raises(ProcessLookupError):  # stopped, not left running
            os.kill(int(pid.read_text()), 0)
        assert stored(s, "t") == [("user", "hello")]
        second.touch()  # a cancelled command is no failure: the next message runs it again
        out = await s.line("/retry")
        assert "echo: hello" in out and bearer(other.headers[-1]) == "Bearer key-2"
        await s.quit()

    asyncio.run(go())


def test_a_key_command_that_times_out_says_so(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str]) -> None:
    write_config(isolated, command_table("slow", other.url, "sleep 30"))

    async def go() -> None:
        s = await Session(key_timeout=0.2).start("t")
        await s.line("/model slow:m")
        out = await s.line("hello")
        assert out.count("error:") == 1 and "timed out after 0.2 s" in out, out
        assert "TimeoutExpired" not in out and "interrupted" not in out
        assert stored(s, "t") == [("user", "hello")]
        await s.quit()

    asyncio.run(go())


def test_a_missing_key_is_said_as_what_happened(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str]) -> None:
    write_config(isolated, f'[endpoints.unset]\nbase_url = "{other.url}"\n'
                           'api_key_env = "NO_SUCH_KEY_VAR"\n')

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model unset:m")
        out = await s.line("hello")
        assert out.count("error:") == 1 and "NO_SUCH_KEY_VAR is not set" in out, out
        assert "interrupted" not in out
        assert stored(s, "t") == [("user", "hello")]
        await s.quit()

    asyncio.run(go())


# -- item 15: credentials in a base_url ------------------------------------------------------------


def test_credentials_in_a_base_url_are_never_shown(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str]) -> None:
    dead = FakeOpenAI()  # a port nothing answers on
    dead_port = dead.httpd.server_address[1]
    dead.httpd.server_close()
    port = other.httpd.server_address[1]
    write_config(isolated, (
        f'[endpoints.dead]\nbase_url = "http://alice:s3cret-pw@127.0.0.1:{dead_port}/v1"\n'
        f'[endpoints.live]\nbase_url = "http://bob:hunter2%21pw@127.0.0.1:{port}/v1"\n'))

    async def go() -> None:
        s = await Session(retries=0).start("t")
        await s.line("/model dead:m")
        out = await s.line("hello")
        assert "cannot connect to http://***@127.0.0.1" in out, out
        await s.line("/model live:m")
        other.queue(Failure(404, {"error": {"message": "no route here"}}))
        out += await s.line("again")
        assert "not found at http://***@127.0.0.1" in out, out
        for secret in ("alice", "s3cret-pw", "bob", "hunter2", "hunter2!pw"):
            assert secret not in out
        await s.quit()

    asyncio.run(go())


def test_credentials_in_a_base_url_never_reach_the_store(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str]) -> None:
    """What chatrepl learns of an endpoint (its window, what it ignores, its sizes, what it
    refused) is kept in the store under the endpoint's address, never with its password."""
    port = other.httpd.server_address[1]
    write_config(isolated, f'[endpoints.live]\nbase_url = "http://bob:hunter2pw@127.0.0.1:{port}/v1"\n'
                           '[context_sizes]\n"m" = 8000\n')

    async def go() -> None:
        s = await Session(retries=0).start("t")
        await s.line("/model live:m")
        await s.line("hello")
        await s.line("/tokens")
        await s.quit()

    asyncio.run(go())
    data = Path(isolated["XDG_DATA_HOME"]) / "chatrepl"
    written = b"".join(p.read_bytes() for p in data.rglob("*") if p.is_file())
    assert f"@http://127.0.0.1:{port}/v1".encode() in written  # learned of the endpoint
    assert b"hunter2pw" not in written and b"bob" not in written


def test_ctrl_c_while_a_key_command_is_starting_stops_it_at_once(tmp_path: Path) -> None:
    """Cancelled in the instant between the command's start and its pipes' connection (asyncio
    then waits for the pipes, which a child such as ``sleep`` holds open): its whole process
    group is killed and the cancellation is over at once, not when the child ends."""
    from repl.endpoints import run_command

    marker = f"{30 + os.getpid() % 1000 / 1000:.3f}"  # a sleep no other test runs

    async def go() -> float:
        task = asyncio.create_task(run_command(f"sleep {marker}; true"))
        await asyncio.sleep(0)  # the task has spawned the shell and waits for its pipes
        task.cancel()
        started = asyncio.get_running_loop().time()
        with pytest.raises(asyncio.CancelledError):
            await asyncio.wait_for(task, 20)
        return asyncio.get_running_loop().time() - started

    took = asyncio.run(go())
    assert took < 5, took
    left = subprocess.run(["pgrep", "-f", f"sleep {marker}"], capture_output=True, text=True)
    assert left.stdout == "", "the key command's child is still running"
