"""Secrets in every escaping, secrets that are not text, secrets in a base_url (its password,
its query), and the advice a connection error gives: through the App and the installed command
against the fake server on 127.0.0.1, and the one primitive (repl/redaction.py) directly."""

from __future__ import annotations

import asyncio
import base64
import binascii
import html
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from urllib.parse import quote

import pytest
from fakeserver import Failure, FakeOpenAI
from harness import Session, write_config
from hypothesis import example, given
from hypothesis import strategies as st

from repl.redaction import HIDDEN, scrub

KEY = 'sk-a"b\\c/d+e=f&g<h'  # every character an escaping changes
NOT_UTF8 = "sk-ENV\udce9KEY"  # $'sk-ENV\xe9KEY' as Python reads it from the environment


@pytest.fixture
def dead_url() -> str:
    """The address of a port nothing listens on."""
    dead = FakeOpenAI()
    url = dead.url
    dead.httpd.server_close()
    return url


def b64(data: str, *, urlsafe: bool = False, pad: bool = True) -> str:
    raw = data.encode()
    text = (base64.urlsafe_b64encode(raw) if urlsafe else base64.b64encode(raw)).decode()
    return text if pad else text.rstrip("=")


def lower_escapes(text: str) -> str:
    return re.sub(r"%[0-9A-F]{2}", lambda m: m[0].lower(), text)


def recovered(text: str, secret: str) -> bool:
    """Whether six bytes of ``secret`` in a row can be read back from a base64 run in ``text``
    (at any of its alignments, standard or urlsafe): what a shown line must never allow."""
    raw = secret.encode(errors="surrogateescape")
    pieces = {raw[i:i + 6] for i in range(max(len(raw) - 5, 1))}
    for run in re.findall(r"[A-Za-z0-9+/_-]{8,}", text):
        run = run.replace("-", "+").replace("_", "/")
        for start in range(4):
            part = run[start:][:(len(run) - start) // 4 * 4]
            try:
                decoded = base64.b64decode(part)
            except (binascii.Error, ValueError):
                continue
            if any(piece in decoded for piece in pieces):
                return True
    return False


# -- C: a key echoed by the server in any escaping --------------------------------------------

ECHOES: dict[str, Callable[[str], str]] = {
    "html": html.escape,
    "html-numeric": lambda k: html.escape(k).replace("&quot;", "&#34;"),
    "percent-lower": lambda k: lower_escapes(quote(k, safe="")),
    "base64": b64,
    "base64-unpadded": lambda k: b64(k, pad=False),
    "base64-urlsafe": lambda k: b64(k, urlsafe=True),
    "base64-urlsafe-unpadded": lambda k: b64(k, urlsafe=True, pad=False),
    "base64-bearer": lambda k: b64(f"Bearer {k}"),
    "base64-bearer-urlsafe-unpadded": lambda k: b64(f"Bearer {k}", urlsafe=True, pad=False),
    "base64-user": lambda k: b64(f"user:{k}"),
    "json-twice": lambda k: json.dumps(json.dumps(k))[1:-1],
}


@pytest.mark.parametrize("escaping", ECHOES)
def test_a_key_echoed_in_any_escaping_is_never_shown(
        api_env: dict[str, str], server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch,
        escaping: str) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    echoed = ECHOES[escaping](KEY)

    async def go() -> None:
        s = await Session(retries=0).start("t")
        server.queue(Failure(401, {"error": {"message": f"unknown key <{echoed}> (chatrepl)"}}))
        out = await s.line("hello")
        assert out.count("error:") == 1 and "refused the API key" in out, out
        assert echoed not in out and HIDDEN in out and "(chatrepl)" in out, out
        assert not recovered(out, KEY), out
        await s.quit()

    asyncio.run(go())


@pytest.mark.parametrize("prefix", ["", "a", "ab", "Bearer ", "user:", "{\"key\": \""])
@pytest.mark.parametrize("suffix", ["", "x", "xy", "\"}"])
def test_a_key_inside_a_longer_base64_is_never_readable(prefix: str, suffix: str) -> None:
    """base64 spells the key three ways, by where it starts in the text encoded."""
    for urlsafe in (False, True):
        for pad in (False, True):
            text = f"got {b64(prefix + KEY + suffix, urlsafe=urlsafe, pad=pad)}, ok"
            shown = scrub(text, [KEY])
            assert not recovered(shown, KEY), (prefix, suffix, urlsafe, pad, shown)
            assert shown.startswith("got ") and shown.endswith(", ok")


# -- B: a secret that is not UTF-8 ---------------------------------------------------------------

SECRETS = st.text(st.one_of(st.characters(exclude_categories=()),
                            st.sampled_from("\udce9\ud800\udfff'\"\\&<>%+/=\n\t é€😀")))


@given(SECRETS, SECRETS)
@example("", "text")
@example(NOT_UTF8, f"x {NOT_UTF8!r} {NOT_UTF8} y")
@example("p\udce9", "http://u:p\udce9@127.0.0.1:1/v1")
def test_redaction_never_raises_and_hides_what_it_can(secret: str, text: str) -> None:
    shown = scrub(f"{text} [{secret}] {text}", [secret])
    if len(secret.strip()) >= 4 and "*" not in secret:
        assert secret not in shown


@pytest.mark.parametrize(("variable", "said", "hint"), [
    ("OPENAI_API_KEY", "cannot be sent as an HTTP header", "(or OPENAI_API_KEY)"),
    ("OPENAI_BASE_URL", "its base_url cannot be used", "; check OPENAI_BASE_URL"),
], ids=["OPENAI_API_KEY", "OPENAI_BASE_URL"])
def test_a_secret_that_is_not_utf8_is_one_configuration_line_on_the_command_line(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path, variable: str,
        said: str, hint: str) -> None:
    value = {"OPENAI_API_KEY": NOT_UTF8,  # passed to the child as the byte \xe9
             "OPENAI_BASE_URL": server.url.replace("//", f"//u:{NOT_UTF8}@")}[variable]
    done = subprocess.run([sys.executable, "-m", "repl", "-t", "t", "hi"],
                          env={**api_env, variable: value}, cwd=tmp_path, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert done.returncode == 1, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("chatrepl: endpoint "), \
        done.stderr
    assert said in done.stderr and hint in done.stderr
    assert "Traceback" not in done.stderr and "interrupted" not in done.stderr
    assert "ENV" not in done.stderr and not server.requests


def not_utf8_key(monkeypatch: pytest.MonkeyPatch, isolated: dict[str, str], url: str) -> str:
    monkeypatch.setenv("OPENAI_API_KEY", NOT_UTF8)
    return "default"


def not_utf8_variable(monkeypatch: pytest.MonkeyPatch, isolated: dict[str, str],
                      url: str) -> str:
    monkeypatch.setenv("LOCAL_KEY", NOT_UTF8)
    write_config(isolated, f'[endpoints.local]\nbase_url = "{url}"\napi_key_env = "LOCAL_KEY"\n')
    return "local"


def not_utf8_password(monkeypatch: pytest.MonkeyPatch, isolated: dict[str, str],
                      url: str) -> str:
    monkeypatch.setenv("OPENAI_BASE_URL", url.replace("//", "//u:ENV\udce9KEY@"))
    return "default"


def not_utf8_path(monkeypatch: pytest.MonkeyPatch, isolated: dict[str, str], url: str) -> str:
    monkeypatch.setenv("OPENAI_BASE_URL", url.replace("/v1", "/ENV\udce9KEY"))
    return "default"


@pytest.mark.parametrize("given_by", [not_utf8_key, not_utf8_variable, not_utf8_password,
                                      not_utf8_path],
                         ids=["OPENAI_API_KEY", "api_key_env", "OPENAI_BASE_URL",
                              "OPENAI_BASE_URL-path"])
def test_a_secret_that_is_not_utf8_is_one_configuration_line_and_the_repl_goes_on(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str],
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        given_by: Callable[[pytest.MonkeyPatch, dict[str, str], str], str]) -> None:
    endpoint = given_by(monkeypatch, isolated, server.url)

    async def go() -> None:
        s = await Session(backoff=0.01).start("t")
        await s.line(f"/model {endpoint}:fake-model")
        out = await s.line("hello")
        assert out.count("error:") == 1 and f"endpoint {endpoint!r}" in out, out
        assert "nothing was sent" in out and "check " in out, out
        assert "internal error" not in out and "retrying" not in out.lower(), out
        assert "ENV" not in out and "\udce9" not in out and not server.requests
        assert "commands" in await s.line("/help")  # the REPL goes on
        await s.quit()

    asyncio.run(go())
    log = Path(isolated["XDG_DATA_HOME"]) / "chatrepl" / "chatrepl.log"
    assert not log.exists() or "ENV" not in log.read_text(errors="replace")


@pytest.mark.parametrize("base_url", ["http://127.0.0.1:1:1/v1", "http://[::1/v1",
                                      "http://h\udce9st/v1"], ids=["port", "ipv6", "host"])
def test_a_base_url_that_is_no_url_is_one_configuration_line(
        api_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, base_url: str) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", base_url)

    async def go() -> None:
        s = await Session(retries=0).start("t")
        out = await s.line("hello")
        assert out.count("error:") == 1 and "endpoint 'default': its base_url cannot be used (" \
            in out and "nothing was sent; check OPENAI_BASE_URL" in out, out
        assert "internal error" not in out and "\udce9" not in out
        await s.quit()

    asyncio.run(go())


# -- H: credentials in a base_url ----------------------------------------------------------------


def test_the_basic_credentials_of_a_base_url_are_never_shown(
        api_env: dict[str, str], server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", server.url.replace("//", "//user15:pa55w0rdXYZ@"))
    basic = "Basic dXNlcjE1OnBhNTV3MHJkWFla"  # what httpx sends for user15:pa55w0rdXYZ

    async def go() -> None:
        s = await Session(retries=0).start("t")
        server.queue(Failure(401, {"error": {"message": f"{basic} is not allowed (chatrepl)"}}))
        out = await s.line("hello")
        assert out.count("error:") == 1 and "is not allowed (chatrepl)" in out, out
        assert "dXNlcjE1OnBhNTV3MHJkWFla" not in out and "pa55w0rdXYZ" not in out, out
        assert not recovered(out, "user15:pa55w0rdXYZ"), out
        await s.quit()

    asyncio.run(go())


def test_a_key_in_a_base_urls_query_is_never_shown(
        api_env: dict[str, str], dead_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{dead_url}?key=QUERYKEYXYZ")

    async def go() -> None:
        s = await Session(retries=0).start("t")
        out = await s.line("hello")
        assert f"cannot connect to {dead_url}?key={HIDDEN} (" in out, out
        assert "QUERYKEYXYZ" not in out
        await s.quit()

    asyncio.run(go())


def test_a_key_in_a_base_urls_query_is_never_echoed(
        api_env: dict[str, str], server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", f"{server.url}?api-key=QUERY%2BKEY==")

    async def go() -> None:
        s = await Session(retries=0).start("t")
        server.queue(Failure(401, {"error": {"message": "QUERY+KEY== is revoked (chatrepl)"}}))
        out = await s.line("hello")
        assert out.count("error:") == 1 and "revoked (chatrepl)" in out, out
        assert "QUERY" not in out, out
        await s.quit()

    asyncio.run(go())


def test_an_address_is_shown_without_its_credentials_or_query_values() -> None:
    from repl.redaction import shown, where

    url = "http://u:p%40ss@127.0.0.1:1/v1?api-key=K&deployment=a=b&bare#part"
    assert shown(url) == f"http://{HIDDEN}@127.0.0.1:1/v1?api-key={HIDDEN}&deployment={HIDDEN}" \
                         f"&{HIDDEN}#part"
    assert where(url) == "http://127.0.0.1:1/v1" and shown(None) == "api.openai.com"


# -- a connection error's advice names where the address came from --------------------------------


def test_a_configured_endpoint_that_cannot_be_reached_names_its_base_url(
        api_env: dict[str, str], isolated: dict[str, str], dead_url: str,
        tmp_path: Path) -> None:
    write_config(isolated, f'retries = 0\n[endpoints.local]\nbase_url = "{dead_url}"\n')

    async def go() -> None:
        s = await Session(retries=0).start("t")
        await s.line("/model local:m")
        out = await s.line("hello")
        assert out.count("error:") == 1 and f"cannot connect to {dead_url}" in out, out
        assert "is the server running? check the base_url of [endpoints.local] in" in out, out
        assert "OPENAI_BASE_URL" not in out
        await s.quit()

    asyncio.run(go())
    done = subprocess.run([sys.executable, "-m", "repl", "-m", "local:m", "hi"], env=api_env,
                          cwd=tmp_path, capture_output=True, text=True, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert "check the base_url of [endpoints.local]" in done.stderr, done.stderr
    assert "OPENAI_BASE_URL" not in done.stderr


def test_an_address_from_openai_base_url_that_cannot_be_reached_names_it(
        api_env: dict[str, str], dead_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", dead_url)

    async def go() -> None:
        s = await Session(retries=0).start("t")
        out = await s.line("hello")
        assert "cannot connect" in out and "is the server running? check OPENAI_BASE_URL" in out
        await s.quit()

    asyncio.run(go())
