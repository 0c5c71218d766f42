"""What only the Redis store promises: processes writing one thread at once, a server that goes
away and comes back, passwords and TLS, and saves that cost the same however long the thread.

The contract every store keeps is in test_store.py. Tests that stop a server start their own.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from stores import redis_url, two_processes_append

from repl.config import load as load_config
from repl.errors import ConfigError, StoreError, UnsavedError
from repl.store import open_backend
from repl.store.buffered import BufferedStore
from repl.store.redis import RedisStore
from repl.store.redis import codec as redis_codec
from repl.store.redis import scripts as redis_scripts
from repl.store.sqlite import SQLiteStore
from repl.thread import HIGHLIGHT, Message

ROOT = Path(__file__).resolve().parent.parent
SECRET = "s3cret-Pa55word"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    """A redis-server of the test's own on a free loopback port, to stop and start again."""

    def __init__(self, workdir: Path, *args: str, tls: tuple[Path, Path] | None = None) -> None:
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed (.ci/run installs it)")
        self.port = _free_port()
        ports = ["--port", str(self.port)]
        if tls:
            cert, key = tls
            ports = ["--port", "0", "--tls-port", str(self.port), "--tls-cert-file", str(cert),
                     "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
                     "--tls-auth-clients", "no"]
        self.argv = [exe, *ports, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                     "--dir", str(workdir), *args]
        self.password = args[args.index("--requirepass") + 1] if "--requirepass" in args else None
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.start()

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        for _ in range(250):
            if self.proc.poll() is not None:
                pytest.skip(f"redis-server would not start: {' '.join(self.argv[1:])}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.1).close()
                return
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start listening")

    def stop(self) -> None:
        """Shut down the way a server going away for maintenance does: data saved to disk (so
        the restart has it), every connection dropped."""
        client = redis.Redis(port=self.port, password=self.password,
                             retry=Retry(NoBackoff(), 0))  # it goes away: no retrying
        client.shutdown(save=True)
        self.proc.wait(timeout=10)

    def kill(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.terminate()
            self.proc.wait(timeout=10)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[Callable[..., Server]]:
    servers: list[Server] = []

    def make(*args: str, tls: tuple[Path, Path] | None = None) -> Server:
        workdir = tmp_path / f"redis-{len(servers)}"
        workdir.mkdir()
        servers.append(Server(workdir, *args, tls=tls))
        return servers[-1]

    yield make
    for server in servers:
        server.kill()


@pytest.fixture
def shared(tmp_path: Path) -> Iterator[Callable[[], RedisStore]]:
    """Stores on the session's redis-server, in a namespace of this test's own."""
    opened: list[RedisStore] = []

    def make() -> RedisStore:
        opened.append(RedisStore(redis_url(), namespace=f"test:{tmp_path}"))
        return opened[-1]

    yield make
    for s in opened:
        s.close()


def _ids_increase(messages: list[Message]) -> bool:
    return all((a.id or 0) < (b.id or 0) for a, b in itertools.pairwise(messages))


# -- several writers ------------------------------------------------------------------------------

@pytest.mark.slow
def test_two_processes_append_to_one_thread_concurrently(tmp_path: Path) -> None:
    assert _ids_increase(two_processes_append("redis", tmp_path)), "list order must be id order"


def test_hiding_while_another_client_appends_loses_nothing(
        shared: Callable[[], RedisStore]) -> None:
    a, b = shared(), shared()
    a.create("t")
    seeds = [a.append("t", Message("user", f"seed{i}")).id or 0 for i in range(20)]
    n = 300

    def writer() -> None:
        for i in range(n):
            b.append("t", Message("assistant", f"w{i}"))

    thread = threading.Thread(target=writer)
    thread.start()
    rounds = 0
    while thread.is_alive() or rounds < 20:  # hide and unhide rewrite items under the writer
        a.hide("t", seeds[::2], "replaced")
        a.unhide("t", seeds[::2])
        rounds += 1
    thread.join()
    a.hide("t", seeds[:5], "undone")
    everything = a.messages("t", hidden=True)
    assert len(everything) == 20 + n
    assert [m.content for m in everything[20:]] == [f"w{i}" for i in range(n)]
    assert _ids_increase(everything)
    visible = a.messages("t")
    info = a.get("t")
    assert info is not None and info.message_count == len(visible) == 15 + n
    assert [m.content for m in a.last_hidden("t", "undone")] == [f"seed{i}" for i in range(5)]
    assert a.last_hidden("t", "replaced") == []


# -- a server that goes away ----------------------------------------------------------------------


def test_lost_server_keeps_the_message_and_saves_it_when_back(
        own_server: Callable[..., Server]) -> None:
    server = own_server()
    store = BufferedStore(RedisStore(server.url, timeout=2))
    store.create("t")
    store.append("t", Message("user", "before"))
    server.stop()
    with pytest.raises(UnsavedError) as lost:
        store.append("t", Message("assistant", "while the server was away"))
    text = str(lost.value)
    assert f"cannot reach the Redis store at 127.0.0.1:{server.port}: Connection refused" in text
    assert "\n" not in text
    assert [m.content for _, m in store.pending] == ["while the server was away"]
    with pytest.raises(StoreError, match=f"127.0.0.1:{server.port}"):
        store.list_threads()  # reads fail as clearly, and at once

    server.start()
    store.append("t", Message("user", "after"))
    assert store.pending == []
    back = store.inner.messages("t")
    assert [m.content for m in back] == ["before", "while the server was away", "after"]
    assert _ids_increase(back)
    info = store.get("t")
    assert info is not None and info.message_count == 3
    store.close()


class LossyProxy:
    """A TCP proxy on 127.0.0.1 in front of a Redis server that, while ``drop`` is set, passes
    every command on and throws the replies away: a write that ran but whose answer was lost."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.drop = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"redis://127.0.0.1:{self.listener.getsockname()[1]}/0"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pump, args=(client, server, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, replies: bool) -> None:
        try:
            while data := source.recv(65536):
                if not (replies and self.drop.is_set()):
                    sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                s.close()

    def close(self) -> None:
        self.listener.close()


def test_an_append_whose_reply_is_lost_is_saved_once(own_server: Callable[..., Server]) -> None:
    proxy = LossyProxy(own_server().port)
    store = BufferedStore(RedisStore(proxy.url, timeout=0.5))
    store.create("t")
    store.append("t", Message("user", "before"))
    proxy.drop.set()
    with pytest.raises(UnsavedError):  # it was written, but the answer never came
        store.append("t", Message("assistant", "the reply to this append is lost"))
    assert len(store.pending) == 1
    proxy.drop.clear()
    store.append("t", Message("user", "after"))  # the kept message is sent again first
    assert store.pending == []
    assert [m.content for m in store.inner.messages("t")] == [
        "before", "the reply to this append is lost", "after"]
    info = store.get("t")
    assert info is not None and info.message_count == 3
    store.close()
    proxy.close()


def test_a_server_that_stops_answering_is_an_error_not_a_hang(
        own_server: Callable[..., Server]) -> None:
    server = own_server()
    store = RedisStore(server.url, timeout=0.5)
    store.create("t")
    os.kill(server.proc.pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match=r"did not answer within 0\.5 s"):
            store.list_threads()
        assert time.monotonic() - started < 5
    finally:
        os.kill(server.proc.pid, signal.SIGCONT)
    assert [t.name for t in store.list_threads()] == ["t"]
    store.close()


def test_no_server_at_open_is_one_clear_line() -> None:
    port = _free_port()
    with pytest.raises(StoreError) as info:
        RedisStore(f"redis://127.0.0.1:{port}/0")
    assert str(info.value) == (f"cannot reach the Redis store at 127.0.0.1:{port}: "
                               "Connection refused")


@pytest.mark.parametrize(("said", "shown"), [
    ("Error 111 connecting to 127.0.0.1:6390. Connection refused.", "Connection refused"),
    ("Error 32 while writing to socket. Broken pipe.", "Broken pipe"),
    ("Error while reading from 10.0.0.1:6379 : (104, 'Connection reset by peer')",
     "Connection reset by peer"),
    ("Connection closed by server.", "Connection closed by server"),
    ("OOM command not allowed when used memory > 'maxmemory'.",
     "OOM command not allowed when used memory > 'maxmemory'"),
    ("line one\nline two", "line one line two"),
])
def test_redis_errors_are_told_in_short(said: str, shown: str) -> None:
    assert redis_codec.error_reason(said) == shown


@pytest.mark.parametrize(("url", "said"), [
    ("redis://127.0.0.1:6379/0?colour=blue", "unknown option 'colour'"),
    ("redis://127.0.0.1:port/0", "Port could not be cast"),
])
def test_a_bad_url_is_a_config_error(url: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        RedisStore(url)


# -- passwords and TLS ----------------------------------------------------------------------------


def _everything_stored(url: str, password: str) -> str:
    client = redis.Redis.from_url(url, password=password, decode_responses=True)
    dump = []
    for key in client.scan_iter("*"):
        kind = client.type(key)
        value = {"string": client.get, "hash": client.hgetall,
                 "list": lambda k: client.lrange(k, 0, -1),
                 "zset": lambda k: client.zrange(k, 0, -1)}[kind](key)
        dump.append(f"{key}={value}")
    client.close()
    return "\n".join(dump)


def test_password_from_the_url_or_the_config(own_server: Callable[..., Server],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    server = own_server("--requirepass", SECRET)
    with_password = f"redis://:{SECRET}@127.0.0.1:{server.port}/0"
    s = RedisStore(with_password)
    s.create("from-url")
    assert SECRET not in repr(vars(s))
    s.close()

    s = RedisStore(server.url, password=SECRET)  # Config.redis_password, from REDIS_PASSWORD
    assert s.get("from-url") is not None
    s.append("from-url", Message("user", "via REDIS_PASSWORD"))
    s.close()

    s = RedisStore(with_password, password="not-this-one")  # the URL's password wins
    assert [m.content for m in s.messages("from-url")] == ["via REDIS_PASSWORD"]
    s.close()
    assert SECRET not in _everything_stored(server.url, SECRET)


def test_the_store_never_reads_the_environment_itself(own_server: Callable[..., Server],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    server = own_server("--requirepass", SECRET)
    monkeypatch.setenv("REDIS_PASSWORD", SECRET)
    with pytest.raises(StoreError, match="needs a password"):
        RedisStore(server.url)
    config = load_config(env={"REDIS_PASSWORD": SECRET})
    assert config.redis_password == SECRET and SECRET not in repr(config)
    s = open_backend(server.url, redis_password=config.redis_password)
    s.close()


def test_redis_password_reaches_the_store_from_the_command_line(
        own_server: Callable[..., Server], tmp_path: Path) -> None:
    server = own_server("--requirepass", SECRET)
    s = RedisStore(server.url, password=SECRET)
    s.create("shared-thread")
    s.close()
    env = {**os.environ, "REDIS_PASSWORD": SECRET, "COLUMNS": "200"}
    done = subprocess.run([sys.executable, "-m", "repl", "--store", server.url, "--list"],
                          env=env, capture_output=True, text=True, cwd=ROOT,
                          stdin=subprocess.DEVNULL, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "shared-thread" in done.stdout
    copied = subprocess.run([sys.executable, "-m", "repl", "--copy-store", server.url,
                             f"json://{tmp_path / 'j'}"], env=env, capture_output=True,
                            text=True, cwd=ROOT, timeout=60)
    assert copied.returncode == 0, copied.stderr
    assert "1 threads created" in copied.stderr


@pytest.mark.parametrize("given", ["url", "config"])
def test_a_wrong_password_is_one_clear_line_without_it(own_server: Callable[..., Server],
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       given: str) -> None:
    server = own_server("--requirepass", SECRET)
    wrong = "wr0ng-Guess-42"
    url, password = server.url, None
    if given == "url":
        url = f"redis://:{wrong}@127.0.0.1:{server.port}/0"
    else:
        password = wrong
    with pytest.raises(StoreError) as info:
        RedisStore(url, password=password)
    text = str(info.value)
    assert text == (f"the Redis store at 127.0.0.1:{server.port} refused the password: "
                    "invalid username-password pair or user is disabled")
    assert wrong not in text and SECRET not in text


def test_a_missing_password_says_where_to_give_it(own_server: Callable[..., Server],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    server = own_server("--requirepass", SECRET)
    with pytest.raises(StoreError) as info:
        RedisStore(server.url)
    assert str(info.value) == (f"the Redis store at 127.0.0.1:{server.port} needs a password "
                               "(give it in the URL or REDIS_PASSWORD)")


def test_rediss_speaks_tls(own_server: Callable[..., Server], tmp_path: Path) -> None:
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-keyout", str(key), "-out", str(cert), "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, capture_output=True)
    server = own_server(tls=(cert, key))
    s = RedisStore(f"rediss://localhost:{server.port}/0?ssl_ca_certs={cert}")
    s.create("secure")
    s.append("secure", Message("user", "over TLS"))
    assert [m.content for m in s.messages("secure")] == ["over TLS"]
    s.close()
    with pytest.raises(StoreError) as untrusted:  # a certificate nobody vouched for
        RedisStore(f"rediss://localhost:{server.port}/0", timeout=2)
    assert str(untrusted.value).startswith(f"cannot reach the Redis store at localhost:"
                                           f"{server.port}: ")
    assert "certificate verify failed" in str(untrusted.value)


# -- the layout, search, and what it costs --------------------------------------------------------


def test_keys_live_under_the_namespace(shared: Callable[[], RedisStore], tmp_path: Path) -> None:
    s = shared()
    s.create("a")
    first = s.append("a", Message("user", "hi"))
    s.append("a", Message("assistant", "hello"))
    s.hide("a", [first.id or 0], "undone")
    s.set_state("last_thread", "a")
    ns = f"test:{tmp_path}"
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    keys = {k for k in client.scan_iter(count=1000) if k.startswith(ns + ":")}
    assert keys == {f"{ns}:{k}" for k in ("schema", "threads", "thread:1", "messages:1",
                                          "hidden:1", "uids:1", "next_thread", "next_message",
                                          "state")}
    assert client.hgetall(f"{ns}:threads") == {"a": "1"}
    assert client.hget(f"{ns}:thread:1", "count") == "1"
    items = [json.loads(raw) for raw in client.lrange(f"{ns}:messages:1", 0, -1)]
    assert [(i["content"], i.get("hidden")) for i in items] == [("hi", "undone"), ("hello", None)]
    client.close()


def test_keys_written_before_uids_open_with_nothing_lost(tmp_path: Path) -> None:
    ns = f"test:{tmp_path}"
    client = redis.Redis.from_url(redis_url(), decode_responses=True)
    client.set(f"{ns}:schema", 1)  # the layout as released before uids
    client.hset(f"{ns}:threads", "old", "1")
    client.hset(f"{ns}:thread:1", mapping={"name": "old", "created_at": "1.0",
                                           "updated_at": "2.0", "count": "2"})
    client.rpush(f"{ns}:messages:1",
                 '{"id":1,"role":"user","created_at":1.0,"content":"q"}',
                 '{"id":2,"role":"assistant","created_at":1.5,"hidden":"replaced",'
                 '"hidden_at":1.6,"content":"a"}',
                 '{"id":3,"role":"summary","created_at":1.7,"covers":1,"content":"gist"}')
    client.zadd(f"{ns}:hidden:1", {"1": 1.6})
    client.set(f"{ns}:next_message", 3)
    client.set(f"{ns}:next_thread", 1)
    s = RedisStore(redis_url(), namespace=ns)
    kept = s.messages("old", hidden=True)
    assert [(m.id, m.role, m.content, m.hidden, m.covers) for m in kept] == [
        (1, "user", "q", None, None), (2, "assistant", "a", "replaced", None),
        (3, "summary", "gist", None, 1)]
    assert [m.content for m in s.last_hidden("old", "replaced")] == ["a"]
    new = s.append("old", Message("user", "new"))
    assert s.append("old", new) == new
    assert [m.id for m in s.messages("old")] == [1, 3, 4]
    info = s.get("old")
    assert info is not None and info.message_count == 3
    s.close()
    client.close()


def test_open_backend_picks_redis_for_redis_urls() -> None:
    s = open_backend(redis_url())
    assert isinstance(s, RedisStore)
    s.close()


def test_redis_is_imported_only_for_a_redis_store() -> None:
    code = ("import sys, repl.cli, repl.store, repl.store.buffered, repl.store.sqlite, "
            "repl.store.copy; print('redis' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT)
    assert out.stdout.strip() == "False"


_WITHOUT_REDIS = ("import sys; sys.modules['redis'] = None; from repl.cli import main; "
                  "sys.exit(main(sys.argv[1:]))")


@pytest.mark.parametrize("args", [
    ["--store", "redis://127.0.0.1:1/0"],  # the REPL
    ["--store", "redis://127.0.0.1:1/0", "hello"],  # one-shot
    ["--copy-store", "sqlite:///{tmp}/a.db", "redis://127.0.0.1:1/0"],
    ["--copy-store", "redis://127.0.0.1:1/0", "json:///{tmp}/j"],
])
def test_without_the_redis_client_a_redis_store_is_one_line_naming_the_fix(
        tmp_path: Path, args: list[str]) -> None:
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    out = subprocess.run([sys.executable, "-c", _WITHOUT_REDIS, *args], capture_output=True,
                         text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=60)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert out.stderr.strip().splitlines() == [
        "chatrepl: the Redis store needs the redis client: pip install 'chatrepl[redis]'"]


def _fill(store: SQLiteStore | RedisStore) -> None:
    store.create("fruit")
    store.append("fruit", Message("user", "tell me about apples"))
    store.append("fruit", Message("assistant", "Apples are red. Apples keep; x_y apples!"))
    taken = store.append("fruit", Message("user", "and pears? apples?"))
    store.hide("fruit", [taken.id or 0], "edited")
    for i in range(30):  # longer than a search batch: the thread is read in pieces
        store.append("fruit", Message("user" if i % 2 == 0 else "assistant", f"filler {i}"))
    store.append("fruit", Message("user", "Un café, une CAFÉ, un résumé — cafe"))
    store.append("fruit", Message("assistant", "apples again, with pears"))
    store.create("other")
    store.append("other", Message("assistant", "日本語 text and applesauce"))


@pytest.mark.parametrize("query", ["apples", "APPLES pears", "cafe", "Café", "resume", "x", "y",
                                   "日本語", "日本", "apple", "filler 7", "nothing"])
def test_search_finds_what_sqlite_finds(shared: Callable[[], RedisStore], tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch, query: str) -> None:
    monkeypatch.setattr(redis_scripts, "SCAN_BATCH", 7)
    r, s = shared(), SQLiteStore(tmp_path / "sqlite" / "chatrepl.db")
    _fill(r)
    _fill(s)
    found = {(h.thread, h.turn, h.role, h.hidden) for h in r.search(query)}
    assert found == {(h.thread, h.turn, h.role, h.hidden) for h in s.search(query)}
    s.close()


def test_search_ranks_by_matches_and_marks_them(shared: Callable[[], RedisStore]) -> None:
    s = shared()
    s.create("t")
    s.append("t", Message("user", "one apple"))
    long = " ".join(f"w{i}" for i in range(40)) + " apple " + " ".join(f"v{i}" for i in range(40))
    s.append("t", Message("assistant", long + " Apple"))
    hits = s.search("apple")
    assert [h.role for h in hits] == ["assistant", "user"]
    start, end = HIGHLIGHT
    snippet = hits[0].snippet
    assert snippet.startswith("…") and snippet.endswith("…")
    assert f"{start}apple{end}" in snippet and len(snippet.split()) <= 17
    assert hits[1].snippet == f"one {start}apple{end}"


def test_reading_the_tail_skips_hidden_messages(shared: Callable[[], RedisStore]) -> None:
    s = shared()
    s.create("t")
    s.append_many("t", [Message("user", f"m{i}", created_at=1e9 + i) for i in range(1_000)])
    tail = s.messages("t", hidden=True, last=60)
    s.hide("t", [m.id or 0 for m in tail[-50:]], "undone")
    assert [m.content for m in s.messages("t", last=3)] == ["m947", "m948", "m949"]
    assert len(s.messages("t", hidden=True, last=60)) == 60
    info = s.get("t")
    assert info is not None and info.message_count == 950
    assert len(s.last_hidden("t", "undone")) == 50


def test_append_never_hides_append_many_keeps_hidden(shared: Callable[[], RedisStore]) -> None:
    s = shared()
    s.create("t")
    s.append("t", Message("user", "asked", hidden="undone"))
    s.append_many("t", [Message("user", "old question", created_at=1000.0, hidden="edited"),
                        Message("user", "new question", created_at=1001.0)])
    assert [m.content for m in s.messages("t")] == ["asked", "new question"]
    assert [m.content for m in s.last_hidden("t", "edited")] == ["old question"]
    info = s.get("t")
    assert info is not None and info.message_count == 2
