"""The session's endpoints: ``NAME:MODEL`` resolved, one client per endpoint built on first use
(its key from ``api_key_env``, or the first line of ``api_key_command``'s output, run by /bin/sh
off the event loop once a session, when the endpoint first sends; a key is never stored or
logged), and the models each lists, asked concurrently with a short timeout, cached. Listing
never runs a key command: an endpoint whose key is not had yet offers its configured models."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from repl import window
from repl.client import LOCAL_SERVERS, ChatClient, State
from repl.config import DEFAULT_ENDPOINT, Config, Endpoint
from repl.errors import EndpointError
from repl.redaction import header_secrets, scrub, url_secrets

LIST_TIMEOUT = 3.0  # seconds an endpoint has to list its models for completion
KEY_TIMEOUT = 30.0  # seconds api_key_command may take (pass may ask for a passphrase)
# a shell command line, the seconds it may take, the secrets its stderr must not show -> its
# standard output's first line
RunCommand = Callable[[str, float, Sequence[str]], Awaitable[str]]


class KeyCommandError(Exception):
    """What a key command did instead of printing a key, as words that follow "its
    api_key_command" (no key in them)."""


async def run_command(command: str, timeout: float = KEY_TIMEOUT,
                      secrets: Sequence[str] = ()) -> str:
    """The first line of ``command``'s output (run by /bin/sh, stdin closed, in a session of
    its own so that only chatrepl stops it). Cancelled (Ctrl-C) or past ``timeout`` seconds,
    its process group is killed. KeyCommandError says why there is no key; the line of
    stderr it quotes is scrubbed of what the command printed and of ``secrets``."""
    starting = asyncio.ensure_future(asyncio.create_subprocess_exec(
        "/bin/sh", "-c", command, stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        start_new_session=True))
    try:
        # shielded: cancelled while its pipes connect, asyncio would kill the shell alone and
        # wait for the pipes, which its children (``sleep``, a pinentry) hold open
        process = await asyncio.shield(starting)
    except OSError as e:
        raise KeyCommandError(f"could not be started ({e.strerror or e})") from None
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await _stop(await starting)
        raise
    try:
        async with asyncio.timeout(timeout):
            out, err = await process.communicate()
    except TimeoutError:
        raise KeyCommandError(f"timed out after {timeout:g} s") from None
    finally:
        if process.returncode is None:  # cancelled or timed out: it, and whatever it started
            await _stop(process)
    printed = out.decode(errors="replace")
    if process.returncode != 0:
        said = (err.decode(errors="replace").strip().splitlines() or [""])[-1]
        said = scrub(said, [printed, *secrets])[:120]  # each line of it too
        raise KeyCommandError(f"failed (exit status {process.returncode}"
                              + (f": {said})" if said else ")"))
    return (printed.splitlines() or [""])[0].strip()


async def _stop(process: asyncio.subprocess.Process) -> None:
    """Kill ``process``'s group, and wait (2 s at most: the REPL waits) for its reaping."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(2):
            await asyncio.shield(process.wait())


class Endpoints:
    """The configured endpoints (``default`` is base_url / OPENAI_BASE_URL, OPENAI_API_KEY)."""

    def __init__(self, config: Config, *, retries: int | None = None, backoff: float = 1.0,
                 local_servers: Sequence[tuple[int, str]] = LOCAL_SERVERS,
                 run: RunCommand = run_command, key_timeout: float = KEY_TIMEOUT,
                 state: State | None = None) -> None:
        self.config = config
        self._state = state  # where clients remember what they learn (a model's API...)
        self.all: dict[str, Endpoint] = dict(config.endpoints) or {
            DEFAULT_ENDPOINT: Endpoint(name=DEFAULT_ENDPOINT, base_url=config.base_url,
                                       api_key=config.api_key)}
        self._retries = config.retries if retries is None else retries
        self._backoff = backoff
        self._local_servers = local_servers
        self._run = run
        self._key_timeout = key_timeout
        self._clients: dict[str, ChatClient] = {}
        self._keys: dict[str, str] = {}  # had from key commands, for this session only
        self._failed: dict[str, str] = {}  # endpoint -> why its key command gave no key
        self._running = asyncio.Lock()  # one key command at a time (each may ask for a PIN)
        self._listed: dict[str, list[str]] = {}

    @property
    def several(self) -> bool:
        """More than the default endpoint is configured (models are shown as NAME:MODEL)."""
        return len(self.all) > 1

    def get(self, name: str) -> Endpoint:
        found = self.all.get(name)
        if found is None:
            known = ", ".join(self.all)
            raise EndpointError(f"no endpoint named {name!r} (configured: {known}); add an "
                                f"[endpoints.{name}] table with a base_url to "
                                f"{self.config.config_file}")
        return found

    def split(self, spec: str) -> tuple[str | None, str]:
        """(endpoint, model) of ``spec``: a prefix up to the first colon names an endpoint if one
        is configured by that name; otherwise the whole text is a model (``llama3.2:3b``)."""
        head, colon, rest = spec.partition(":")
        if colon and rest and head in self.all:
            return head, rest
        return None, spec

    def ready(self, name: str) -> bool:
        """Endpoint ``name`` can be used without running its key command (run, or none)."""
        endpoint = self.all.get(name)
        return endpoint is not None and (not endpoint.api_key_command or name in self._keys)

    async def open(self, name: str) -> ChatClient:
        """The client of endpoint ``name``, its key had first: a key command runs now if it has
        not yet (off the event loop; Ctrl-C stops it and it runs again next time); a failure is
        kept for the session and not run again."""
        endpoint = self.get(name)
        if endpoint.api_key_command and name not in self._keys:
            async with self._running:
                if name not in self._keys:
                    self._keys[name] = await self._command_key(endpoint)
        return self.client(name)

    async def _command_key(self, endpoint: Endpoint) -> str:
        where, fix = f"endpoint {endpoint.name!r}", f"fix it in {self.config.config_file}"
        if endpoint.name in self._failed:
            raise EndpointError(f"{where}: its api_key_command {self._failed[endpoint.name]} "
                                f"earlier this session (not run again until chatrepl "
                                f"restarts); {fix}")
        assert endpoint.api_key_command
        try:
            key = await self._run(endpoint.api_key_command, self._key_timeout, self.secrets())
        except KeyCommandError as e:
            self._failed[endpoint.name] = str(e)
            raise EndpointError(f"{where}: its api_key_command {e}; {fix}") from None
        if not key:
            self._failed[endpoint.name] = "printed no key on its first line"
            raise EndpointError(f"{where}: its api_key_command printed no key on its first "
                                f"line; {fix}")
        return key

    def key(self, endpoint: Endpoint) -> str | None:
        """The endpoint's key: from its variable, or its command's output (``open`` has it)."""
        where = f"endpoint {endpoint.name!r}"
        if endpoint.key_problem:
            raise EndpointError(f"{where}: {endpoint.key_problem}; set it, or change api_key_env "
                                f"in {self.config.config_file}")
        if endpoint.api_key_command:
            if endpoint.name not in self._keys:
                raise EndpointError(f"{where}: its api_key_command has not been run yet")
            return self._keys[endpoint.name]
        return endpoint.api_key

    def install(self, name: str, client: ChatClient) -> None:
        """Use ``client`` for endpoint ``name`` from now on (one built elsewhere)."""
        self._clients[name] = client

    def client(self, name: str) -> ChatClient:
        """The client of endpoint ``name``, built on first use (``ready``, or ``open`` first)."""
        if name not in self._clients:
            endpoint = self.get(name)
            # the endpoint's own api, else the setting's (CHATREPL_API, api =)
            api = endpoint.api if endpoint.api != "auto" else self.config.api
            self._clients[name] = ChatClient(
                api_key=self.key(endpoint), base_url=endpoint.base_url,
                timeout=self.config.timeout, retries=self._retries, backoff=self._backoff,
                local_servers=self._local_servers, headers=endpoint.headers, api=api,
                server_state=self.config.server_state, state=self._state, endpoint=name)
        return self._clients[name]

    def secrets(self) -> list[str]:
        """Every key known this session, the credentials of every base URL, and the values of
        configured headers named like a credential (Authorization, X-Api-Key...)."""
        found = [*self._keys.values(), *(e.api_key for e in self.all.values() if e.api_key)]
        for endpoint in self.all.values():
            found += header_secrets(endpoint.headers) + url_secrets(endpoint.base_url)
        return found

    def scrub(self, text: str) -> str:
        """``text`` (a line to show or log) without any of the session's secrets."""
        return scrub(text, self.secrets())

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()

    async def listing(self, state: window.State | None = None,
                      names: Sequence[str] | None = None) -> dict[str, list[str]]:
        """Each endpoint's models (its ``models`` when the server lists none), asked at once,
        once a session; one that does not answer in time is skipped. The context sizes a
        server states in its listing are kept in ``state`` for the window. An endpoint whose
        key command has not run is not asked (its ``models`` are offered)."""
        wanted = list(self.all) if names is None else [n for n in names if n in self.all]
        missing = [name for name in wanted if name not in self._listed and self.ready(name)]
        found = await asyncio.gather(*(self._list(name, state) for name in missing))
        self._listed.update(zip(missing, found, strict=True))
        # a key not had yet is not run for: the endpoint's own list, until it has sent
        return {name: self._listed.get(name, list(self.all[name].models)) for name in wanted}

    async def _list(self, name: str, state: window.State | None) -> list[str]:
        endpoint = self.all[name]
        try:
            async with asyncio.timeout(LIST_TIMEOUT):
                sdk = self.client(name).sdk()
                page = await sdk.models.list()
                models = list(page.data)
                sizes = {m.id: size for m in models if (size := _stated_size(m))}
                if any(getattr(m, "owned_by", "") == "llamacpp" for m in models):
                    sizes.update(await _props_size(sdk, endpoint, [m.id for m in models]))
        except Exception:  # completion is a convenience: an endpoint that fails is skipped
            return list(endpoint.models)
        if state is not None and sizes:
            window.save_reported(state, endpoint.base_url, sizes)
        return sorted(m.id for m in models) or list(endpoint.models)


def _stated_size(model: Any) -> int | None:
    """vLLM's max_model_len, OpenRouter's context_length, LM Studio's max_context_length."""
    extra = getattr(model, "model_extra", None) or {}
    for key in ("max_model_len", "context_length", "max_context_length"):
        value = extra.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


async def _props_size(sdk: Any, endpoint: Endpoint, models: list[str]) -> dict[str, int]:
    """llama.cpp's /props: the server's n_ctx, for the model(s) it serves."""
    root = (endpoint.base_url or "").rstrip("/").removesuffix("/v1")
    props = await sdk.get(f"{root}/props", cast_to=object)
    settings = props.get("default_generation_settings", {}) if isinstance(props, dict) else {}
    n_ctx = settings.get("n_ctx") if isinstance(settings, dict) else None
    n_ctx = n_ctx or (props.get("n_ctx") if isinstance(props, dict) else None)
    return {m: n_ctx for m in models} if isinstance(n_ctx, int) and n_ctx > 0 else {}
