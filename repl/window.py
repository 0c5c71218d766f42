"""What to send: the conversation fitted into the model's context window, decided at send time.

Stored history is never changed to make it fit. Token counts are estimated (about four characters
a token), then calibrated by what the server reported for the previous request: its
``prompt_tokens`` is the true size of that request's messages, so the estimate is scaled by the
ratio, which keeps it right on tokenizers that are not OpenAI's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from repl.thread import SUMMARY, Message

# Context sizes of common models (tokens), by name prefix; config's [context_sizes] adds more.
CONTEXT_SIZES: dict[str, int] = {
    "gpt-4.1": 1_047_576, "gpt-4o": 128_000, "gpt-4-turbo": 128_000, "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385, "gpt-5": 400_000, "o1": 200_000, "o3": 200_000, "o4": 200_000,
    "claude": 200_000, "gemini": 1_048_576, "deepseek": 65_536, "llama3.1": 131_072,
    "llama3.2": 131_072, "llama3.3": 131_072, "llama3": 8_192, "llama-3.1": 131_072,
    "llama-3.3": 131_072, "mistral": 32_768, "mixtral": 32_768, "qwen2.5": 32_768,
    "qwen3": 40_960, "gemma": 8_192, "phi3": 4_096, "phi4": 16_384,
}
MESSAGE_OVERHEAD = 4  # tokens a message costs beyond its text (role, separators)


def context_size(model: str, overrides: dict[str, int] | None = None) -> int | None:
    """The context window of ``model``, by the longest known prefix (provider prefixes such
    as ``openai/`` are ignored); None when unknown."""
    sizes = {**CONTEXT_SIZES, **(overrides or {})}
    name = model.lower().rsplit("/", 1)[-1]
    for candidate in (model.lower(), name):
        match = max((p for p in sizes if candidate.startswith(p.lower())), key=len, default=None)
        if match:
            return sizes[match]
    return None


def estimate(message: dict[str, str]) -> int:
    return len(message["content"]) // 4 + MESSAGE_OVERHEAD


@dataclass(frozen=True)
class Plan:
    messages: list[dict[str, str]]  # what to send
    dropped: int  # earlier messages left out
    dropped_tokens: int
    tokens: int  # the estimated size of what is sent


def calibration(history: Sequence[Message], head: list[dict[str, str]]) -> float:
    """Server-reported over estimated tokens for the last request that reported usage."""
    for i in range(len(history) - 1, 0, -1):
        reported = history[i].usage.prompt_tokens
        if history[i].role == "assistant" and reported:
            sent = head + conversation(history[:i])
            guessed = sum(map(estimate, sent))
            return max(reported / guessed, 0.25) if guessed else 1.0
    return 1.0


def conversation(history: Sequence[Message]) -> list[dict[str, str]]:
    """The messages for the API; if the thread was compacted, its last summary stands in for
    the messages it covers."""
    summaries = [m for m in history if m.role == SUMMARY]
    summary = summaries[-1] if summaries else None
    covered = summary.covers if summary and summary.covers is not None else -1
    tail = [m for m in history if m.role != SUMMARY and (m.id is None or m.id > covered)]
    return ([summary.for_api()] if summary else []) + [m.for_api() for m in tail]


def plan(head: list[dict[str, str]], history: Sequence[Message], *, limit: int | None,
         reserve: int = 0) -> Plan:
    """Fit ``head`` (the system prompt) and the conversation into ``limit`` tokens, leaving
    ``reserve`` for the answer, by leaving out the oldest messages; the last one always goes."""
    body = conversation(history)
    scale = calibration(history, head)
    sizes = [round(estimate(m) * scale) for m in body]
    total = round(sum(estimate(m) for m in head) * scale) + sum(sizes)
    dropped = dropped_tokens = 0
    if limit is not None:
        budget = limit - reserve
        while total > budget and dropped < len(body) - 1:
            total -= sizes[dropped]
            dropped_tokens += sizes[dropped]
            dropped += 1
        # an answer must follow a question: never start with a lone assistant message
        while 0 < dropped < len(body) - 1 and body[dropped]["role"] == "assistant":
            total -= sizes[dropped]
            dropped_tokens += sizes[dropped]
            dropped += 1
    return Plan(head + body[dropped:], dropped, dropped_tokens, total)
