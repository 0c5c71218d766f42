"""Who follows whom, as every store keeps it, and the tree read from it (repl/tree.py): parents
set on append, forks copying the path, an older store's versions derived."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

from repl.store import ThreadStore
from repl.thread import ROOT, Message
from repl.tree import Tree, parents


def test_each_message_follows_the_last_visible_one_and_forks_copy_the_path(
        store_at: Callable[[], ThreadStore]) -> None:
    store = store_at()
    store.create("t")
    q = store.append("t", Message("user", "q"))
    a = store.append("t", Message("assistant", "a"))
    assert (q.parent, a.parent) == (ROOT, q.id)
    assert a.id is not None
    store.hide("t", [a.id], "replaced:1")
    b = store.append("t", Message("assistant", "b"))  # after the question: a version of a
    assert b.parent == q.id
    again = store_at()  # read back by another process
    assert [(m.content, m.parent) for m in again.messages("t", hidden=True)] == [
        ("q", ROOT), ("a", q.id), ("b", q.id)]
    store.fork("t", "f")
    forked = again.messages("f", hidden=True)
    assert [m.content for m in forked] == ["q", "b"]
    assert [m.parent for m in forked] == [ROOT, forked[0].id]
    store.close()
    again.close()


def test_an_older_sqlite_store_opens_and_its_versions_are_derived(tmp_path: Path) -> None:
    from repl.store.sqlite import SQLiteStore

    path = tmp_path / "x" / "chatrepl.db"
    store = SQLiteStore(path)
    store.create("t")
    for m in (Message("user", "q1"), Message("assistant", "a1"), Message("user", "q2"),
              Message("assistant", "a2")):
        store.append("t", m)
    store.close()
    db = sqlite3.connect(path)  # as chatrepl stored it before parents, a /retry done then
    db.execute("UPDATE messages SET parent = NULL")
    db.execute("UPDATE messages SET hidden = 'replaced', hidden_at = 1 WHERE content = 'a2'")
    db.execute("INSERT INTO messages (thread_id, role, content, created_at, uid)"
               " VALUES (1, 'assistant', 'a2 again', 2, 'u')")
    db.commit()
    db.close()
    store = SQLiteStore(path)
    tree = Tree.of(store.messages("t", hidden=True))
    store.close()
    again = tree.visible[-1]
    assert again.content == "a2 again" and again.parent is None
    assert [m.content for m in tree.versions(again)] == ["a2", "a2 again"]
    assert tree.mark(again) == "‹2/2›"


def test_derived_parents_of_an_undone_edit_and_undone_exchanges() -> None:
    ms = [Message("user", "q1", id=1), Message("assistant", "a1", id=2),
          Message("user", "q2", id=3), Message("assistant", "a2", id=4),
          Message("user", "q2 edited", id=5, hidden="undone:edit"),
          Message("assistant", "a2'", id=6, hidden="undone:edit"),
          Message("user", "q3", id=7, hidden="undone"),
          Message("assistant", "a3", id=8, hidden="undone")]
    assert parents(ms) == {1: ROOT, 2: 1, 3: 2, 4: 3, 5: 2, 6: 5, 7: 4, 8: 7}
