"""What to send: the conversation fitted into the model's context window, decided at send time.

Stored history is never changed to make it fit. Token counts are estimated (about four characters
a token), then scaled by what the server counted: its ``prompt_tokens`` over the estimate of
exactly the messages a request sent, weighed by the request's size. A window a server states in a
context error is learned too, and, where it states none, the one a shrunk request fitted. Both
are kept per model (``Fit``, in the store's state), so the next request fits the first time, in
any thread and after a restart.
"""

from __future__ import annotations

import base64
import bisect
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from itertools import pairwise
from typing import Any, Protocol

from repl.errors import StoreError
from repl.parts import attachment
from repl.redaction import where
from repl.store.blobs import image_size
from repl.thread import SUMMARY, TEXT_PARTS, Message, parse_ref

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
SCALES = (0.25, 4.0)  # a server's count over our estimate stays in this range (tokenizers vary)


def context_size(model: str, overrides: dict[str, int] | None = None) -> int | None:
    """The context window of ``model``, by the longest known prefix (provider prefixes such
    as ``openai/`` are ignored); None when unknown."""
    return match(model, {**CONTEXT_SIZES, **(overrides or {})})


def match(model: str, sizes: Mapping[str, int]) -> int | None:
    """The size of the longest prefix of ``model`` (or of its name after a ``/``) in ``sizes``."""
    name = model.lower().rsplit("/", 1)[-1]
    for candidate in (model.lower(), name):
        match = max((p for p in sizes if candidate.startswith(p.lower())), key=len, default=None)
        if match:
            return sizes[match]
    return None


def estimate(message: Mapping[str, Any]) -> int:
    """Our guess of a message's tokens, before calibration: its text and other keys (tool
    calls) at four characters a token, and what its attachments cost."""
    return estimate_of(*counts(message))


def estimate_of(chars: int, parts: int) -> int:
    """The estimate of a message of ``chars`` characters and parts (images, files) worth
    ``parts`` tokens."""
    return chars // 4 + parts + MESSAGE_OVERHEAD


def counts(message: Mapping[str, Any]) -> tuple[int, int]:
    """(characters, tokens of its other parts) of a message, as ``estimate`` counts them."""
    content = message.get("content")
    chars = len(content) if isinstance(content, str) else 0
    parts = 0
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, Mapping):
            continue
        if part.get("type") in TEXT_PARTS:
            chars += len(part.get("text") or "")
        else:
            parts += part_tokens(part)
    extra = {k: v for k, v in message.items() if k not in ("role", "content")}
    chars += len(json.dumps(extra, default=str)) if extra else 0
    return chars, parts


FLAT_IMAGE = 765  # an image of unknown size: what OpenAI counts for 1024x1024 at high detail
LOW_DETAIL = 85


def part_tokens(part: Mapping[str, Any]) -> int:
    """What a part that is not text costs: an image by OpenAI's tile formula when its size is
    known (from its reference, or the header of its bytes), else FLAT_IMAGE; a file or audio
    by its size."""
    found = attachment(part)
    inner = part.get(str(part.get("type")))
    if part.get("type") == "image_url" and isinstance(inner, Mapping):
        if inner.get("detail") == "low":
            return LOW_DETAIL
        return image_tokens(*_dimensions(inner.get("url")))
    size = found.size if found and found.size is not None else 4_000
    return size // (3_200 if part.get("type") == "input_audio" else 8)  # ~10 tokens a second


def image_tokens(width: int, height: int) -> int:
    """OpenAI's high-detail count: fit in 2048x2048, shortest side down to 768, then 170 a
    512-pixel tile plus 85."""
    if width <= 0 or height <= 0:
        return FLAT_IMAGE
    scale = min(1.0, 2048 / max(width, height))
    w, h = width * scale, height * scale
    scale = min(1.0, 768 / min(w, h))
    w, h = w * scale, h * scale
    return 170 * math.ceil(w / 512) * math.ceil(h / 512) + LOW_DETAIL


def _dimensions(url: object) -> tuple[int, int]:
    ref = parse_ref(url)
    if ref:
        return ref.width, ref.height
    if isinstance(url, str) and url.startswith("data:"):
        head = url.partition(",")[2][:65_536]
        try:
            return image_size(base64.b64decode(head[:len(head) // 4 * 4]))
        except ValueError:
            return 0, 0
    return 0, 0


def answer_room(limit: int | None) -> int:
    """Room kept for the answer in a window of ``limit`` tokens."""
    return min(4096, limit // 4) if limit else 0


def holding(tokens: int) -> int:
    """The smallest window whose plans are at most ``tokens`` (with answer_room beside them)."""
    limit = tokens + min(4096, math.ceil(tokens / 3))
    while limit - answer_room(limit) > tokens:
        limit -= 1
    return limit


# -- what is known of a model's window --------------------------------------------------------


class State(Protocol):
    """Where a Fit is kept: every store has this small key-value state."""

    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Fit:
    """One model's window as the server showed it: the scale of our estimate to its tokenizer,
    weighed by the size of the requests it was measured on (``weight``: their estimated
    tokens, up to WEIGHT), and the window it stated or that was found by shrinking (``limit``),
    learned while ``configured`` was the known size."""

    scale: float = 1.0
    limit: int | None = None
    configured: int | None = None
    weight: float = 0.0

    def window(self, configured: int | None) -> int | None:
        """The window to fit into: the server's, unless it is larger than ``configured`` or
        was learned under another configured size (editing [context_sizes] starts afresh)."""
        if self.limit is None or self.configured != configured:
            return configured
        return min(self.limit, configured) if configured else self.limit

    @property
    def measured_ever(self) -> bool:
        """Whether a server ever counted a request for this model (else all is estimated)."""
        return self.weight > 0

    def measured(self, sent: Sequence[Mapping[str, Any]], tokens: int) -> Fit:
        """The server counted ``tokens`` for exactly the messages ``sent``: the scale moves
        towards its ratio by the request's share of what was measured so far, so that a tiny
        request (a "Hi." whose chat template outweighs it) cannot swing a good estimate."""
        guessed = sum(map(estimate, sent))
        if not guessed or tokens <= 0:
            return self
        scale = (self.scale * self.weight + tokens) / (self.weight + guessed)
        return replace(self, scale=_scale(scale), weight=min(self.weight + guessed, WEIGHT))

    def refused(self, sent: Sequence[Mapping[str, Any]], configured: int | None, *,
                limit: int | None = None, prompt: int | None = None) -> Fit:
        """The server refused ``sent`` as too long, stating the window ``limit`` and the size
        ``prompt`` it counted, where it did: either way the window is smaller than what was
        refused."""
        fit = self.measured(sent, prompt) if prompt else self
        refused = round(sum(map(estimate, sent)) * fit.scale)
        known = fit.window(configured)
        smallest = min((n for n in (limit, refused, known) if n), default=None)
        return replace(fit, limit=smallest, configured=configured)


WEIGHT = 32_768  # estimated tokens: the most the scale's past is worth against a new request


def state_key(model: str, endpoint: str | None) -> str:
    return f"window:{model}@{where(endpoint)}"


def _reported_key(endpoint: str | None) -> str:
    return f"sizes@{where(endpoint)}"


def save_reported(state: State, endpoint: str | None, sizes: Mapping[str, int]) -> None:
    """The context sizes an endpoint states in its model listing (or /props), kept across runs."""
    try:
        state.set_state(_reported_key(endpoint), json.dumps(dict(sizes)))
    except StoreError:
        pass  # a convenience: the configured or known size is used instead


def reported(state: State, endpoint: str | None, model: str) -> int | None:
    """The size the endpoint stated for ``model``, if it did."""
    try:
        sizes = json.loads(state.get_state(_reported_key(endpoint)) or "{}")
        return _count(sizes.get(model)) if isinstance(sizes, dict) else None
    except (StoreError, ValueError):
        return None


def load(state: State, key: str) -> Fit:
    """The Fit kept under ``key``; a fresh one if none, or if it cannot be read."""
    try:
        data = json.loads(state.get_state(key) or "{}")
        scale = _scale(float(data.get("scale", 1.0)))
        # a scale kept before weights were: as much as a middling request
        weight = float(data.get("weight", 1_000 if scale != 1.0 else 0))
        weight = min(max(weight, 0.0), WEIGHT) if math.isfinite(weight) else 0.0
        return Fit(scale, _count(data.get("limit")), _count(data.get("configured")), weight)
    except (StoreError, ValueError, TypeError, AttributeError):
        return Fit()


def _scale(value: float) -> float:
    return min(max(value, SCALES[0]), SCALES[1]) if math.isfinite(value) else 1.0


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def save(state: State, key: str, fit: Fit) -> None:
    state.set_state(key, json.dumps(asdict(fit)))


# -- what is sent ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    messages: list[dict[str, str]]  # what to send
    dropped: int  # earlier messages left out
    dropped_tokens: int
    tokens: int  # the estimated (calibrated) size of what is sent
    turns_dropped: int = 0  # earlier questions left out, with what answered them
    budget: int | None = None  # what may be sent: the window less the room for the answer

    @property
    def over(self) -> bool:
        """Too long even with every earlier message left out (the server will refuse it)."""
        return self.budget is not None and self.tokens > self.budget


def blank(m: Message) -> bool:
    """An answer with no text and no tool call (stored by chatrepl before it knew better, or
    with reasoning only): no answer, never sent back."""
    return m.role == "assistant" and not m.content.strip() and not m.fields and not m.parts


def _summary_and_tail(history: Sequence[Message]) -> tuple[Message | None, list[Message]]:
    """The thread's last summary, if compacted, and the messages it does not cover, without
    blank answers, nor a question that was never answered and was followed by another (the new
    one takes its place: two user messages in a row are refused by strict chat templates, and
    say one thing twice)."""
    summaries = [m for m in history if m.role == SUMMARY]
    summary = summaries[-1] if summaries else None
    covered = summary.covers if summary and summary.covers is not None else -1
    tail = [m for m in history if m.role != SUMMARY and (m.id is None or m.id > covered)
            and not blank(m)]
    kept = [m for m, after in pairwise(tail)
            if not (m.role == "user" and after.role == "user")]
    return summary, kept + tail[-1:]


def conversation(history: Sequence[Message]) -> list[dict[str, str]]:
    """The messages for the API; if the thread was compacted, its last summary stands in for
    the messages it covers."""
    summary, tail = _summary_and_tail(history)
    return ([summary.sent()] if summary else []) + [m.sent() for m in tail]


def _head(head: list[dict[str, str]], summary: Message | None) -> list[dict[str, str]]:
    """The system prompt and the summary as one system message: some servers refuse a second."""
    if summary is None:
        return head
    note = summary.sent()
    if not head:
        return [note]
    return [{"role": "system", "content": f"{head[0]['content']}\n\n{note['content']}"}, *head[1:]]


@dataclass(frozen=True)
class Sized:
    """A conversation measured once: its first messages (the system prompt, with the summary)
    and the rest, each at its calibrated size, with running sums so that fitting it (again,
    after each key typed) costs no walk over a long thread."""

    first: list[dict[str, str]]
    body: list[dict[str, str]]
    head: int  # tokens of ``first``
    ends: list[int]  # ends[i]: tokens of body[:i]
    users: list[int]  # users[i]: questions among body[:i]
    scale: float


def sized(head: list[dict[str, str]], history: Sequence[Message], *,
          scale: float = 1.0) -> Sized:
    summary, tail = _summary_and_tail(history)
    first = _head(head, summary)
    body = [m.sent() for m in tail]
    ends, users = [0], [0]
    for m in body:
        ends.append(ends[-1] + round(estimate(m) * scale))
        users.append(users[-1] + (m["role"] == "user"))
    return Sized(first, body, round(sum(map(estimate, first)) * scale), ends, users, scale)


def fit(conversation: Sized, *, limit: int | None, reserve: int | None = None,
        last: dict[str, Any] | None = None, last_tokens: int | None = None) -> Plan:
    """Fit the conversation into ``limit`` tokens, leaving ``reserve`` (by default
    ``answer_room(limit)``) for the answer, by leaving out the oldest messages; the last one
    always goes. ``last``: a question after it (``last_tokens``, its calibrated size, if known),
    which takes the place of a question left unanswered at its end."""
    c = conversation
    body = c.body
    n = len(body) - (1 if last is not None and body and body[-1]["role"] == "user" else 0)
    extra = 0 if last is None else (round(estimate(last) * c.scale) if last_tokens is None
                                    else last_tokens)
    count = n + (last is not None)
    total = c.head + c.ends[n] + extra
    dropped, budget = 0, None
    if limit is not None:
        budget = limit - (answer_room(limit) if reserve is None else reserve)
        # the fewest oldest messages whose leaving out brings the rest within the budget
        dropped = min(bisect.bisect_left(c.ends, total - budget, 0, n + 1), max(count - 1, 0))
        # an answer must follow a question: never start with a lone assistant message
        while 0 < dropped < count - 1 and body[dropped]["role"] == "assistant":
            dropped += 1
    left_out = c.ends[dropped]
    sent = [*c.first, *body[dropped:n], *([last] if last is not None else [])]
    return Plan(sent, dropped, left_out, total - left_out, c.users[dropped], budget)


def plan(head: list[dict[str, str]], history: Sequence[Message], *, limit: int | None,
         reserve: int | None = None, scale: float = 1.0) -> Plan:
    """``history`` measured and fitted into ``limit`` (see ``fit``)."""
    return fit(sized(head, history, scale=scale), limit=limit, reserve=reserve)
