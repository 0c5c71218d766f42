"""Endpoints, request settings, presets and self-naming threads, through the App against two
fake OpenAI servers on two ports: where each request goes, with which key, headers and body."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fakeserver import Failure, FakeOpenAI, Reply
from harness import Session, write_config

from repl import config as config_mod
from repl.commands.session import model_names
from repl.completions import request_options

DEFAULT_KEY = "sk-test-secret-key-123"  # conftest's api_env
LOCAL_KEY = "sk-local-key-456"


def local_table(other: FakeOpenAI, extra: str = "") -> str:
    return (f'[endpoints.local]\nbase_url = "{other.url}"\napi_key_env = "LOCAL_KEY"\n'
            f'headers = {{ "X-Title" = "chatrepl-test" }}\n{extra}')


def bearer(headers: dict[str, str]) -> str:
    return {k.lower(): v for k, v in headers.items()}["authorization"]


def test_each_request_goes_to_its_endpoint_with_its_key_and_headers_and_stays(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    write_config(isolated, local_table(other))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("to the default")
        assert len(server.requests) == 1 and not other.requests
        assert bearer(server.headers[0]) == f"Bearer {DEFAULT_KEY}"
        assert "x-title" not in {k.lower() for k in server.headers[0]}
        out = await s.line("/model local:llama3.2:3b")
        assert "local:llama3.2:3b" in out
        await s.line("to the local one")
        assert len(other.requests) == 1 and len(server.requests) == 1
        assert other.requests[0]["model"] == "llama3.2:3b"  # the rest after the first colon
        headers = {k.lower(): v for k, v in other.headers[0].items()}
        assert headers["authorization"] == f"Bearer {LOCAL_KEY}"
        assert headers["x-title"] == "chatrepl-test"
        out = await s.line("/list")
        assert "local:llama3.2:3b" in out
        await s.quit()
        s = await Session().start("t")  # the thread remembers its endpoint
        await s.line("again")
        assert len(other.requests) == 2 and len(server.requests) == 1
        await s.line("/model gpt-4o")  # no endpoint named: a model on the thread's endpoint
        await s.line("still local")
        assert other.requests[-1]["model"] == "gpt-4o" and len(server.requests) == 1
        await s.line("/model default:gpt-4o")
        await s.line("back home")
        assert len(server.requests) == 2
        await s.quit()

    asyncio.run(go())
    data = Path(isolated["XDG_DATA_HOME"]) / "chatrepl"
    for path in data.rglob("*"):
        if path.is_file():
            assert LOCAL_KEY.encode() not in path.read_bytes(), path
            assert DEFAULT_KEY.encode() not in path.read_bytes(), path


def test_a_key_command_runs_once_and_failures_are_one_line(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str],
        tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_config(isolated, (
        f'[endpoints.cmd]\nbase_url = "{other.url}"\n'
        f"api_key_command = \"echo run >> '{runs}'; printf key-from-command\"\n"
        f'[endpoints.broken]\nbase_url = "{other.url}"\napi_key_command = "exit 3"\n'
        f'[endpoints.unset]\nbase_url = "{other.url}"\napi_key_env = "NO_SUCH_KEY_VAR"\n'))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model cmd:m")
        await s.line("one")
        await s.line("two")
        assert [bearer(h) for h in other.headers] == ["Bearer key-from-command"] * 2
        assert runs.read_text().count("run") == 1
        out = await s.line("/model broken:m")
        out = await s.line("three")
        assert out.count("error:") == 1 and "endpoint 'broken'" in out
        assert "api_key_command failed (exit status 3)" in out
        await s.line("/model unset:m")
        out = await s.line("four")
        assert "endpoint 'unset'" in out and "NO_SUCH_KEY_VAR is not set" in out
        out = await s.line("/model nowhere:m")  # not an endpoint: the model of that name
        assert "error" not in out
        assert len(other.requests) == 2
        await s.quit()

    asyncio.run(go())


def test_an_endpoint_the_thread_used_that_is_gone_is_one_line(
        api_env: dict[str, str], other: FakeOpenAI, isolated: dict[str, str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    path = write_config(isolated, local_table(other))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model local:m")
        await s.quit()
        path.write_text("")
        s = await Session().start("t")
        out = await s.line("hello")
        assert out.count("error:") == 1 and "no endpoint named 'local'" in out
        await s.quit()

    asyncio.run(go())


def test_settings_are_sent_show_their_source_and_persist(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("/set temperature 0.3")
        await s.line("/set max_tokens 50")
        await s.line("/set effort low")
        await s.line("/set seed 7")
        out = await s.line("/set temperature 9")
        assert out.count("error:") == 1 and "a number from 0 to 2" in out
        out = await s.line("/set colour blue")
        assert "unknown setting 'colour'" in out
        await s.line("hi")
        body = server.requests[-1]
        assert body["temperature"] == 0.3 and body["max_tokens"] == 50  # not OpenAI's platform
        assert body["reasoning_effort"] == "low" and body["seed"] == 7
        assert "top_p" not in body
        out = await s.line("/set")
        assert "0.3  (thread)" in out and "-  (the server's default)" in out
        await s.quit()
        s = await Session().start("t")
        await s.line("/set seed -")
        await s.line("again")
        body = server.requests[-1]
        assert body["temperature"] == 0.3 and "seed" not in body
        await s.quit()

    asyncio.run(go())


def test_presets_and_run_options_layer_over_the_endpoint(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    write_config(isolated, local_table(other, "top_p = 0.5\ntemperature = 0.1\n") + (
        '[presets.poet]\nsystem = "Answer in verse."\nmodel = "local:bard"\n'
        'temperature = 0.9\ndescription = "rhymes"\n'))

    async def go() -> None:
        s = await Session().start("t", preset="poet")
        await s.line("hello")
        body = other.requests[-1]
        assert body["model"] == "bard" and body["messages"][0] == {
            "role": "system", "content": "Answer in verse."}
        assert body["temperature"] == 0.9 and body["top_p"] == 0.5  # preset, then endpoint
        out = await s.line("/set")
        assert "0.9  (preset poet)" in out and "0.5  (endpoint local)" in out
        out = await s.line("/preset")
        assert "* poet" in out and "rhymes" in out
        await s.line("/set temperature 0.2")  # the thread's own wins
        await s.line("more")
        assert other.requests[-1]["temperature"] == 0.2
        out = await s.line("/preset nope")
        assert out.count("error:") == 1 and "no preset named 'nope'" in out
        await s.quit()
        s = await Session(run_settings={"temperature": 1.5}).start("t")  # -o wins over all
        await s.line("once more")
        assert other.requests[-1]["temperature"] == 1.5 and not server.requests
        await s.line("/preset -")
        await s.line("/set temperature -")
        await s.line("last")
        assert other.requests[-1]["temperature"] == 1.5  # -o, for this run
        await s.quit()

    asyncio.run(go())


def test_max_tokens_is_max_completion_tokens_on_openais_platform(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line("/set max_tokens 10")
        await s.line("hi")
        await s.quit()

    asyncio.run(go())
    assert server.requests[-1]["max_tokens"] == 10  # any other server
    # OpenAI's chat completions (its reasoning models refuse max_tokens); the Responses API's
    # max_output_tokens is asserted in test_responses.py
    assert request_options({"max_tokens": 10}, (), openai=True) == {"max_completion_tokens": 10}
    assert request_options({"max_tokens": 10}, ()) == {"max_tokens": 10}


def test_a_refused_setting_names_it_and_how_to_unset_it(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.queue(Failure(400, {"error": {
        "message": "Unsupported parameter: 'temperature' is not supported with this model.",
        "type": "invalid_request_error", "param": "temperature",
        "code": "unsupported_parameter"}}))

    async def go() -> None:
        s = await Session(retries=0).start("t")
        await s.line("/set temperature 0.5")
        out = await s.line("think hard")
        assert out.count("error:") == 1
        assert "Unsupported parameter: 'temperature'" in out and "/set temperature -" in out
        assert [m.content for m in s.store.messages("t")] == ["think hard"]  # kept
        await s.quit()

    asyncio.run(go())


def test_a_thread_new_made_names_itself_after_its_first_answer(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    server.queue(Reply("Paris has the Louvre."), Reply('"Paris Museums."'))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/new")
        dated = s.ctx.thread.name
        await s.line("what museums are in Paris?")
        await s.until(lambda: s.store.get("Paris Museums") is not None)
        assert s.store.get(dated) is None and s.ctx.thread.name == "Paris Museums"
        await s.until(lambda: f"thread {dated!r} is now 'Paris Museums'" in s.text)
        title_request = server.requests[-1]
        assert "what museums are in Paris?" in title_request["messages"][-1]["content"]
        await s.line("and in Rome?")  # named once only
        assert len(server.requests) == 3
        await s.line("/new mine")  # named by the user: never renamed
        await s.line("hello there")
        assert s.ctx.thread.name == "mine" and len(server.requests) == 4
        server.queue(Reply("Sure."), Failure(400))
        await s.line("/new")
        await s.line("tell me about the tides of the Atlantic ocean please")
        await s.until(lambda: s.ctx.thread.name == "tell me about the tides of")
        await s.quit()

    asyncio.run(go())


def test_auto_title_off_and_a_user_rename_keep_the_name(
        api_env: dict[str, str], server: FakeOpenAI, isolated: dict[str, str]) -> None:
    write_config(isolated, "auto_title = false\n")

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/new")
        dated = s.ctx.thread.name
        await s.line("hello")
        assert len(server.requests) == 1 and s.ctx.thread.name == dated
        await s.quit()

    asyncio.run(go())


def test_models_of_every_endpoint_are_offered_and_sizes_learned(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    dead = FakeOpenAI()  # a port nothing answers on
    dead_url = dead.url
    dead.httpd.server_close()
    write_config(isolated, local_table(other) + (
        f'[endpoints.gone]\nbase_url = "{dead_url}"\nmodels = ["listed-by-hand"]\n'
        '[endpoints.llama]\nbase_url = "' + server.url + '"\n'))
    server.models = [{"id": "served", "object": "model", "owned_by": "llamacpp"}]
    server.props = {"default_generation_settings": {"n_ctx": 4096}}
    other.models = [{"id": "qwen", "object": "model", "max_model_len": 32768},
                    {"id": "router/x", "object": "model", "context_length": 200000}]

    async def go() -> None:
        s = await Session().start("t")
        names = await model_names(s.ctx)
        assert {"served", "local:qwen", "local:router/x", "gone:listed-by-hand"} <= set(names)
        assert any(h.get("X-Title") or h.get("x-title") for p, h in other.gets)
        await s.line("/model local:qwen")
        assert s.ctx.turn().configured == 32768
        await s.line("/model llama:served")
        assert s.ctx.turn().configured == 4096
        await s.quit()
        s = await Session().start("t")  # remembered across runs
        assert s.ctx.turn().configured == 4096
        await s.quit()

    asyncio.run(go())


def test_cli_option_preset_and_bad_values(api_env: dict[str, str], server: FakeOpenAI,
                                          isolated: dict[str, str]) -> None:
    write_config(isolated, '[presets.short]\nsystem = "Be brief."\nmax_tokens = 20\n')

    def chatrepl(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "repl", *args], env=dict(os.environ),
                              capture_output=True, text=True, stdin=subprocess.DEVNULL,
                              timeout=30)

    done = chatrepl("-t", "c", "-p", "short", "-o", "temperature=0.7", "-o", "seed=3", "hi")
    assert done.returncode == 0, done.stderr
    body = server.requests[-1]
    assert body["temperature"] == 0.7 and body["seed"] == 3 and body["max_tokens"] == 20
    assert body["messages"][0] == {"role": "system", "content": "Be brief."}
    done = chatrepl("-o", "temperature=hot", "hi")
    assert done.returncode == 1 and done.stderr.count("\n") == 1
    assert "temperature must be a number from 0 to 2" in done.stderr
    done = chatrepl("-p", "missing", "hi")
    assert done.returncode == 1 and "no preset named 'missing'" in done.stderr


def test_config_tables_are_checked(isolated: dict[str, str]) -> None:
    cases = {
        "[endpoints.x]\napi_key_env = 'K'\n": "endpoints.x needs a base_url",
        "[endpoints.x]\nbase_url = 'u'\ncolour = 1\n": "unknown setting endpoints.x.colour",
        "[presets.p]\ntemperature = 'warm'\n": "temperature must be a number",
        "[endpoints.x]\nbase_url = 'u'\napi = 'soap'\n": "api must be one of",
    }
    for text, said in cases.items():
        write_config(isolated, text)
        with pytest.raises(config_mod.ConfigError, match=said):
            config_mod.load(env={})


def test_a_window_learned_on_one_endpoint_stays_with_it(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    write_config(isolated, local_table(other))
    other.context_limit = 150
    other.context_style = "vllm"
    long = "word " * 60

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model local:m")
        for n in range(3):
            await s.line(f"{n} {long}")
        assert len(other.requests) == 4  # refused once, then sent shorter
        await s.quit()
        s = await Session().start("u")
        await s.line("/model local:m")
        for n in range(3):
            await s.line(f"{n} {long}")
        assert len(other.requests) == 7  # fits the first time, after a restart
        await s.line("/model default:m")
        for n in range(3):
            await s.line(f"{n} {long}")
        assert len(server.requests) == 3 and server.requests[-1]["messages"][0]["content"][0] == "0"
        await s.quit()

    asyncio.run(go())


def test_an_endpoints_api_setting_sends_its_requests_to_the_responses_api(
        api_env: dict[str, str], server: FakeOpenAI, other: FakeOpenAI,
        isolated: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOCAL_KEY", LOCAL_KEY)
    write_config(isolated, local_table(other, 'api = "responses"\n'))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("/model local:gpt-5")
        await s.line("/effort low")
        await s.line("/set max_tokens 50")
        out = await s.line("hello")
        assert "echo: hello" in out
        await s.line("/model default:gpt-4o-mini")
        await s.line("and here")
        await s.quit()

    asyncio.run(go())
    [request] = other.requests
    assert other.paths == ["/v1/responses"] and bearer(other.headers[0]) == f"Bearer {LOCAL_KEY}"
    assert (request["model"], request["reasoning"]["effort"], request["max_output_tokens"],
            request["store"]) == ("gpt-5", "low", 50, False)
    assert server.paths == ["/v1/chat/completions"]  # the default endpoint: chat completions
    assert (server.requests[0]["reasoning_effort"], server.requests[0]["max_tokens"]) == ("low", 50)
