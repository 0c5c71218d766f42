"""The conversation as a tree (pure): each message follows its parent, a message's versions are
the other messages of its role that follow the same one, and a version carries what follows it.

The conversation is the one path of visible messages (in id order); everything else hangs off it
as hidden branches, each hidden in one step with one reason (``reason:ROOT-ID``), which is how a
branch is found again whole. Messages stored before chatrepl kept parents get one derived from
the order and from why they were hidden (``parents``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from repl.thread import ROOT, UNDONE_EDIT, Message, hidden_for


def parents(messages: Iterable[Message]) -> dict[int, int]:
    """The id of the message each one follows, by id, for a thread's messages (hidden too, in
    id order). A message without a stored parent follows the visible message before it; hidden,
    the one before it in its group, or the one it is a version of follows (an answer after a
    finished answer, a question an undone /edit replaced)."""
    found: dict[int, int] = {}
    visible, previous, question = ROOT, None, None
    for m in messages:
        mid = m.id or 0
        if m.parent is not None:
            found[mid] = m.parent
        elif m.hidden is None:
            found[mid] = visible
        elif previous is None:
            found[mid] = ROOT
        elif m.role == "user" and hidden_for(m.hidden, UNDONE_EDIT) and question is not None:
            found[mid] = found[question.id or 0]
        elif m.role == "user":
            found[mid] = (previous.id or 0) if previous.hidden == m.hidden else visible
        elif m.role == previous.role == "assistant" and not previous.fields.get("tool_calls"):
            found[mid] = found[previous.id or 0]  # another answer to the same question
        else:
            found[mid] = previous.id or 0
        if m.hidden is None:
            visible = mid
        if m.role == "user":
            question = m
        previous = m
    return found


@dataclass(frozen=True, slots=True)
class Tree:
    """A thread's messages (hidden too) with who follows whom."""

    messages: list[Message]
    parent: dict[int, int]
    children: dict[int, list[Message]]
    by_id: dict[int, Message]

    @classmethod
    def of(cls, messages: list[Message]) -> Tree:
        parent = parents(messages)
        children: dict[int, list[Message]] = {}
        for m in messages:
            children.setdefault(parent[m.id or 0], []).append(m)
        return cls(messages, parent, children, {m.id or 0: m for m in messages})

    @property
    def visible(self) -> list[Message]:
        return [m for m in self.messages if m.hidden is None]

    def versions(self, m: Message) -> list[Message]:
        """``m`` and its other versions, oldest first: what follows the same message with the
        same role."""
        return [s for s in self.children.get(self.parent.get(m.id or 0, ROOT), [])
                if s.role == m.role]

    def mark(self, m: Message) -> str:
        """``‹2/3›`` for a question or an answer that has other versions; else ""."""
        if not self.versioned(m):
            return ""
        versions = self.versions(m)
        if len(versions) < 2:
            return ""
        return f"‹{versions.index(m) + 1}/{len(versions)}›"

    def versioned(self, m: Message) -> bool:
        """A question, or an answer (an assistant message right after its question)."""
        if m.role == "user":
            return True
        above = self.by_id.get(self.parent.get(m.id or 0, ROOT))
        return m.role == "assistant" and above is not None and above.role == "user"

    def marks(self, shown: Iterable[Message]) -> dict[int, str]:
        """The marks of the ``shown`` messages that have one, by id."""
        return {m.id or 0: mark for m in shown if (mark := self.mark(m))}

    def branch(self, root: Message) -> list[Message]:
        """What comes back with ``root`` when it is chosen: it and, child by child, the one
        hidden with it (its reason; the newest if several), in id order."""
        found, node = [root], root
        while True:
            same = [c for c in self.children.get(node.id or 0, [])
                    if c.hidden is not None and c.hidden == root.hidden]
            if not same:
                return found
            node = same[-1]
            found.append(node)

    def after(self, m: Message) -> list[Message]:
        """``m`` and the visible messages that follow it (a version and what it carries)."""
        return [v for v in self.visible if (v.id or 0) >= (m.id or 0)]

    def shown_version(self, m: Message) -> Message | None:
        """The version of ``m`` in the conversation now, if any."""
        return next((v for v in self.versions(m) if v.hidden is None), None)


def tag(reason: str, root: Message) -> str:
    """The reason a branch rooted at ``root`` is hidden for: one of its own (``reason:ID``), so
    that choosing it again brings back exactly what was hidden with it."""
    return f"{reason}:{root.id}"
