"""The openai SDK's client, built for one endpoint, and the SDK imported ahead of its first use
(in a thread, once the prompt is drawn). A base_url the HTTP library refuses while the client is
built is the endpoint's configuration at fault: one line (repl.apierrors), nothing sent."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from repl.apierrors import refused_url

# What the first request would import: the SDK, its chat resources, anyio's asyncio backend.
SDK_MODULES = ("openai", "openai.resources.chat", "openai.resources.responses",
               "anyio._backends._asyncio")


def import_sdk() -> None:
    for name in SDK_MODULES:
        importlib.import_module(name)


def build(*, api_key: str | None, base_url: str | None, headers: Mapping[str, str],
          timeout: float, endpoint: str) -> Any:
    """The SDK's client: no retries of its own, its timeout behind the caller's deadline;
    BaseUrlRefusedError for a base_url it cannot use."""
    import openai

    try:
        return openai.AsyncOpenAI(
            # Local servers need no key, but the SDK insists on one.
            api_key=api_key or "no-key-needed",
            base_url=base_url,
            max_retries=0, default_headers=dict(headers) or None,
            # the caller's own deadline ends stalls; the SDK's only backs it up
            timeout=openai.Timeout(timeout + 5, connect=min(timeout, 10.0)),
        )
    except Exception as e:
        refused = refused_url(e, endpoint)
        if refused is None:
            raise
        raise refused from None
