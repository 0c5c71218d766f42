"""Local OpenAI-compatible servers worth suggesting when there is no API key to send with."""

from __future__ import annotations

import socket
from collections.abc import Sequence

LOCAL_SERVERS: tuple[tuple[int, str], ...] = ((11434, "Ollama"), (1234, "LM Studio"),
                                              (8080, "llama.cpp"), (8000, "vLLM"))


def find_local_server(ports: Sequence[tuple[int, str]] = LOCAL_SERVERS) -> tuple[int, str] | None:
    for port, label in ports:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.05):
                return port, label
        except OSError:
            continue
    return None


def no_key_message(ports: Sequence[tuple[int, str]]) -> str:
    """What to say when there is neither a key nor a base URL: a local server if one answers."""
    text = "no API key: set OPENAI_API_KEY (or OPENAI_BASE_URL for a local server)"
    found = find_local_server(ports)
    if found:
        port, label = found
        text += (f"; a server answers on localhost:{port} ({label}): "
                 f"OPENAI_BASE_URL=http://localhost:{port}/v1 chatrepl")
    return text
