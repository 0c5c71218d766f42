"""The session's endpoints: ``NAME:MODEL`` resolved, one client per endpoint built on first use
(its key from ``api_key_env``, or ``api_key_command`` run once a session; a key is never stored
or logged), and the models each lists, asked concurrently with a short timeout, cached."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Callable, Sequence
from typing import Any

from repl import window
from repl.client import LOCAL_SERVERS, ChatClient, State
from repl.config import DEFAULT_ENDPOINT, Config, Endpoint
from repl.errors import EndpointError
from repl.redaction import scrub, url_secrets

LIST_TIMEOUT = 3.0  # seconds an endpoint has to list its models for completion
KEY_TIMEOUT = 30.0  # seconds api_key_command may take (pass may ask for a passphrase)
RunCommand = Callable[[str], str]  # a shell command line -> its standard output


def run_command(command: str) -> str:
    """The standard output of ``command`` (a shell command line); RuntimeError if it fails."""
    try:
        done = subprocess.run(command, shell=True, capture_output=True, text=True,
                              timeout=KEY_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise RuntimeError(type(e).__name__) from None
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [""])[-1][:120]
        raise RuntimeError(f"exit status {done.returncode}" + (f": {said}" if said else ""))
    return done.stdout.strip()


class Endpoints:
    """The configured endpoints (``default`` is base_url / OPENAI_BASE_URL, OPENAI_API_KEY)."""

    def __init__(self, config: Config, *, retries: int | None = None, backoff: float = 1.0,
                 local_servers: Sequence[tuple[int, str]] = LOCAL_SERVERS,
                 run: RunCommand = run_command, state: State | None = None) -> None:
        self.config = config
        self._state = state  # where clients remember what they learn (a model's API...)
        self.all: dict[str, Endpoint] = dict(config.endpoints) or {
            DEFAULT_ENDPOINT: Endpoint(name=DEFAULT_ENDPOINT, base_url=config.base_url,
                                       api_key=config.api_key)}
        self._retries = config.retries if retries is None else retries
        self._backoff = backoff
        self._local_servers = local_servers
        self._run = run
        self._clients: dict[str, ChatClient] = {}
        self._keys: dict[str, str | None] = {}  # for this session only
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

    def key(self, endpoint: Endpoint) -> str | None:
        """The endpoint's key: from its variable, or its command's output (run once)."""
        if endpoint.name in self._keys:
            return self._keys[endpoint.name]
        where = f"endpoint {endpoint.name!r}"
        if endpoint.key_problem:
            raise EndpointError(f"{where}: {endpoint.key_problem}; set it, or change api_key_env "
                                f"in {self.config.config_file}")
        key = endpoint.api_key
        if endpoint.api_key_command:
            try:
                key = self._run(endpoint.api_key_command)
            except RuntimeError as e:
                raise EndpointError(f"{where}: its api_key_command failed ({e}); fix it in "
                                    f"{self.config.config_file}") from None
            if not key:
                raise EndpointError(f"{where}: its api_key_command printed no key; fix it in "
                                    f"{self.config.config_file}")
        self._keys[endpoint.name] = key
        return key

    def install(self, name: str, client: ChatClient) -> None:
        """Use ``client`` for endpoint ``name`` from now on (one built elsewhere)."""
        self._clients[name] = client

    def client(self, name: str) -> ChatClient:
        """The client of endpoint ``name``, built on first use."""
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
        """Every key known this session, and the credentials of every base URL."""
        found = [k for k in self._keys.values() if k]
        found += [e.api_key for e in self.all.values() if e.api_key]
        return found + [s for e in self.all.values() for s in url_secrets(e.base_url)]

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
        server states in its listing are kept in ``state`` for the window."""
        wanted = list(self.all) if names is None else [n for n in names if n in self.all]
        missing = [name for name in wanted if name not in self._listed]
        found = await asyncio.gather(*(self._list(name, state) for name in missing))
        self._listed.update(zip(missing, found, strict=True))
        return {name: self._listed[name] for name in wanted}

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
