"""Copy every thread from one store to another (say, local SQLite to a shared Redis).

Idempotent: a thread the target already has is only extended with the messages it lacks, if it
holds the start of the same conversation; one that differs is left alone and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from repl.store import ThreadStore
from repl.thread import Message


@dataclass
class CopyReport:
    created: list[str] = field(default_factory=list)
    extended: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    messages: int = 0

    def describe(self) -> str:
        text = (f"copied {self.messages} messages: {len(self.created)} threads created, "
                f"{len(self.extended)} extended, {len(self.unchanged)} already there")
        if self.conflicts:
            text += ("; left alone because the target's thread of that name differs: "
                     + ", ".join(repr(n) for n in self.conflicts))
        return text


def _key(m: Message) -> tuple[str, str, float]:
    return m.role, m.content, round(m.created_at, 3)


def copy_store(source: ThreadStore, target: ThreadStore) -> CopyReport:
    report = CopyReport()
    for info in reversed(source.list_threads()):  # oldest first: the target's order follows
        messages = source.messages(info.name, hidden=True)
        existing = target.get(info.name)
        if existing is None:
            target.create(info.name, model=info.model, system=info.system)
            have: list[Message] = []
            report.created.append(info.name)
        else:
            have = target.messages(info.name, hidden=True)
            if [_key(m) for m in have] != [_key(m) for m in messages[: len(have)]]:
                report.conflicts.append(info.name)
                continue
            if len(have) == len(messages):
                report.unchanged.append(info.name)
                continue
            report.extended.append(info.name)
        missing = messages[len(have):]
        target.append_many(info.name, [_without_id(m) for m in missing])
        report.messages += len(missing)
    last = source.get_state("last_thread")
    if last and target.get_state("last_thread") is None:
        target.set_state("last_thread", last)
    return report


def _without_id(m: Message) -> Message:
    return Message(m.role, m.content, m.created_at, m.model, m.status, m.usage, None, m.hidden,
                   None)  # `covers` names source ids: meaningless in the target
