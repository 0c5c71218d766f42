"""The real-server lane: one script of turns, run by the real App against a real server that
nobody here wrote, printing what each turn did. Never part of CI (it needs a model server).

  CHATREPL_REAL_URL=http://127.0.0.1:8000/v1 CHATREPL_REAL_MODEL=gemma \\
      [CHATREPL_REAL_API=chat|responses] [CHATREPL_REAL_KEY=...] python benchmarks/servers.py

Each scenario runs in fresh data and config dirs. A row says what the user saw (the answer's first
words, or the line chatrepl printed) and what the server reported (prompt tokens, against
chatrepl's estimate of what was sent): a prompt far smaller than the estimate means the server
ignored part of the request. docs/servers.md holds the results, with versions.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
import time
import zlib
from collections.abc import Awaitable, Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import Session

from repl import config as config_mod

FACT = "The secret word is PAPAYA. "
LONG = " ".join(f"Item {i} of a very long list of things to remember." for i in range(700))


def png(width: int = 8, height: int = 8) -> bytes:
    """A small red PNG."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return len(data).to_bytes(4, "big") + body + zlib.crc32(body).to_bytes(4, "big")

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = width.to_bytes(4, "big") + height.to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows))
            + chunk(b"IEND", b""))


Scenario = Callable[["Lane", Path], Awaitable[str]]


class Lane:
    """The App, typed into as a user would, waiting as long as a real model takes."""

    def __init__(self, session: Session) -> None:
        self.session = session

    async def line(self, text: str) -> str:
        s = self.session
        before = len(s.out.getvalue())
        s.pipe.send_text(text + "\r")
        await s.wait_prompt(timeout=600)
        return str(s.out.getvalue()[before:])


async def plain(s: Lane, work: Path) -> str:
    return await s.line("Say hello in five words.")


async def text_attachment(s: Lane, work: Path) -> str:
    notes = work / "notes.txt"
    notes.write_text(FACT * 3)
    await s.line(f"/attach {notes}")
    return await s.line("What is the secret word in the attached notes?")


async def image(s: Lane, work: Path) -> str:
    picture = work / "red.png"
    picture.write_bytes(png())
    await s.line(f"/attach {picture}")
    return await s.line("What colour is this image?")


async def system_prompt(s: Lane, work: Path) -> str:
    await s.line("/system Always answer in French, in one sentence.")
    return await s.line("What is the capital of Italy?")


async def over_the_window(s: Lane, work: Path) -> str:
    for n in range(3):
        await s.line(f"Remember this, part {n}: {LONG[: 2500]}")
    return await s.line("What was the last item you were told?")


async def compact(s: Lane, work: Path) -> str:
    for question in ("Name a fruit.", "Name a colour.", "Name a country."):
        await s.line(question)
    out = await s.line("/compact")
    return out + await s.line("What did we talk about?")


async def retry(s: Lane, work: Path) -> str:
    await s.line("Tell me a one-line joke.")
    return await s.line("/retry")


async def two_turns(s: Lane, work: Path) -> str:
    """The second turn replays the first answer (as output items, on the Responses API)."""
    await s.line("Say one word.")
    return await s.line("And another one.")


SCENARIOS: dict[str, Scenario] = {
    "plain": plain, "text attachment": text_attachment, "image": image,
    "system prompt": system_prompt, "over the window": over_the_window, "/compact": compact,
    "/retry": retry, "two turns": two_turns,
}


def summary(out: str) -> str:
    """What the user saw, on one line: chatrepl's notes and errors, then the answer's start."""
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    said = [line for line in lines if re.match(r"^(error|warning|note|\(|📎|summar|thread)", line,
                                                re.IGNORECASE)]
    answer = [line for line in lines if line not in said]
    shown = " | ".join([*said[:3], " ".join(answer)[:70]])
    return shown.replace("\n", " ")


async def run_one(name: str, scenario: Scenario, url: str, model: str, api: str,
                  key: str) -> tuple[str, str, str, float]:
    with tempfile.TemporaryDirectory(prefix="chatrepl-real-") as base:
        root = Path(base)
        for var in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "HOME"):
            (root / var).mkdir()
            os.environ[var] = str(root / var)
        os.environ.update(OPENAI_BASE_URL=url, OPENAI_API_KEY=key, CHATREPL_API=api)
        config = config_mod.load(model=model)
        # answers kept short (as -o max_tokens=150): a small model rambles to its window
        session = Session(config=config, timeout=120, width=120,
                          run_settings={"max_tokens": 150})
        s = await session.start("lane", system=None)
        started = time.perf_counter()
        try:
            out = await asyncio.wait_for(scenario(Lane(s), root), 1200)
        except Exception as e:  # a row of the table, not the end of the run
            out = f"error (lane): {type(e).__name__}: {e}"
        took = time.perf_counter() - started
        stored = [m for m in s.store.messages("lane") if m.role == "assistant"]
        reported = stored[-1].usage.prompt_tokens if stored else None
        tokens = await s.line("/tokens")
        estimate = re.search(r"([\d,]+) tokens", tokens)
        await s.quit()
    said = estimate.group(1) if estimate else "?"
    usage = f"{reported if reported is not None else '-'} / {said}"
    return name, summary(out), usage, took


def main() -> None:
    url = os.environ.get("CHATREPL_REAL_URL")
    if not url:
        print("no real server given (CHATREPL_REAL_URL); nothing run")
        return
    model = os.environ.get("CHATREPL_REAL_MODEL", "default")
    api = os.environ.get("CHATREPL_REAL_API", "chat")
    key = os.environ.get("CHATREPL_REAL_KEY", "sk-none")
    chosen = sys.argv[1:] or list(SCENARIOS)
    print(f"{url} · {model} · {api}\n")
    print("| scenario | what the user saw | prompt tokens reported / estimated | s |")
    print("| --- | --- | --- | --- |")
    for name in chosen:
        row = asyncio.run(run_one(name, SCENARIOS[name], url, model, api, key))
        print(f"| {row[0]} | {row[1].replace('|', '/')} | {row[2]} | {row[3]:.1f} |", flush=True)


if __name__ == "__main__":
    main()
