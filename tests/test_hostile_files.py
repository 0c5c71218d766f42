"""Hostile and damaged files in a store or the data dir (a folder synced from elsewhere, a file an
older chatrepl or a person wrote): a thread that cannot be read never stops chatrepl from
starting, a renamed thread leaves no file named after its old name, and no file chatrepl opens
there follows a symbolic link planted in its place."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import stores
from fakeserver import FakeOpenAI, Reply
from harness import Session
from pty_session import Terminal
from stores import BACKENDS

from repl import config as config_mod
from repl.errors import StoreError
from repl.store.blobs import BROKEN
from repl.store.jsonfiles import JSONStore
from repl.thread import PREFIX, Message


def chatrepl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repl", *args], env=env, capture_output=True,
                          text=True, timeout=60, stdin=subprocess.DEVNULL)


def wait_shown(term: Terminal, text: str) -> None:
    """Until ``text`` is on the screen, wrapped or not (a long path wraps anywhere)."""
    term.wait(lambda: "".join(text.split()) in "".join(term.text.split()), repr(text))


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_thread_file(folder: Path, name: str, depth: int = 1_000) -> Path:
    """A thread file with a valid header, then a message whose fields nest ``depth`` deep."""
    head = {"format": 3, "rev": "0" * 16, "name": name, "model": None, "system": None,
            "created_at": 1.0, "updated_at": 1.0, "deleted_at": None}
    line = ('{"role": "user", "content": "hi", "fields": {"x": ' + nested(depth)
            + '}, "created_at": 1.0, "id": 1, "uid": "u1"}')
    path = folder / f"{name}.json"
    path.write_text(json.dumps(head) + "\n" + line + "\n")
    return path


def last_thread(folder: Path, name: str) -> None:
    state = folder / "state.json"
    state.write_text(json.dumps({**json.loads(state.read_text()), "last_thread": name}))


# -- D: a stored thread that cannot be read ----------------------------------------------------


def test_a_damaged_thread_file_never_stops_the_repl_from_starting(
        api_env: dict[str, str], tmp_path: Path) -> None:
    """The audit's reproduction: the thread used last is a file nested 1000 deep; another holds
    just ``garbage{``. The REPL opens (on the default thread, saying why), the files are kept."""
    folder = tmp_path / "js"
    env = {**api_env, "CHATREPL_STORE": f"json://{folder}"}
    assert chatrepl(env, "-t", "good", "hello").returncode == 0
    deep_thread_file(folder, "deep1k")
    (folder / "garbage.json").write_text("garbage{")
    last_thread(folder, "deep1k")
    term = Terminal(env, tmp_path, [])
    term.wait_prompt()
    for said in ("deep1k.json is damaged", "moved to", "opened 'default' instead of 'deep1k'"):
        wait_shown(term, said)
    term.line("/list")
    wait_shown(term, "garbage.json is damaged")
    assert "good" in term.text
    assert term.quit() == 0, term.text
    assert "Traceback" not in term.output
    for name in ("deep1k", "garbage"):
        [aside] = folder.glob(f"{name}.json.damaged-*")
        assert aside.stat().st_size > 0  # kept
    assert not (folder / "deep1k.json").exists()


def test_list_lists_the_readable_threads_and_names_every_damaged_file_in_one_run(
        api_env: dict[str, str], tmp_path: Path) -> None:
    folder = tmp_path / "js"
    env = {**api_env, "CHATREPL_STORE": f"json://{folder}"}
    assert chatrepl(env, "-t", "good", "hello").returncode == 0
    deep_thread_file(folder, "deep1k")
    for name in ("garbage", "more", "again"):
        (folder / f"{name}.json").write_text("garbage{")
    done = chatrepl(env, "--list")
    assert done.returncode == 0, done.stderr
    assert "good" in done.stdout
    for name in ("deep1k", "garbage", "more", "again"):
        assert f"{name}.json is damaged" in done.stderr
        assert len(list(folder.glob(f"{name}.json.damaged-*"))) == 1
    again = chatrepl(env, "--list")
    assert again.returncode == 0 and "good" in again.stdout and again.stderr == ""
    assert chatrepl(env, "--search", "hello").returncode == 0


def plant_unreadable_message(backend: str, base: Path, thread: str) -> None:
    """Make the first message of ``thread`` nest too deeply to be read, as each store keeps it
    (an import of an older chatrepl could store one; a synced folder could hold one)."""
    if backend == "json":
        path = base / "threads" / f"{thread}.json"
        head, first, *rest = path.read_text().splitlines(keepends=True)
        message = json.loads(first)
        deep = json.dumps({**message, "fields": {}}).replace(
            '"fields": {}', '"fields": {"x": ' + nested(1_000) + "}")
        path.write_text("".join([head, deep + "\n", *rest]))
    elif backend == "sqlite":
        with sqlite3.connect(base / "x" / "chatrepl.db") as db:
            db.execute("UPDATE messages SET fields = ? WHERE id = (SELECT min(m.id) FROM "
                       "messages m JOIN threads t ON t.id = m.thread_id WHERE t.name = ?)",
                       (nested(100_000), thread))
        db.close()
    else:
        import redis as redis_client

        client = redis_client.Redis.from_url(stores.redis_url())
        ns = f"test:{base}"
        tid = client.hget(f"{ns}:threads", thread).decode()  # type: ignore[union-attr]
        client.lset(f"{ns}:messages:{tid}", 0, '{"x": ' + nested(100_000) + "}")
        client.close()


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_store_starts_on_a_thread_it_cannot_read_and_the_others_work(
        backend: str, api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path) -> None:
    async def setup() -> None:
        s = await Session(store=BACKENDS[backend](tmp_path)).start("other")
        await s.line("hello")
        await s.line("/switch deep")
        await s.line("hi")
        await s.quit()

    asyncio.run(setup())
    plant_unreadable_message(backend, tmp_path, "deep")

    async def go() -> None:
        s = await Session(store=BACKENDS[backend](tmp_path)).start()  # the one used last
        assert "error: " in s.text
        out = await s.line("/list")
        assert "other" in out
        out = await s.line("/switch other")
        assert "hello" in out
        await s.line("and again")
        assert server.sent_content() == "and again"
        await s.quit()

    asyncio.run(go())


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_a_thread_whose_settings_cannot_be_read_never_hides_the_others(
        backend: str, tmp_path: Path) -> None:
    store = BACKENDS[backend](tmp_path)
    for name in ("deep", "other"):
        store.create(name)
        store.append(name, Message("user", f"in {name}"))
    store.close()
    if backend == "json":
        path = tmp_path / "threads" / "deep.json"
        head, *rest = path.read_text().splitlines(keepends=True)
        head = head.replace('"deleted_at"',
                            '"settings": {"x": ' + nested(1_000) + '}, "deleted_at"')
        path.write_text("".join([head, *rest]))
    elif backend == "sqlite":
        with sqlite3.connect(tmp_path / "x" / "chatrepl.db") as db:
            db.execute("UPDATE threads SET settings = ? WHERE name = 'deep'", (nested(100_000),))
        db.close()
    else:
        import redis as redis_client

        client = redis_client.Redis.from_url(stores.redis_url())
        ns = f"test:{tmp_path}"
        tid = client.hget(f"{ns}:threads", "deep").decode()  # type: ignore[union-attr]
        client.hset(f"{ns}:thread:{tid}", "settings", nested(100_000))
        client.close()
    store = BACKENDS[backend](tmp_path)
    assert "other" in [info.name for info in store.list_threads()]
    store.get("deep")  # a thread, or (a JSON file that is not one, moved aside) none
    assert [m.content for m in store.messages("other")] == ["in other"]
    store.close()


def test_an_erase_keeps_the_attachments_a_damaged_file_set_aside_refers_to(
        tmp_path: Path) -> None:
    """A damaged file is kept, and so are the bytes it names: an erase elsewhere (which reads
    every thread to know which bytes are still used) goes on without it and deletes none."""
    image = Message("user", "look", parts=(
        {"type": "text", "text": "look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGVsbG8gd29ybGQ="}}))
    store = JSONStore(tmp_path / "threads")
    store.create("kept")
    store.append_many("kept", [image])
    store.create("erased")
    [gone] = store.append_many("erased", [image])
    path = tmp_path / "threads" / "kept.json"
    path.write_bytes(path.read_bytes() + b"garbage{\n")
    store.erase("erased", [gone.id or 0])
    assert [line for line in store.take_damage() if "kept.json is damaged" in line]
    [aside] = (tmp_path / "threads").glob("kept.json.damaged-*")
    assert len(list((tmp_path / "threads" / "blobs").iterdir())) == 1
    aside.rename(path.with_name("repaired.json"))  # a person mends the file and puts it back
    repaired = path.with_name("repaired.json")
    repaired.write_bytes(repaired.read_bytes().replace(b"garbage{\n", b"")
                         .replace(b'"name": "kept"', b'"name": "repaired"'))
    [message] = store.messages("repaired")
    assert store.expand([message.for_api()]) == [image.for_api()]
    store.close()


# -- F: a renamed thread's old name --------------------------------------------------------------


def names_in(folder: Path) -> list[str]:
    return [p.name for p in folder.rglob("*")]


def test_an_erased_auto_title_lingers_in_no_file_name(api_env: dict[str, str],
                                                       server: FakeOpenAI, tmp_path: Path) -> None:
    """The audit's reproduction: the title made from the erased turn was left as the name of a
    lock file (``.Titlesecret Banana~….json.lock``) until the next open."""
    folder = tmp_path / "js"
    config = config_mod.load(store=f"json://{folder}")

    async def go() -> None:
        s = await Session(config=config).start("main")
        await s.line("/new")
        server.queue(Reply("noted"), Reply("Titlesecret Banana"))
        await s.line("the banana is secret")
        await s.until(lambda: s.ctx.thread.name == "Titlesecret Banana")
        assert any("Banana" in name for name in names_in(folder))
        await s.line("/erase 1", wait=False)
        await s.wait_prompt()  # the confirmation question
        await s.line("y")
        assert s.ctx.thread.name != "Titlesecret Banana"
        assert not [name for name in names_in(folder) if "banana" in name.lower()]
        await s.quit()

    asyncio.run(go())


def test_a_rename_or_a_delete_leaves_no_lock_file_of_the_old_name(tmp_path: Path) -> None:
    folder = tmp_path / "threads"
    store = JSONStore(folder)
    store.create("old")
    store.append("old", Message("user", "hi"))
    store.rename("old", "new")
    store.append("new", Message("user", "again"))
    assert not [name for name in names_in(folder) if "old" in name]
    store.delete("new")
    assert not [name for name in names_in(folder) if name.startswith(".new")]
    store.close()


# -- symbolic links planted in a store or the data dir (a sync tool carries them) ----------------

SECRET = b"-----BEGIN OPENSSH PRIVATE KEY----- not for anyone's eyes"
SHA = "5e" * 32


def leaked(raw: str | bytes) -> bool:
    data = raw.encode() if isinstance(raw, str) else raw
    return SECRET in data or base64.b64encode(SECRET)[:40] in data


@pytest.fixture
def victim(tmp_path: Path) -> Path:
    """A file of the user's, outside every store, readable by others (0644) as many are."""
    path = tmp_path / "outside" / "id_ed25519"
    path.parent.mkdir()
    path.write_bytes(SECRET)
    path.chmod(0o644)
    return path


def untouched(path: Path) -> bool:
    return path.read_bytes() == SECRET and stat.S_IMODE(path.stat().st_mode) == 0o644


def linked_to(folder: Path, target: Path) -> list[Path]:
    """What in ``folder`` is ``target`` itself (a hard link to it), not a link pointing at it."""
    ino = target.stat().st_ino
    return [p for p in folder.rglob("*") if p.lstat().st_ino == ino]


def blob_message(sha: str = SHA) -> Message:
    ref = f"{PREFIX}{sha}:{len(SECRET)}:0x0:data:image/png;base64,"
    return Message("user", "look", parts=({"type": "text", "text": "look"},
                                          {"type": "image_url", "image_url": {"url": ref}}))


def test_a_blob_that_is_a_link_is_never_read_sent_exported_or_deleted_through(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path, victim: Path) -> None:
    """The audit's reproduction: blobs/<64 hex> links to a secret and a thread line refers to
    it. The message is sent with the note an unresolvable reference gets; nothing is read."""
    folder = tmp_path / "js"
    store = JSONStore(folder)
    store.create("t")
    store.append_many("t", [blob_message(), Message("assistant", "a picture")])
    store.close()
    (folder / "blobs").mkdir(exist_ok=True)
    (folder / "blobs" / SHA).symlink_to(victim)
    config = config_mod.load(store=f"json://{folder}")

    async def go() -> None:
        s = await Session(config=config).start("t")
        await s.line("and now?")
        assert server.sent_messages()[0]["content"][1] == {"type": "text", "text": BROKEN}
        assert not leaked(json.dumps(server.requests[-1]))
        await s.line(f"/export {tmp_path / 'in-repl.json'}")
        await s.line("/erase 1", wait=False)
        await s.wait_prompt()
        await s.line("y")
        await s.quit()

    asyncio.run(go())
    assert not leaked((tmp_path / "in-repl.json").read_bytes())
    assert untouched(victim)


def test_an_export_never_reads_a_blob_through_a_link(api_env: dict[str, str], tmp_path: Path,
                                                     victim: Path) -> None:
    folder = tmp_path / "js"
    store = JSONStore(folder)
    store.create("t")
    store.append_many("t", [blob_message()])
    store.close()
    (folder / "blobs").mkdir(exist_ok=True)
    (folder / "blobs" / SHA).symlink_to(victim)
    env = {**api_env, "CHATREPL_STORE": f"json://{folder}"}
    done = chatrepl(env, "-t", "t", "--export", str(tmp_path / "t.json"))
    assert done.returncode == 0, done.stderr
    assert not leaked((tmp_path / "t.json").read_bytes())
    assert BROKEN in (tmp_path / "t.json").read_text()


@pytest.mark.parametrize("lock", [".lock", ".t.json.lock"])
def test_a_lock_file_that_is_a_link_is_never_opened_through(tmp_path: Path, victim: Path,
                                                            lock: str) -> None:
    folder = tmp_path / "js"
    store = JSONStore(folder)
    store.create("t")
    (folder / lock).unlink(missing_ok=True)
    (folder / lock).symlink_to(victim)
    store.append("t", Message("user", "hi"))
    store.rename("t", "u")
    store.create("t")
    assert [m.content for m in store.messages("u")] == ["hi"]
    assert untouched(victim)
    assert not (folder / lock).is_symlink()
    store.close()
    JSONStore(folder).close()  # the tidying at open, too
    assert untouched(victim)


def test_a_thread_file_or_state_that_is_a_link_is_never_read(tmp_path: Path,
                                                             victim: Path) -> None:
    """Neither one that links to a thread elsewhere (read as if it were this store's) nor one
    that links to any file (moved aside as damaged: never made a hard link to it)."""
    elsewhere = JSONStore(tmp_path / "elsewhere")
    elsewhere.create("theirs")
    elsewhere.append("theirs", Message("user", "their secret plan"))
    elsewhere.close()
    folder = tmp_path / "js"
    store = JSONStore(folder)
    store.create("mine")
    (folder / "theirs.json").symlink_to(tmp_path / "elsewhere" / "theirs.json")
    (folder / "key.json").symlink_to(victim)
    (folder / "state.json").unlink(missing_ok=True)
    (folder / "state.json").symlink_to(victim)
    assert [info.name for info in store.list_threads()] == ["mine"]
    assert store.get("theirs") is None and store.get_state("last_thread") is None
    said = " ".join(store.take_damage())
    for name in ("theirs.json", "key.json", "state.json"):
        assert f"{folder / name} is damaged (it is a symbolic link" in said
    assert untouched(victim) and not linked_to(folder, victim)
    assert [m.content for m in JSONStore(tmp_path / "elsewhere").messages("theirs")] == [
        "their secret plan"]
    assert not leaked(b"".join(p.read_bytes() for p in folder.rglob("*")
                               if p.is_file() and not p.is_symlink()))
    store.set_state("last_thread", "mine")
    assert store.get_state("last_thread") == "mine" and untouched(victim)
    store.close()


def test_a_blobs_or_trash_folder_that_is_a_link_is_never_written_or_deleted_through(
        tmp_path: Path, victim: Path) -> None:
    folder = tmp_path / "js"
    store = JSONStore(folder)
    store.create("t")
    [message] = store.append_many("t", [blob_message()])
    store.create("gone")
    outside = victim.parent
    (outside / SHA).write_bytes(SECRET)
    (outside / "a.deleted-1.json").write_bytes(SECRET)
    outside.chmod(0o755)
    (folder / "blobs").symlink_to(outside)
    (folder / "trash").symlink_to(outside)
    before = sorted(p.name for p in outside.iterdir())
    assert store.expand([message.for_api()])[0]["content"][1] == {"type": "text",
                                                                  "text": BROKEN}
    with pytest.raises(StoreError, match="symbolic link"):
        store.append("t", Message("user", "x", parts=(
            {"type": "image_url", "image_url": {"url": "data:image/png;base64,aGk="}},)))
    with pytest.raises(StoreError, match="symbolic link"):
        store.delete("gone")
    with pytest.raises(StoreError, match="symbolic link"):
        store.trash()
    with pytest.raises(StoreError, match="symbolic link"):
        store.erase("t", [message.id or 0])
    store.close()
    JSONStore(folder).close()  # the tidying at open (and an erase to finish) too
    assert sorted(p.name for p in outside.iterdir()) == before
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755 and untouched(victim)
    assert (outside / SHA).read_bytes() == SECRET


@pytest.mark.parametrize("name", ["chatrepl.db", "chatrepl.db-wal", "chatrepl.db-shm",
                                  "chatrepl.db-journal"])
def test_the_sqlite_store_never_opens_its_files_through_a_link(tmp_path: Path, victim: Path,
                                                               name: str) -> None:
    from repl.store.sqlite import SQLiteStore

    folder = tmp_path / "data"
    if name != "chatrepl.db":
        SQLiteStore(folder / "chatrepl.db").close()
    folder.mkdir(exist_ok=True)
    (folder / name).symlink_to(victim)
    with pytest.raises(StoreError, match=f"{name} is a symbolic link"):
        SQLiteStore(folder / "chatrepl.db")
    assert untouched(victim) and not linked_to(folder, victim)


def test_input_history_and_log_that_are_links_are_never_written_through(
        api_env: dict[str, str], tmp_path: Path, data_dir: Path, victim: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "input_history").symlink_to(victim)
    term = Terminal(api_env, tmp_path, ["-t", "t"])
    term.wait_prompt()
    wait_shown(term, "the input history is kept for this run only")
    term.line("hello")
    term.wait_text("echo: hello")
    assert term.quit() == 0, term.text
    assert untouched(victim) and (data_dir / "input_history").is_symlink()


def test_a_bug_logged_never_writes_through_a_link(api_env: dict[str, str], data_dir: Path,
                                                  victim: Path) -> None:
    from repl.commands.registry import COMMANDS, command

    @command("boom")
    async def boom(ctx: object, arg: str) -> None:
        """Fail like a bug would."""
        raise RuntimeError("unexpected state")

    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "chatrepl.log").symlink_to(victim)

    async def go() -> None:
        s = await Session().start()
        out = await s.line("/boom")
        assert out.count("error:") == 1 and "internal error" in out
        assert "chatrepl.log" in out
        out = await s.line("/list")  # still running
        assert "default" in out
        await s.quit()

    try:
        asyncio.run(go())
    finally:
        del COMMANDS["boom"]
    assert untouched(victim)


def test_a_pasted_folder_that_is_a_link_is_never_written_or_pruned_through(
        api_env: dict[str, str], tmp_path: Path, data_dir: Path, victim: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    tools = tmp_path / "bin"
    tools.mkdir()
    (tools / "wl-paste").write_text(f"#!/bin/sh\nexec {shutil.which('cat')} {tools}/x.png\n")
    (tools / "wl-paste").chmod(0o755)
    (tools / "x.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(64))
    monkeypatch.setenv("PATH", str(tools))
    outside = victim.parent
    old = outside / "clipboard-20000101-000000.png"
    old.write_bytes(b"an old file of the user's")
    os.utime(old, (0, 0))
    outside.chmod(0o755)
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "pasted").symlink_to(outside)

    async def go() -> None:
        s = await Session().start()
        out = await s.line("/paste")
        assert out.count("error:") == 1 and "symbolic link" in out
        assert not s.ctx.staged
        await s.quit()

    asyncio.run(go())
    assert old.exists() and sorted(p.name for p in outside.iterdir()) == [
        "clipboard-20000101-000000.png", "id_ed25519"]
    assert stat.S_IMODE(outside.stat().st_mode) == 0o755 and untouched(victim)


def test_a_data_dir_under_a_linked_folder_works(api_env: dict[str, str], tmp_path: Path,
                                                isolated: dict[str, str]) -> None:
    """Only what is planted inside is refused: a home (or data dir) reached through a link,
    as many are, is used as always."""
    real = tmp_path / "real-data"
    real.mkdir()
    linked = tmp_path / "linked-data"
    linked.symlink_to(real)
    env = {**api_env, "XDG_DATA_HOME": str(linked)}
    assert chatrepl(env, "-t", "t", "hello").returncode == 0
    json_env = {**env, "CHATREPL_STORE": f"json://{linked / 'js'}"}
    assert chatrepl(json_env, "-t", "t", "hello").returncode == 0
    for e in (env, json_env):
        done = chatrepl(e, "--list")
        assert done.returncode == 0 and "t " in done.stdout and done.stderr == ""
    assert (real / "chatrepl" / "chatrepl.db").is_file() and (real / "js" / "t.json").is_file()


def test_an_mcp_log_that_is_a_link_is_never_written_through(
        api_env: dict[str, str], isolated: dict[str, str], data_dir: Path,
        victim: Path) -> None:
    from harness import write_config

    from repl.services import start_tools
    from repl.tools.toolbox import STARTING, Toolbox

    servers = Path(__file__).parent / "mcp_servers"
    command = json.dumps([sys.executable, str(servers / "calc.py"), str(victim) + ".mark"])
    write_config(isolated, f"[mcp.servers.calc]\ncommand = {command}\n")
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "mcp.log").symlink_to(victim)

    async def go() -> None:
        s = Session()
        box = Toolbox(s.config.mcp, timeout=s.config.tool_timeout,
                      log_path=s.config.mcp_log_path)
        s.given(tools=box)
        start_tools(s.ctx)
        await s.start("t")
        await s.until(lambda: all(v.state != STARTING for v in box.servers.values()), 30)
        await s.until(lambda: "MCP server calc could not start" in s.text)
        assert "symbolic link" in s.text
        await s.quit()
        await box.aclose()

    asyncio.run(go())
    assert untouched(victim)
