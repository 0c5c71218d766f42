"""--copy-store between every pair of backends: summaries keep what they cover, the trash travels
still in the trash, and copying again adds nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stores import BACKENDS

from repl.store import ThreadStore
from repl.store.copy import copy_store
from repl.thread import SUMMARY, Message
from repl.thread_settings import ThreadSettings

PAIRS = [(a, b) for a in sorted(BACKENDS) for b in sorted(BACKENDS) if a != b]


@pytest.fixture(params=PAIRS, ids=[f"{a}-to-{b}" for a, b in PAIRS])
def pair(request: pytest.FixtureRequest,
         tmp_path: Path) -> Iterator[tuple[ThreadStore, ThreadStore]]:
    a, b = request.param
    source, target = BACKENDS[a](tmp_path / "from"), BACKENDS[b](tmp_path / "to")
    yield source, target
    source.close()
    target.close()


def _conversation(store: ThreadStore, name: str) -> None:
    store.create(name)
    for i in range(4):
        store.append(name, Message("user" if i % 2 == 0 else "assistant", f"{name} {i}"))


def test_a_summary_covers_the_copy_of_what_it_covered(
        pair: tuple[ThreadStore, ThreadStore]) -> None:
    source, target = pair
    target.create("padding")  # so the target's ids are not the source's
    target.append_many("padding", [Message("user", f"p{i}") for i in range(7)])
    _conversation(source, "t")
    covered = source.messages("t")[2]
    source.append("t", Message(SUMMARY, "the gist", covers=covered.id))
    source.append("t", Message("user", "after the summary"))

    copy_store(source, target)
    copied = target.messages("t")
    assert [m.content for m in copied] == [m.content for m in source.messages("t")]
    summary = next(m for m in copied if m.role == SUMMARY)
    assert summary.covers == copied[2].id is not None


def test_the_trash_is_copied_still_in_the_trash(pair: tuple[ThreadStore, ThreadStore]) -> None:
    source, target = pair
    _conversation(source, "gone")
    _conversation(source, "kept")
    source.update("gone", settings=ThreadSettings.of({"effort": "low"}))
    source.update("kept", settings=ThreadSettings.of({"temperature": 0.5, "preset": "p"}))
    source.delete("gone")

    report = copy_store(source, target)
    assert [(t.name, t.settings.stored()) for t in target.list_threads()] == [
        ("kept", {"temperature": 0.5, "preset": "p"})]
    assert [t.settings.stored() for t in target.trash()] == [{"effort": "low"}]
    assert [t.name for t in target.trash()] == ["gone"]
    assert target.restore("gone") == "gone"
    assert [m.content for m in target.messages("gone")] == [f"gone {i}" for i in range(4)]
    target.delete("gone")
    assert "gone" in report.created

    again = copy_store(source, target)
    assert again.messages == 0 and not again.created
    assert [t.name for t in target.trash()] == ["gone"]


def test_attachments_travel_with_their_bytes(pair: tuple[ThreadStore, ThreadStore]) -> None:
    import base64

    source, target = pair
    raw = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40
    url = "data:image/png;base64," + base64.b64encode(raw).decode()
    parts = ({"type": "text", "text": "look"}, {"type": "image_url", "image_url": {"url": url}})
    source.create("pics")
    source.append("pics", Message("user", "look", parts=parts))
    copy_store(source, target)
    copy_store(source, target)  # again: nothing more
    [sent] = target.expand([m.for_api() for m in target.messages("pics")])
    assert sent["content"] == [dict(p) for p in parts]
    assert len(target.messages("pics")) == 1
