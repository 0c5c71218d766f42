"""The messages as one endpoint and model take them: a content whose parts are all plain text is
one string (llama-cpp-python's chat formats turn a list content into nothing), and, where a
server was seen to ignore them (``Quirks``, kept in the store's state per endpoint and model),
every content a string and the system message folded into the first user message (Gemma's
template has no system role). Stored messages are never changed: this is applied at send time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from repl.errors import StoreError
from repl.parts import attachment
from repl.redaction import where
from repl.thread import parts_text
from repl.window import LOW_DETAIL, estimate


class State(Protocol):
    def get_state(self, key: str) -> str | None: ...

    def set_state(self, key: str, value: str) -> None: ...


@dataclass(frozen=True)
class Quirks:
    """What a server was seen to ignore, and so is sent another way."""

    strings: bool = False  # every list content sent as its text (its attachments named)
    fold_system: bool = False  # the system message sent at the head of the first user message
    warned: bool = False  # the ignored request was said (once, even with nothing to adapt)
    # fold_system set by the endpoint's config (``fold_system = true|false``): never learned
    fixed: bool = False


# models whose chat template has no system role (Gemma's folds it into the first user turn;
# llama.cpp's gemma format drops it): folded from the first request, as their template would
NO_SYSTEM_ROLE = re.compile(r"gemma", re.IGNORECASE)


def state_key(model: str, endpoint: str | None) -> str:
    return f"wire:{model}@{where(endpoint)}"


def load(state: State, key: str, *, model: str = "",
         fold_system: bool | None = None) -> Quirks:
    """What is known of the endpoint and ``model`` under ``key``; ``fold_system``: the
    endpoint's config says whether to fold (None: learned, and at once for NO_SYSTEM_ROLE)."""
    learned = _stored(state, key)
    if fold_system is not None:
        return replace(learned, fold_system=fold_system, fixed=True)
    return replace(learned, fold_system=learned.fold_system
                   or bool(NO_SYSTEM_ROLE.search(model)))


def _stored(state: State, key: str) -> Quirks:
    try:
        data = json.loads(state.get_state(key) or "{}")
        return Quirks(**{k: v is True for k, v in data.items() if k in _SAVED})
    except (StoreError, ValueError, TypeError, AttributeError):
        return Quirks()


_SAVED = ("strings", "fold_system", "warned")


def save(state: State, key: str, quirks: Quirks) -> None:
    try:
        saved = {k: v for k, v in asdict(quirks).items() if k in _SAVED}
        if quirks.fixed:  # the config's choice is not learned; what was learned stays
            saved["fold_system"] = _stored(state, key).fold_system
        state.set_state(key, json.dumps(saved))
    except StoreError:
        pass  # found again on a later answer


# -- shaping ----------------------------------------------------------------------------------


def shape(messages: Sequence[Mapping[str, Any]], quirks: Quirks) -> list[dict[str, Any]]:
    """``messages`` (Message.for_api) as this endpoint and model take them."""
    shaped = [_content(m, every=quirks.strings) for m in messages]
    return _fold(shaped) if quirks.fold_system else shaped


PLAIN = {"type", "text"}  # a text part with any other key (cache_control) is kept as a part


def _content(message: Mapping[str, Any], *, every: bool) -> dict[str, Any]:
    content = message.get("content")
    if not isinstance(content, list):
        return dict(message)
    plain = all(isinstance(p, Mapping) and p.get("type") == "text" and set(p) <= PLAIN
                and isinstance(p.get("text"), str) for p in content)
    if not (plain or every):
        return dict(message)
    return {**message, "content": as_text(content)}


def as_text(parts: Sequence[Any]) -> str:
    """A list content as one string: its text parts, each other part named in brackets (its
    bytes are not sent: the server was seen to ignore list contents)."""
    texts = [parts_text([p]) if _is_text(p) else _named(p) for p in parts]
    return "\n\n".join(t for t in texts if t)


def _is_text(part: object) -> bool:
    return isinstance(part, Mapping) and attachment(part) is None


def _named(part: object) -> str:
    found = attachment(part) if isinstance(part, Mapping) else None
    if found is None:
        return ""
    return f"[{found.name} ({found.media or found.kind}) not sent: this server takes text only]"


def _fold(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The system messages put at the head of the first user message (a server that drops the
    role drops them wherever they are)."""
    head = [m for m in messages if m.get("role") in ("system", "developer")]
    users = [i for i, m in enumerate(messages) if m.get("role") == "user"]
    if not head or not users:
        return messages
    said = "\n\n".join(_text(m.get("content")) for m in head)
    rest = [m for m in messages if m.get("role") not in ("system", "developer")]
    first = next(i for i, m in enumerate(rest) if m.get("role") == "user")
    question = rest[first]
    content = question.get("content")
    if isinstance(content, list):
        folded: object = [{"type": "text", "text": said}, *content]
    else:
        folded = f"{said}\n\n{_text(content)}"
    rest[first] = {**question, "content": folded}
    return rest


def _text(content: object) -> str:
    return as_text(content) if isinstance(content, list) else str(content or "")


# -- noticing what a server ignored -----------------------------------------------------------

FAR_BELOW = 3  # the server counted less than a third of the (calibrated) estimate
MIN_GAP = 48  # tokens: a smaller difference is a tokenizer's, not a dropped message


def _least(message: Mapping[str, Any]) -> int:
    """The fewest tokens ``message`` can be: an image, a file or audio counted as a low-detail
    image (models count them so differently, Gemini an image at 258, that only a floor is
    safe), its text as estimated."""
    content = message.get("content")
    if not isinstance(content, list):
        return estimate(message)
    texts = [p for p in content if _is_text(p)]
    return estimate({**message, "content": texts}) + (len(content) - len(texts)) * LOW_DETAIL


@dataclass(frozen=True)
class Ignored:
    """What a request held that the server may have ignored: its count was far below it."""

    reported: int
    estimated: int  # the least the request held, calibrated
    lists: bool  # list contents (attachments, parts)
    system: bool  # the system message (system prompt, /compact summary)

    def adapted(self, quirks: Quirks) -> Quirks:
        fold = quirks.fold_system if quirks.fixed else quirks.fold_system or self.system
        return replace(quirks, strings=quirks.strings or self.lists, fold_system=fold,
                       warned=True)

    def line(self, model: str, adapted: bool) -> str:
        """One line: the counts, what may have been ignored, and what is done about it."""
        what = " and ".join(w for w, blamed in (
            ("list contents (attachments)", self.lists),
            ("the system message (system prompt, /compact summary)", self.system)) if blamed)
        said = (f"{model} was sent at least {self.estimated:,} tokens but the server counted "
                f"{self.reported:,}: it may have ignored {what or 'part of the request'}")
        if not (what and adapted):
            return said
        how = " and ".join(h for h, done in (("text only", self.lists), (
            "the system message inside the first question", self.system)) if done)
        return f"{said}; chatrepl now sends {how} to this server (/retry asks again)"


def ignored(sent: Sequence[Mapping[str, Any]], reported: int,
            scale: float) -> Ignored | None:
    """What the server may have ignored of ``sent``, if its count ``reported`` is far below
    the calibrated estimate of the least it held: the smallest explanation among what the
    request held (list contents, then the system message, then both), else all of them."""
    sizes = [round(_least(m) * scale) for m in sent]
    total = sum(sizes)
    if reported * FAR_BELOW >= total or total - reported < MIN_GAP:
        return None
    lists = sum(s for m, s in zip(sent, sizes, strict=True) if isinstance(m.get("content"), list))
    system = sum(s for m, s in zip(sent, sizes, strict=True)
                 if m.get("role") in ("system", "developer"))
    for blame_lists, blame_system in ((True, False), (False, True), (True, True)):
        if (blame_lists and not lists) or (blame_system and not system):
            continue
        left = total - (lists if blame_lists else 0) - (system if blame_system else 0)
        if reported * FAR_BELOW >= left:
            return Ignored(reported, total, blame_lists, blame_system)
    return Ignored(reported, total, bool(lists), bool(system))
