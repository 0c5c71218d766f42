"""Pure data: messages, threads and the rules for thread names. No I/O."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from repl.errors import ThreadError
from repl.replay import Replay
from repl.thread_settings import ThreadSettings
from repl.toolcalls import ToolCall, parse_all

MAX_NAME = 64

# Status of an assistant message that did not end normally.
INTERRUPTED = "interrupted"  # the user pressed Ctrl-C or the process was told to stop
ERROR = "error"  # the request failed after some text arrived
TRUNCATED = "truncated"  # the server stopped for length, or the stream ended without a finish

# Why a message was taken out of the conversation (it stays stored, and searchable).
REPLACED = "replaced"  # /retry asked for another answer
UNDONE = "undone"  # /undo took the exchange back (/redo returns it)
EDITED = "edited"  # /edit sent a new version of the question

ROOT = 0  # the parent of a thread's first message (no message has id 0)

SUMMARY = "summary"  # the role of a /compact summary, sent instead of the messages it covers


def new_uid() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int | None = None  # input tokens, cached ones included
    completion_tokens: int | None = None  # output tokens, reasoning ones included
    cached_tokens: int | None = None  # of the input, read from the provider's prompt cache
    reasoning_tokens: int | None = None  # of the output, spent reasoning


Part = Mapping[str, Any]  # one part of a list content, as the API has it: {"type": "text", ...}


@dataclass(frozen=True, slots=True)
class Message:
    role: str  # "user" | "assistant" | "system" | "tool" (or any role a messages array holds)
    content: str  # the text: the string content, or the text of ``parts`` (shown, searched)
    created_at: float = 0.0
    model: str | None = None
    status: str | None = None  # None when complete; else INTERRUPTED, ERROR or TRUNCATED
    usage: Usage = field(default_factory=Usage)
    id: int | None = None
    hidden: str | None = None  # None while part of the conversation; else REPLACED, UNDONE...
    covers: int | None = None  # for a SUMMARY: the id of the last message it stands for
    # made when the message is: a store given the same uid twice (a write whose reply was lost,
    # sent again) keeps the first and adds nothing
    uid: str = field(default_factory=new_uid)
    # the content as a list of parts (text, image_url, input_audio, file, and types chatrepl
    # does not know), kept exactly; None when the content is the string ``content``
    parts: tuple[Part, ...] | None = None
    # every other key of the API's message, kept verbatim: tool_calls, refusal, tool_call_id,
    # name, unknown keys (never role; "content" only when the API's content was neither a
    # string nor a list of parts, such as null); a request sends only what its role takes (sent)
    fields: Mapping[str, Any] = field(default_factory=dict)
    reasoning: str | None = None  # the answer's reasoning text: stored and shown, never sent
    # chatrepl's own record of the exchange, never part of a chat completions message: the
    # Responses API's (``replay``), the names its tool calls were shown by (JSON values only)
    meta: Mapping[str, Any] = field(default_factory=dict)
    # the id of the message this one follows in the thread's tree (repl/tree.py): set by the
    # store on append, to the last message of the conversation then (ROOT for the first);
    # None for a message stored before chatrepl kept it (its place is derived)
    parent: int | None = None

    @property
    def replay(self) -> Replay | None:
        """The answer's Responses API exchange, read from its meta."""
        return Replay.of(self.meta)

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """The answer's tool calls, read from its ``tool_calls`` field (kept verbatim)."""
        return parse_all(self.fields.get("tool_calls"))

    def for_api(self) -> dict[str, Any]:
        if self.role == SUMMARY:
            return {"role": "system",
                    "content": f"Summary of the earlier conversation:\n\n{self.content}"}
        content: object = [{k: v for k, v in p.items() if k != MARK} for p in self.parts] \
            if self.parts is not None else self.content
        # a content that was neither text nor parts (null, say) is kept in fields, verbatim
        return {"role": self.role, "content": content, **self.fields}

    def sent(self) -> dict[str, Any]:
        """The message as a request sends it: ``for_api`` (what an export writes) without the
        keys no API takes for its role, which a file may have brought, never shown (an id, a
        timestamp, a crafted ``parts``); a null content only beside calls, as an answer made of
        tool calls has it (a question's null, from a crafted file, is its text)."""
        message = self.for_api()
        if self.role == SUMMARY:
            return message
        keys = _API_KEYS.get(self.role, frozenset())
        out = {k: v for k, v in message.items() if k in ("role", "content") or k in keys}
        if out["content"] is None and not any(out.get(k) for k in _CALLS):
            out["content"] = self.content
        return out


# The keys a chat completions message takes beside role and content, by role (OpenAI's schema;
# the strict servers refuse any other), and those that may stand in for a content
_API_KEYS = {"system": frozenset({"name"}), "developer": frozenset({"name"}),
             "user": frozenset({"name"}), "function": frozenset({"name"}),
             "assistant": frozenset({"name", "tool_calls", "function_call", "refusal", "audio"}),
             "tool": frozenset({"tool_call_id", "name"})}
_CALLS = ("tool_calls", "function_call", "refusal", "audio")


PREFIX = "chatrepl-blob:"  # a part's attachment, its bytes kept by the store (Ref)
MARK = "chatrepl"  # a part's own record, never sent: the file it was made from (repl/parts.py)


@dataclass(frozen=True, slots=True)
class Ref:
    """Where a part's attachment bytes went: the store keeps them once per SHA-256 (written
    ``chatrepl-blob:<sha256>:<bytes>:<width>x<height>:<header>``, see repl/store/blobs.py)."""

    sha: str
    size: int  # bytes, decoded
    header: str  # what came before the base64 (data:image/png;base64,)
    width: int = 0  # an image's pixels, when its header says; else 0
    height: int = 0

    def __str__(self) -> str:
        return f"{PREFIX}{self.sha}:{self.size}:{self.width}x{self.height}:{self.header}"


# A reference names only the store's own bytes: a SHA-256 in hex, never a path or anything else
# a crafted file could put there (read at import, at every store's read and at deletion).
_REF = re.compile(r"([0-9a-f]{64}):(\d{1,15}):(\d{1,10})x(\d{1,10}):"
                  r"((?:data:[^,\n]{0,300};base64,)?)")


def parse_ref(text: object) -> Ref | None:
    """The reference ``text`` is, or None (also for a string that only looks like one)."""
    if not isinstance(text, str) or not text.startswith(PREFIX):
        return None
    found = _REF.fullmatch(text, len(PREFIX))
    if found is None:
        return None
    sha, size, width, height, header = found.groups()
    return Ref(sha, int(size), header, int(width), int(height))


def is_sha(text: str) -> bool:
    """Whether ``text`` is what a store names bytes by (a SHA-256 in lowercase hex)."""
    return len(text) == 64 and all(c in "0123456789abcdef" for c in text)


ATTACHED = {"image_url": ("image_url", "url", "image"), "file": ("file", "file_data", "file"),
            "input_audio": ("input_audio", "data", "audio")}


def data_slot(part: Part) -> tuple[str, str, str] | None:
    """(key, field, value) of where an attached part holds its data (ATTACHED), if it does."""
    key, field_, _ = ATTACHED.get(str(part.get("type")), ("", "", ""))
    inner = part.get(key) if key else None
    if isinstance(inner, Mapping) and isinstance(inner.get(field_), str):
        return key, field_, inner[field_]
    return None


EDITED_BY_USER = "edited"  # an answer's meta: its text is the user's correction (/edit --answer)

TOOL_NAMES = "tool_names"  # an answer's meta: {name the model called: server.tool shown}


def tool_names(m: Message) -> dict[str, str]:
    """The name each of the answer's calls was shown by (``server.tool``), by the name the
    model called: kept in its meta, so that every view of the call says the same name."""
    names = m.meta.get(TOOL_NAMES)
    if not isinstance(names, Mapping):
        return {}
    return {k: v for k, v in names.items() if isinstance(k, str) and isinstance(v, str)}


def parts_text(parts: list[Any] | tuple[Any, ...]) -> str:
    """The text of a list content: its text parts, joined by blank lines (what is shown,
    searched and estimated; the parts themselves are kept as they are)."""
    return "\n\n".join(p["text"] for p in parts
                        if isinstance(p, Mapping) and p.get("type") in TEXT_PARTS
                        and isinstance(p.get("text"), str) and p["text"])


TEXT_PARTS = ("text", "input_text", "output_text")  # the part types that hold the text


@dataclass(frozen=True, slots=True)
class ThreadInfo:
    name: str
    model: str | None = None
    system: str | None = None
    created_at: float = 0.0
    updated_at: float = 0.0
    message_count: int = 0
    deleted_at: float | None = None  # set while the thread is in the trash
    # the thread's own settings: its endpoint, preset, tools..., and request settings apart
    settings: ThreadSettings = field(default_factory=ThreadSettings)


@dataclass(frozen=True, slots=True)
class Hit:
    """A search result: where it is, and a snippet with the matches between HIGHLIGHT marks."""

    thread: str
    message_id: int
    role: str
    snippet: str
    turn: int  # the number of the user message it belongs to, from 1
    created_at: float
    hidden: str | None = None  # set when the message was taken out of the conversation


HIGHLIGHT = ("\ue000", "\ue001")  # private-use characters: no text from a model contains them


def validate_name(raw: str) -> str:
    """Return the thread name ``raw`` stands for, or raise ThreadError saying why it is refused.

    Names are stored in the database, never used as paths, but they are also typed, completed,
    shown and used as default export file names, so they are kept printable and path-safe."""
    name = unicodedata.normalize("NFC", raw.strip())
    if not name:
        raise ThreadError("a thread name cannot be empty")
    if len(name) > MAX_NAME:
        raise ThreadError(f"a thread name is at most {MAX_NAME} characters")
    if any(unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name):
        raise ThreadError("a thread name cannot contain control or formatting characters")
    if "/" in name or "\\" in name:
        raise ThreadError("a thread name cannot contain / or \\")
    if name.startswith((".", "-")):
        raise ThreadError("a thread name cannot start with '.' or '-'")
    return name


def free_name(base: str, taken: Callable[[str], bool], *, limit: int = MAX_NAME) -> str:
    """``base``, or the first of ``base-2``, ``base-3``… that is not ``taken`` (shortened to stay
    within ``limit`` characters): the one rule for a name that must not collide."""
    name, n = base[:limit], 1
    while taken(name):
        n += 1
        suffix = f"-{n}"
        name = base[: limit - len(suffix)] + suffix
    return name


def restored_name(name: str, taken: Callable[[str], bool]) -> str:
    """The name a thread gets back from the trash: its own, else ``name-restored[-N]``."""
    return name if not taken(name) else free_name(f"{name}-restored", taken)


def hidden_for(hidden: str | None, reason: str) -> bool:
    """Whether a message hidden as ``hidden`` was hidden for ``reason`` (or ``reason:detail``)."""
    return hidden is not None and (hidden == reason or hidden.startswith(reason + ":"))


def last_group(hidden: list[tuple[Message, float | None]], reason: str) -> list[Message]:
    """Of (message, when it was hidden) pairs, the group hidden last for ``reason``, in id order:
    what one /undo (or /retry, /edit) took out together."""
    group = [(m, at or 0.0) for m, at in hidden if hidden_for(m.hidden, reason)]
    if not group:
        return []
    latest = max(at for _, at in group)
    return sorted((m for m, at in group if at == latest), key=lambda m: m.id or 0)


UNDONE_EDIT = f"{UNDONE}:edit"  # an /edit taken back by /undo: a version of the question before


def turn_starts(messages: Sequence[Message]) -> list[int]:
    """Where each turn of a conversation (visible messages) starts: the index of its question.
    Turn N (from 1) is ``messages[starts[N - 1]:starts[N]]``."""
    return [i for i, m in enumerate(messages) if m.role == "user"]


@dataclass(slots=True)
class TurnCounter:
    """The turn (from 1) each message belongs to, fed the thread's messages in id order, hidden
    ones too. A question in the conversation starts a turn; a question taken out (edited,
    undone) belongs, with what follows it, to the turn after (the one that replaced it, or
    would have); answers taken out (retried) belong to their question's turn."""

    turn: int = 0
    ahead: bool = False  # after a question taken out, until the next question

    def see(self, m: Message) -> int:
        return self.step(user=m.role == "user", hidden=m.hidden is not None,
                         version=m.hidden == UNDONE_EDIT)

    def step(self, *, user: bool, hidden: bool, version: bool = False) -> int:
        """``see`` for a store that knows only whether the message is a question, is hidden, and
        is an undone edit (a ``version`` of the question before it)."""
        if user and not hidden:
            self.turn, self.ahead = self.turn + 1, False
        elif user and not version:
            self.ahead = True
        return max(1, self.turn + (1 if self.ahead and hidden else 0))


def turn_messages(messages: list[Message], turn: int) -> list[Message]:
    """Of a thread's messages (hidden included, in id order), those of ``turn``."""
    counter = TurnCounter()
    return [m for m in messages if counter.see(m) == turn]
