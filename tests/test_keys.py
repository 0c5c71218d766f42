"""API keys and credentials (issue 18, items 2, 3 and 15; issue 20, item 8): what a key command
prints, when it runs and how it is stopped, and that no key or URL password is ever on screen,
whatever its escaping. Through the App against real fake servers on 127.0.0.1."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fakeserver import Failure, FakeOpenAI
from harness import Session

REPL = Path(__file__).parent.parent / "repl"


@pytest.fixture
def other() -> Iterator[FakeOpenAI]:
    s = FakeOpenAI().start()
    yield s
    s.stop()


def write_config(isolated: dict[str, str], text: str) -> None:
    path = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


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
