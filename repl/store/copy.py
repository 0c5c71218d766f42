"""Copy every thread from one store to another (say, local SQLite to a shared Redis), the trash
included (still in the trash).

Idempotent: a thread the target already has is only extended with the messages it lacks, if it
holds the start of the same conversation; one that differs is left alone and reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from repl.store import ThreadStore
from repl.thread import ROOT, Message, Part, ThreadInfo, free_name


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
        _copy_thread(source, target, info, report)
    _copy_trash(source, target, report)
    last = source.get_state("last_thread")
    if last and target.get_state("last_thread") is None:
        target.set_state("last_thread", last)
    return report


def _copy_thread(source: ThreadStore, target: ThreadStore, info: ThreadInfo,
                 report: CopyReport) -> None:
    messages = source.messages(info.name, hidden=True)
    if target.get(info.name) is None:
        target.create(info.name, model=info.model, system=info.system)
        if info.settings.stored():
            target.update(info.name, settings=info.settings)
        have: list[Message] = []
        report.created.append(info.name)
    else:
        have = target.messages(info.name, hidden=True)
        if [_key(m) for m in have] != [_key(m) for m in messages[: len(have)]]:
            report.conflicts.append(info.name)
            return
        if len(have) == len(messages):
            report.unchanged.append(info.name)
            return
        report.extended.append(info.name)
    report.messages += _append(source, target, info.name, messages, have)


def _copy_trash(source: ThreadStore, target: ThreadStore, report: CopyReport) -> None:
    """Each deleted thread the target's trash lacks is created there, filled, and deleted (under
    a suffixed name if a live thread of the target has its name)."""
    there = {_trash_key(info, messages) for info, messages in target.trashed_threads()}
    for info, messages in reversed(source.trashed_threads()):  # oldest deleted first
        if _trash_key(info, messages) in there:
            report.unchanged.append(info.name)
            continue
        name = free_name(info.name, lambda n: target.get(n) is not None)
        target.create(name, model=info.model, system=info.system)
        if info.settings.stored():
            target.update(name, settings=info.settings)
        report.messages += _append(source, target, name, messages, [])
        target.delete(name)
        report.created.append(info.name)


def _trash_key(info: ThreadInfo, messages: list[Message]) -> tuple[object, ...]:
    return info.name, *(_key(m) for m in messages)


def _append(source: ThreadStore, target: ThreadStore, name: str, messages: list[Message],
            have: list[Message]) -> int:
    """Append what ``have`` lacks of ``messages``; how many. A summary's ``covers`` and a
    message's ``parent`` name the id the message they point to got in the target, so that one
    is written before; attachments go with their bytes (the source's references mean nothing
    to the target)."""
    ids: dict[int | None, int | None] = {m.id: h.id for m, h in zip(messages, have,
                                                                   strict=False)}
    ids[ROOT] = ROOT
    missing = messages[len(have):]
    start = 0
    for i in range(len(missing) + 1):
        known = i < len(missing) and all(k is None or k in ids
                                         for k in (missing[i].covers, missing[i].parent))
        if i < len(missing) and (known or i == start):
            continue
        chunk = missing[start:i]
        stored = target.append_many(name, [replace(m, id=None, covers=ids.get(m.covers),
                                                   parent=ids.get(m.parent),
                                                   parts=_with_bytes(source, m))
                                           for m in chunk])
        ids.update(zip((m.id for m in chunk), (s.id for s in stored), strict=True))
        start = i
    return len(missing)


def _with_bytes(source: ThreadStore, message: Message) -> tuple[Part, ...] | None:
    """``message``'s parts with the attachment bytes ``source`` keeps put back in."""
    if message.parts is None:
        return None
    [expanded] = source.expand([{"role": message.role, "content": list(message.parts)}])
    return tuple(expanded["content"])
