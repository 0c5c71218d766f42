"""Faults from outside: kill -9 at random moments, SIGTERM and SIGHUP mid-answer, two chatrepls on
one thread, hostile input, file privacy and the API key, and a stream that stalls forever.

Every test runs real ``chatrepl`` processes (``python -m repl``) against a real HTTP server on
127.0.0.1, with the data, config and home dirs in the test's temp dir (see conftest.py). REPLs run
in a pseudo-terminal (pexpect), fed to a terminal emulator (pyte) that answers prompt_toolkit's
cursor-position requests like a real terminal (pty_session.py). Waits poll with a 10 s ceiling.
"""

from __future__ import annotations

import contextlib
import http.server
import itertools
import json
import os
import random
import signal
import sqlite3
import stat
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from fakeserver import Failure, FakeOpenAI, Reply
from pty_session import (
    LONG,
    MODULE,
    TIMEOUT,
    Row,
    Terminal,
    assert_partial,
    hang_up,
    rows,
    stored,
    streaming,
    terminals,
)

from repl.store.sqlite import SQLiteStore

CHATREPL = MODULE  # python -m repl, as Terminal runs it too


# -- helpers --------------------------------------------------------------------------------------


def wait_until(check: Callable[[], bool], what: str, timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


def one_shot(env: dict[str, str], *args: str, input: bytes | None = None,
             cwd: Path | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([*CHATREPL, *args], env=env, cwd=cwd, input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, timeout=30)


def assert_one_clean_line(stderr: bytes) -> str:
    """``stderr`` is exactly one line from chatrepl: no traceback, no raw escape."""
    text = stderr.decode("utf-8", "replace")
    assert "Traceback" not in text, text
    assert b"\x1b" not in stderr and b"\x00" not in stderr, text
    lines = text.splitlines()
    assert len(lines) == 1 and lines[0].startswith("chatrepl: "), text
    return lines[0]


@pytest.fixture
def terminal(api_env: dict[str, str], tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    """Start chatrepl in a pty and wait for its first prompt."""
    yield from terminals(api_env, tmp_path)


class Background:
    """A one-shot chatrepl whose stdout and stderr are read as they come."""

    def __init__(self, env: dict[str, str], *args: str) -> None:
        self.proc = subprocess.Popen([*CHATREPL, *args], env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.out = bytearray()
        self.err = bytearray()
        self._readers = [threading.Thread(target=self._read, args=(pipe, buf), daemon=True)
                         for pipe, buf in ((self.proc.stdout, self.out),
                                           (self.proc.stderr, self.err))]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(pipe: Any, buf: bytearray) -> None:
        while chunk := pipe.read1(65536):
            buf.extend(chunk)

    def wait_out(self, text: bytes) -> None:
        wait_until(lambda: text in self.out or self.proc.poll() is not None, repr(text))
        assert text in self.out, (bytes(self.out[-500:]), bytes(self.err))

    def finish(self) -> int:
        code = self.proc.wait(TIMEOUT)
        for reader in self._readers:
            reader.join(TIMEOUT)
        return code


# -- 1. kill -9 ---------------------------------------------------------------------------------

TRIALS = 21
ANSWER = "the answer " + " ".join(f"part{i}" for i in range(50))


def arrived(server: FakeOpenAI, asked: int, proc: subprocess.Popen[bytes]) -> bool:
    """The server got a request beyond the first ``asked`` (or the process is gone)."""
    return len(server.requests) > asked or proc.poll() is not None


def test_kill_9_at_random_moments_never_loses_or_changes_a_committed_turn(
        api_env: dict[str, str], server: FakeOpenAI, data_dir: Path) -> None:
    """One-shots SIGKILLed at seeded random moments: before the question is saved, while the
    answer streams, around the final save. After each, the store opens cleanly, every turn
    committed before is there unchanged, and a question the server saw is stored."""
    rng = random.Random(20240601)
    # every request gets the same slow answer, so a request left over by a kill changes nothing
    server.queue(*[Reply(ANSWER, pieces=50, delay=0.005)] * (TRIALS + 5))
    committed: list[Row] = []
    outcomes: list[tuple[str, int | None]] = []
    for n in range(TRIALS):
        question = f"question {n}"
        asked = len(server.requests)
        proc = subprocess.Popen([*CHATREPL, "-t", "t", question], env=api_env,
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        try:
            if n % 3 == 0:  # start-up and the question's save (about 0.1 s in)
                time.sleep(rng.uniform(0, 0.15))
            elif n % 3 == 1:  # the question saved, the client being set up, the request sent
                time.sleep(rng.uniform(0.1, 0.6))
            else:  # from the moment the request arrives: the stream and the final save
                wait_until(partial(arrived, server, asked, proc), "the request")
                time.sleep(rng.uniform(0, 0.4))
            proc.send_signal(signal.SIGKILL)  # a no-op if it has already exited
        finally:
            code = proc.wait(TIMEOUT)

        now = rows(data_dir, "t")
        assert now[:len(committed)] == committed, f"trial {n}: a committed turn changed"
        new = [(role, content, status) for _, role, content, status, _ in now[len(committed):]]
        assert new in ([], [("user", question, None)],
                       [("user", question, None), ("assistant", ANSWER, None)]), (n, new)
        sent = any(r["messages"][-1]["content"] == question for r in server.requests)
        if sent:
            assert new, f"trial {n}: the server got {question!r}, but it is not stored"
        if code == 0:
            assert len(new) == 2, f"trial {n}: a run that ended normally lost its turn"
        stage = ("unsaved" if not new else "asked" if len(new) == 1 else "answered")
        outcomes.append((stage + (" and sent" if sent else ""), code))
        committed = now

    # every question any request carried is stored (a request may be seen late, after a kill)
    questions = {content for _, role, content, _, _ in committed if role == "user"}
    for request in server.requests:
        assert request["messages"][-1]["content"] in questions
    # the kills did land in every stage (else this test proves less than it says)
    killed = [stage for stage, code in outcomes if code == -signal.SIGKILL]
    assert "unsaved" in killed and "asked and sent" in killed, outcomes

    with contextlib.closing(sqlite3.connect(data_dir / "chatrepl.db")) as db:
        assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    # and the thread goes on, with all of it as history
    done = one_shot(api_env, "-t", "t", "final")
    assert done.returncode == 0, done.stderr
    history = [*({"role": role, "content": content} for _, role, content, _, _ in committed),
               {"role": "user", "content": "final"}]
    # a question a kill left unanswered stays stored, but the next question takes its place
    assert server.sent_messages() == [m for m, after in itertools.pairwise(history)
                                      if not m["role"] == after["role"] == "user"] + history[-1:]


def test_kill_9_of_the_repl_mid_answer(terminal: Callable[..., Terminal], server: FakeOpenAI,
                                       api_env: dict[str, str], data_dir: Path) -> None:
    before: list[Row] = []
    for n in range(2):
        term = terminal("-t", "r")
        streaming(term, server, f"story {n}")
        term.child.kill(signal.SIGKILL)
        term.wait_gone()
        now = rows(data_dir, "r")
        assert now[:len(before)] == before
        new = [(role, content, status) for _, role, content, status, _ in now[len(before):]]
        assert new[:1] == [("user", f"story {n}", None)], \
            f"the question was sent, so it was committed; but the store has {new}"
        if len(new) > 1:  # SIGKILL leaves no time to save, but if it did, it is a true part
            assert len(new) == 2 and new[1][0] == "assistant"
            assert_partial(new[1][1])
        before = now

    done = one_shot(api_env, "-t", "r", "after the kills")
    assert (done.returncode, done.stdout) == (0, b"echo: after the kills\n"), done.stderr
    # a story whose answer the kill left unsaved stays stored, but the next question replaces
    # it in what is sent (never two user messages in a row)
    answered = [content for (_, role, content, _, _), (_, reply, _, _, _)
                in itertools.pairwise(before) if role == "user" and reply == "assistant"]
    assert [m["content"] for m in server.sent_messages() if m["role"] == "user"] == [
        *answered, "after the kills"]


def test_kill_9_of_a_repl_after_another_chatrepl_came_and_went(
        terminal: Callable[..., Terminal], api_env: dict[str, str], server: FakeOpenAI,
        data_dir: Path) -> None:
    """A turn the REPL commits is on disk, whatever other chatrepl processes did meanwhile.

    Here a second chatrepl (``--list``) opens and closes the store while the REPL is open; then
    the REPL asks a question (committed before the request is sent) and is killed mid-answer."""
    assert one_shot(api_env, "-t", "r", "first").returncode == 0  # the store exists already
    term = terminal("-t", "r")
    term.line("before the other one")
    listed = one_shot(api_env, "--list")
    assert listed.returncode == 0 and b"r" in listed.stdout, listed.stderr
    streaming(term, server, "after the other one")
    # what the REPL committed is visible to any other process at once...
    visible = one_shot(api_env, "-t", "r", "--export", "-", "--format", "json")
    assert visible.returncode == 0, visible.stderr
    seen = [m["content"] for m in json.loads(visible.stdout)]
    term.child.kill(signal.SIGKILL)
    term.wait_gone()
    assert seen[2:] == ["before the other one", "echo: before the other one",
                        "after the other one"], "a committed turn is invisible to others"
    # ...and survives the REPL's death
    assert stored(data_dir, "r")[2:] == [("user", "before the other one", None),
                                         ("assistant", "echo: before the other one", None),
                                         ("user", "after the other one", None)]


# -- 2. SIGTERM and SIGHUP ------------------------------------------------------------------------


@pytest.mark.parametrize("how", ["SIGTERM", "SIGHUP", "terminal closed"])
def test_repl_told_to_stop_mid_answer_saves_the_partial_answer(
        how: str, terminal: Callable[..., Terminal], server: FakeOpenAI,
        data_dir: Path) -> None:
    term = terminal()
    streaming(term, server, "go on and on")
    started = time.monotonic()
    if how == "terminal closed":
        hang_up(term)
    else:
        term.child.kill(getattr(signal, how))
    status = term.exit_status()
    assert time.monotonic() - started < 3, "the stream was not cut at once"
    assert status == 0
    assert "Traceback" not in term.output
    log = data_dir / "chatrepl.log"
    assert not log.exists() or "unexpected error" not in log.read_text(), log.read_text()
    q, a = stored(data_dir, "default")
    assert q == ("user", "go on and on", None)
    assert a[0] == "assistant" and a[2] == "interrupted"
    assert_partial(a[1])

    # the next run opens the thread intact: the question, the partial answer and its flag
    term = terminal()
    assert "thread 'default' · 2 messages" in term.text
    shown = term.text.split("❯ go on and on", 1)[1]
    assert shown.lstrip().startswith("word0 word1 ") and "(interrupted)" in shown
    assert term.quit() == 0


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGHUP])
def test_one_shot_told_to_stop_mid_answer_saves_the_partial_answer(
        sig: signal.Signals, api_env: dict[str, str], server: FakeOpenAI,
        data_dir: Path) -> None:
    server.queue(Reply(text=LONG, pieces=200, delay=0.02))
    run = Background(api_env, "-t", "o", "tell me everything")
    run.wait_out(b"word20 ")
    started = time.monotonic()
    run.proc.send_signal(sig)
    code = run.finish()
    assert time.monotonic() - started < 3
    assert code > 0, f"status {code}: it should leave with a status of its own"
    assert b"Traceback" not in run.err, run.err.decode()
    (q, a) = stored(data_dir, "o")
    assert q == ("user", "tell me everything", None)
    assert a[0] == "assistant" and a[2] == "interrupted"
    assert_partial(a[1])
    assert run.out.decode() == a[1] + "\n"  # what was shown is what was kept
    assert run.err.decode().strip() == "(interrupted)"  # notes go to stderr, out is the answer

    done = one_shot(api_env, "-t", "o", "next")
    assert (done.returncode, done.stdout) == (0, b"echo: next\n"), done.stderr
    assert server.sent_messages() == [
        {"role": "user", "content": "tell me everything"},
        {"role": "assistant", "content": a[1]}, {"role": "user", "content": "next"}]


# -- 3. two REPLs on one thread ---------------------------------------------------------------


def test_two_repls_on_one_thread_lose_nothing_and_see_each_other(
        terminal: Callable[..., Terminal], server: FakeOpenAI, data_dir: Path) -> None:
    a = terminal("-t", "shared")
    b = terminal("-t", "shared")
    history: list[dict[str, str]] = []
    for n in range(2):
        for name, term in (("a", a), ("b", b)):
            text = f"{name}{n}"
            term.line(text)
            assert f"echo: {text}" in term.text
            # each request carried every earlier turn, the other REPL's too
            assert server.sent_messages() == [*history, {"role": "user", "content": text}]
            history += [{"role": "user", "content": text},
                        {"role": "assistant", "content": f"echo: {text}"}]

    # both at once: a's answer streams while b asks and gets its answer
    server.queue(Reply(text="slow " * 40, pieces=40, delay=0.02))
    a.send("overlap a\r")
    wait_until(lambda: len(server.requests) == 5, "a's request")
    b.line("overlap b")
    a.wait_prompt()
    # a's question, still unanswered, is stored but not sent before b's (two in a row)
    assert server.sent_messages(5) == [*history, {"role": "user", "content": "overlap b"}]
    assert a.quit() == 0 and b.quit() == 0

    final = stored(data_dir, "shared")
    assert final[:len(history)] == [(m["role"], m["content"], None) for m in history]
    assert final[len(history):len(history) + 2] == [("user", "overlap a", None),
                                                    ("user", "overlap b", None)]
    assert sorted(final[len(history) + 2:]) == [("assistant", "echo: overlap b", None),
                                                ("assistant", "slow " * 40, None)]


def test_a_repl_goes_on_after_the_other_one_quits(
        terminal: Callable[..., Terminal], api_env: dict[str, str], server: FakeOpenAI,
        data_dir: Path) -> None:
    """Two REPLs on a thread that already exists; one quits, the other goes on: its turns are
    still committed where every other chatrepl sees them, at once."""
    assert one_shot(api_env, "-t", "shared", "start").returncode == 0
    a = terminal("-t", "shared")
    b = terminal("-t", "shared")
    a.line("from a")
    b.line("from b")
    assert a.quit() == 0
    b.line("b goes on")
    assert server.sent_messages()[-3:] == [
        {"role": "user", "content": "from b"}, {"role": "assistant", "content": "echo: from b"},
        {"role": "user", "content": "b goes on"}]
    expected = ["start", "echo: start", "from a", "echo: from a", "from b", "echo: from b",
                "b goes on", "echo: b goes on"]
    seen = one_shot(api_env, "-t", "shared", "--export", "-", "--format", "json")
    assert seen.returncode == 0, seen.stderr
    assert [m["content"] for m in json.loads(seen.stdout)] == expected, \
        "a turn b committed is not visible to another chatrepl"
    done = one_shot(api_env, "-t", "shared", "a one-shot meanwhile")
    assert done.returncode == 0, done.stderr
    assert [m["content"] for m in server.sent_messages()] == [*expected, "a one-shot meanwhile"]
    b.line("b once more")
    assert [m["content"] for m in server.sent_messages()] == [
        *expected, "a one-shot meanwhile", "echo: a one-shot meanwhile", "b once more"]
    assert b.quit() == 0
    assert [content for _, content, _ in stored(data_dir, "shared")] == [
        *expected, "a one-shot meanwhile", "echo: a one-shot meanwhile", "b once more",
        "echo: b once more"]


SLOW_CHECK = """\
# Fault injection for one test: the store takes 0.3 s to answer "is there a thread called X?"
# when there is none, as a busy disk or the scheduler may make it. Nothing else changes.
import time

from repl.store.sqlite import SQLiteStore

_get = SQLiteStore.get


def _slow_get(self, name):
    info = _get(self, name)
    if info is None:
        time.sleep(0.3)
    return info


SQLiteStore.get = _slow_get
"""


def test_two_chatrepls_starting_on_a_new_thread_at_once_both_get_it(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path, data_dir: Path) -> None:
    """Two chatrepls opening the same new thread at the same moment: the thread is created once
    and both talk in it; neither fails because the other created it first."""
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "sitecustomize.py").write_text(SLOW_CHECK)
    env = {**api_env, "PYTHONPATH": os.pathsep.join(
        [str(shim), *filter(None, [api_env.get("PYTHONPATH")])])}
    assert one_shot(env, "--list").returncode == 0  # the store exists, with no thread yet
    runs = [Background(env, "-t", "fresh", f"hello from {n}") for n in range(2)]
    codes = [run.finish() for run in runs]
    errors = [run.err.decode() for run in runs]
    assert codes == [0, 0], errors
    assert sorted(content for role, content, _ in stored(data_dir, "fresh")
                  if role == "user") == ["hello from 0", "hello from 1"]


# -- 4. bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"text\x00with a NUL", b"\x7fELF\x02\x01\x01\x00\x00\x00",
                                  b"caf\xe9 au lait", b"\xff\xfe\xfd", b"ok \xc3"])
def test_stdin_that_is_not_text_is_one_line_error(data: bytes, api_env: dict[str, str],
                                                   server: FakeOpenAI, data_dir: Path) -> None:
    done = one_shot(api_env, "-t", "t", "summarise this", input=data)
    assert done.returncode != 0
    line = assert_one_clean_line(done.stderr)
    assert "binary" in line or "UTF-8" in line, line
    assert done.stdout == b""
    assert server.requests == []
    assert stored(data_dir, "t") == []


def test_two_megabytes_on_stdin_arrive_intact(api_env: dict[str, str], server: FakeOpenAI,
                                              data_dir: Path) -> None:
    rng = random.Random(7)
    words = ["alpha", "βeta", "gamma", "délta", "表", "emoji 🙂", "tab\tbed", "x" * 30]
    lines = []
    size = 0
    while size < 2 * 1024 * 1024:
        line = " ".join(rng.choice(words) for _ in range(12))
        lines.append(line)
        size += len(line.encode()) + 1
    text = "\n".join(lines) + "\n"
    server.queue(Reply("got it"))
    done = one_shot(api_env, "-t", "big", "count the words", input=text.encode())
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"got it\n"
    sent = server.sent_messages()
    assert len(sent) == 1 and sent[0]["content"] == "count the words\n\n" + text
    assert stored(data_dir, "big") == [("user", "count the words\n\n" + text, None),
                                       ("assistant", "got it", None)]


def tree(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


BAD_NAMES = ["../x", "a/b", "..", "/x", "a\\b", "a\x1b[31mb", "a\x1b]52;c;aGk=\x07",
             "a\u202eb", "x" * 200, "-x", ".hidden", " ", ""]


def test_bad_thread_names_are_refused_and_create_nothing(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path, data_dir: Path) -> None:
    cwd = tmp_path / "work" / "dir"
    cwd.mkdir(parents=True)
    before = tree(tmp_path)
    absolute = [Path("/x"), Path("/x.md"), Path("/x.json")]
    assert [p for p in absolute if p.exists()] == []
    for name in BAD_NAMES:
        done = one_shot(api_env, f"--thread={name}", "hello", cwd=cwd)
        assert done.returncode != 0, name
        line = assert_one_clean_line(done.stderr)
        assert "thread name" in line, (name, line)
        assert done.stdout == b""
    for name in BAD_NAMES[:3]:  # the export refuses them too
        done = one_shot(api_env, f"--thread={name}", "--export", "-", cwd=cwd)
        assert done.returncode != 0 and done.stdout == b"", name
        assert "thread name" in assert_one_clean_line(done.stderr)
    # a NUL cannot even reach chatrepl through argv: the OS refuses it
    with pytest.raises(ValueError):
        one_shot(api_env, "-t", "a\x00b", "hello", cwd=cwd)
    created = tree(tmp_path) - before
    outside = sorted(p for p in created
                     if not (tmp_path / p).resolve().is_relative_to(data_dir.resolve()))
    assert outside == []
    assert [p for p in absolute if p.exists()] == []
    assert server.requests == []
    store = SQLiteStore(data_dir / "chatrepl.db")
    try:
        assert store.list_threads() == []
    finally:
        store.close()


def test_odd_keys_in_the_repl_do_not_crash_it(terminal: Callable[..., Terminal],
                                               server: FakeOpenAI, data_dir: Path) -> None:
    term = terminal("-t", "k")
    term.line("one line first")
    keys = {
        "ctrl": [chr(c) for c in range(1, 27) if chr(c) not in "\x03\x04\x0a\x0d\x1a"],
        "arrows": ["\x1b[A", "\x1b[B", "\x1b[C", "\x1b[D", "\x1b[H", "\x1b[F", "\x1b[3~",
                   "\x1b[5~", "\x1b[6~", "\x1bOP", "\x1b[1;5C", "\x1b[15~"],
        "text": [*"abc /xyz", "é", "表", "\x7f", "\t"],
        "odd": ["\x1b", "\x1b\x1b", "\x1b[", "\x1b[999;999R", "\x1b]52;c;aGk=\x07",
                "\x1b[200~pasted \x1b[31mred\x1b[0m\x1b[201~", "\x1b[?1049h", "\x00", "\x1c",
                "\x1d", "\x1e", "\x1f", "\x9b"],
    }
    rng = random.Random(99)
    for _ in range(8):
        burst = "".join(rng.choice(keys[rng.choice(list(keys))]) for _ in range(25))
        term.send(burst)
        term.pump(0.1)
        assert term.child.isalive(), f"died on {burst!r}:\n{term.text}"
    # get out of whatever mode the keys left (search, completion menu), to an empty prompt
    for _ in range(3):
        term.send("\x07\x03")
        term.wait_prompt()
    term.line("still here")
    assert "echo: still here" in term.text
    assert "Traceback" not in term.output and "internal error" not in term.text
    assert term.quit() == 0
    assert stored(data_dir, "k")[-2:] == [("user", "still here", None),
                                          ("assistant", "echo: still here", None)]
    log = data_dir / "chatrepl.log"
    assert not log.exists(), log.read_text()


# -- 5. privacy ---------------------------------------------------------------------------------


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def assert_private(data_dir: Path) -> list[str]:
    assert mode(data_dir) == 0o700
    names = []
    for path in data_dir.rglob("*"):
        names.append(path.name)
        wanted = 0o700 if path.is_dir() else 0o600
        assert mode(path) == wanted, f"{path} is {oct(mode(path))}"
    return names


def test_files_are_private_and_the_api_key_never_leaks(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path, data_dir: Path,
        isolated: dict[str, str]) -> None:
    key = api_env["OPENAI_API_KEY"]
    leak = Failure(401, {"error": {"message": f"Incorrect API key provided: {key}",
                                   "type": "invalid_request_error", "code": "invalid_api_key"}})
    old = os.umask(0o022)
    try:
        term = Terminal(api_env, tmp_path, ["-t", "secret"])
        try:
            term.wait_prompt()
            term.line("hello")
            names = assert_private(data_dir)  # while it runs: the WAL files exist
            assert {"chatrepl.db", "chatrepl.db-wal", "chatrepl.db-shm",
                    "input_history"} <= set(names), names
            server.queue(leak)
            term.line("again")
            assert "Incorrect API key provided: ***" in term.text
            term.line("/export secret.md")
            assert term.quit() == 0
        finally:
            if term.child.isalive():
                term.child.close(force=True)
        repl_output = term.output

        server.queue(leak)
        failed = one_shot(api_env, "-t", "secret", "once more")
        assert failed.returncode == 1
        line = assert_one_clean_line(failed.stderr)
        assert "refused the API key" in line and "Incorrect API key provided: ***" in line
        exported = one_shot(api_env, "-t", "secret", "--export", str(tmp_path / "out.json"))
        assert exported.returncode == 0, exported.stderr
        to_stdout = one_shot(api_env, "-t", "secret", "--export", "-")
        assert to_stdout.returncode == 0 and b"hello" in to_stdout.stdout
    finally:
        os.umask(old)

    assert_private(data_dir)
    for export in (tmp_path / "secret.md", tmp_path / "out.json"):
        assert mode(export) == 0o600, export
    assert stored(data_dir, "secret") == [("user", "hello", None),
                                          ("assistant", "echo: hello", None),
                                          ("user", "again", None), ("user", "once more", None)]
    secret = key.encode()
    for stream in (repl_output.encode(), failed.stdout, failed.stderr, exported.stdout,
                   exported.stderr, to_stdout.stdout, to_stdout.stderr):
        assert secret not in stream
    places = [data_dir, tmp_path / "secret.md", tmp_path / "out.json",
              *(Path(isolated[k]) for k in ("HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
                                            "XDG_STATE_HOME"))]
    for place in places:
        files = [place] if place.is_file() else [p for p in place.rglob("*") if p.is_file()]
        for path in files:
            assert secret not in path.read_bytes(), f"the API key is in {path}"


# -- 6. a stalled stream ------------------------------------------------------------------------


class KeepAliveServer:
    """Answers every POST with an event stream: optionally one data chunk first, then only
    keep-alive comments, every 0.2 s for 10 s. It records when each request arrived."""

    def __init__(self, first_chunks: list[str]) -> None:
        self.arrived: list[float] = []
        self.first_chunks = first_chunks
        self.stop = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length", 0)))
                outer.arrived.append(time.monotonic())
                self.send_response(200)
                self.send_header("content-type", "text/event-stream")
                self.send_header("connection", "close")
                self.end_headers()
                self.close_connection = True
                try:
                    for piece in outer.first_chunks:
                        self.wfile.write(piece.encode())
                    for _ in range(50):
                        self.wfile.write(b": keep-alive\n\n")
                        self.wfile.flush()
                        if outer.stop.wait(0.2):
                            return
                except OSError:
                    return

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.01},
                         daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("first", [[], ["data: {\"choices\": [{\"index\": 0, \"delta\": "
                                        "{\"content\": \"half an\"}}]}\n\n"]],
                         ids=["nothing", "a little, then nothing"])
def test_a_stream_of_keep_alives_is_ended_by_the_deadline(
        first: list[str], api_env: dict[str, str], isolated: dict[str, str],
        data_dir: Path) -> None:
    config = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("timeout = 1\n")
    stalled = KeepAliveServer(first)
    try:
        env = {**api_env, "OPENAI_BASE_URL": stalled.url}
        done = one_shot(env, "-t", "s", "are you there?")
        ended = time.monotonic()
    finally:
        stalled.close()
    assert len(stalled.arrived) == 1
    waited = ended - stalled.arrived[0]
    assert 0.9 < waited < 2.5, f"gave up after {waited:.2f} s, not about 1 s"
    assert done.returncode == 1
    line = assert_one_clean_line(done.stderr)
    assert "sent nothing for 1 s" in line, line
    expected: list[tuple[str, str, str | None]] = [("user", "are you there?", None)]
    if first:
        expected.append(("assistant", "half an", "error"))
    assert stored(data_dir, "s") == expected
