"""Screenshots of real chatrepl sessions: session.svg, threads.svg, attach.svg, paste.svg, vi.svg,
math.svg, editor.svg, meter.svg (and PNG copies).

The installed ``chatrepl`` runs inside tmux (a real terminal emulator; 100 columns, 42 and 32
rows) against the fake OpenAI server from tests/fakeserver.py, which streams scripted answers. The
script types into the pane like a user, waits for each answer, captures the pane with its colours
(``tmux capture-pane -e``) and turns the capture into an SVG with rich. Everything chatrepl writes
goes to a temporary directory, and tmux runs as a private server on a socket in it: nothing of the
user's (threads, tmux sessions, config) is touched.

    .venv/bin/python screenshots/make.py          # needs tmux; rsvg-convert for the PNG copies
    .venv/bin/python screenshots/make.py paste vi # only those (meter: the context meter)

Re-running gives the same pictures except for the clock times in the /list table.
"""

from __future__ import annotations

import io
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.text import Text

HERE = Path(__file__).resolve().parent
# html.py beside this script is not the standard library's html (rich's SVG export imports it)
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != HERE]
sys.path.insert(0, str(HERE.parent / "tests"))

from fakeserver import FakeOpenAI, Reply  # noqa: E402

COLS = 100
# the session shot is as tall as its conversation
ROWS = {"session": 42, "threads": 32, "attach": 16, "paste": 12, "vi": 8, "math": 22,
        "editor": 14, "meter": 42}
CHATREPL = Path(sys.executable).with_name("chatrepl")
TOOLBAR = re.compile(r" · (\d+) messages")  # the context meter follows (repl/meter.py)

LIST_VS_TUPLE = """\
A **list** is mutable: you can append, remove and reorder items. A **tuple** is fixed once \
created, so it can be a dict key or a set member, and it signals "this is a record", not a \
collection."""

CSV_TOTALS = """\
## Totals per region

The standard library is enough here:

- `csv.DictReader` yields each row as a dict keyed by the header
- `collections.Counter` adds the amounts up per region
- `Decimal` keeps money exact (no float rounding)

```python
import csv
from collections import Counter
from decimal import Decimal

totals = Counter()
with open("sales.csv", newline="") as f:
    for row in csv.DictReader(f):
        totals[row["region"]] += Decimal(row["amount"])

for region, total in totals.most_common():
    print(f"{region:<8} {total:>10,.2f}")
```

| region | total    |
|--------|---------:|
| north  | 1,204.50 |
| south  |   987.25 |
| west   |   410.00 |
"""

DOLOMITES = """\
A classic three-day loop from **Passo Gardena**:

1. Puez plateau to Rifugio Puez (5 h)
2. Across the Gardenaccia to Rifugio Lavarella (4 h)
3. Down Val Badia to Colfosco (3.5 h)"""

LASAGNA = """\
- lasagne sheets, passata, onion, garlic
- spinach, ricotta, mushrooms
- mozzarella, parmesan, basil"""

CHART = """\
The chart shows **revenue per quarter**: Q3 is the peak, and Q4 falls back to about Q2's level. \
Your notes say the Q4 dip comes from the delayed launch, which matches the shape."""

REGEX = "`^\\d{4}-\\d{2}-\\d{2}$` matches an ISO date such as `2024-05-17`."


class Pane:
    """chatrepl in a detached tmux session on a private tmux server."""

    def __init__(self, socket: Path, env: dict[str, str], name: str) -> None:
        self.socket, self.env, self.name = socket, env, name
        self.rows = ROWS[name]

    def tmux(self, *args: str) -> str:
        done = subprocess.run(["tmux", "-S", str(self.socket), *args], env=self.env,
                              capture_output=True, text=True, check=True)
        return done.stdout

    def start(self, cwd: Path, *args: str, env: dict[str, str] | None = None) -> Pane:
        """Run chatrepl with ``args`` (and ``env`` added to the tmux server's environment)."""
        command = shlex.join(["env", *(f"{k}={v}" for k, v in (env or {}).items()),
                              str(CHATREPL), *args])
        self.tmux("new-session", "-d", "-s", self.name, "-x", str(COLS), "-y", str(self.rows),
                  "-c", str(cwd), command)
        return self

    def screen(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", self.name).split("\n")[:self.rows]

    def capture(self) -> str:
        """The pane as it looks: text with its colours as SGR escape sequences, and the trailing
        cells kept (the toolbar and code blocks have a background up to the right edge)."""
        return self.tmux("capture-pane", "-e", "-N", "-p", "-t", self.name)

    def wait(self, check: Callable[[list[str]], bool], what: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while not check(self.screen()):
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}; the pane:\n"
                                 + "\n".join(self.screen()))
            time.sleep(0.05)

    def wait_prompt(self, messages: int, after: str | None = None) -> None:
        """Until the prompt is back with ``messages`` in the toolbar, the cursor after '❯ ' and,
        if given, the line ``after`` (what was typed) above it."""
        def ready(lines: list[str]) -> bool:
            x, y = map(int, self.tmux("display", "-p", "-t", self.name,
                                      "#{cursor_x} #{cursor_y}").split())
            match = TOOLBAR.search(lines[-1]) if lines else None
            return (match is not None and int(match.group(1)) == messages
                    and lines[y].rstrip() == "❯" and x == 2
                    and (after is None or after in (line.rstrip() for line in lines[:y])))

        self.wait(ready, f"the prompt with {messages} messages")
        time.sleep(0.2)  # let prompt_toolkit finish drawing

    def say(self, text: str, messages: int) -> None:
        """Type ``text`` and Enter; wait for the prompt to come back with ``messages``."""
        self.tmux("send-keys", "-t", self.name, "-l", text)
        self.tmux("send-keys", "-t", self.name, "Enter")
        self.wait_prompt(messages, after=f"❯ {text}")

    def quit(self) -> None:
        self.tmux("send-keys", "-t", self.name, "C-d")
        deadline = time.monotonic() + 10
        while subprocess.run(["tmux", "-S", str(self.socket), "has-session", "-t", self.name],
                             env=self.env, capture_output=True).returncode == 0:
            if time.monotonic() > deadline:
                raise SystemExit(f"chatrepl did not quit in the pane {self.name}")
            time.sleep(0.05)


def save(capture: str, path: Path, rows: int) -> None:
    """Turn a `tmux capture-pane -e` capture into an SVG (and a PNG if rsvg-convert is here)."""
    console = Console(record=True, width=COLS, height=rows, file=io.StringIO(),
                      force_terminal=True, color_system="truecolor", legacy_windows=False)
    lines = capture.rstrip("\n").split("\n")
    # one decode for the whole screen: a colour set on one line may carry on over the next ones
    text = Text.from_ansi("\n".join(lines + [""] * (rows - len(lines))), no_wrap=True,
                          overflow="crop")
    console.print(text, crop=True)
    svg = console.export_svg(title="chatrepl")
    # Spaces are written as &#160;; without this, some renderers (librsvg) drop them at the ends
    # of a text run and shift the columns.
    svg = svg.replace("<svg ", '<svg xml:space="preserve" ', 1)
    path.write_text(svg, encoding="utf-8")
    print(f"wrote {path.relative_to(HERE.parent)}")
    if shutil.which("rsvg-convert"):
        png = path.with_suffix(".png")
        subprocess.run(["rsvg-convert", "--zoom", "1.5", "-o", str(png), str(path)], check=True)
        print(f"wrote {png.relative_to(HERE.parent)}")


def main(shots: list[str]) -> None:
    if not shutil.which("tmux"):
        raise SystemExit("tmux is needed (apt-get install tmux)")
    if not CHATREPL.exists():
        raise SystemExit(f"{CHATREPL} is missing: pip install -e . in this venv first")
    server = FakeOpenAI().start()
    with tempfile.TemporaryDirectory(prefix="chatrepl-shots-") as tmp:
        root = Path(tmp)
        for sub in ("home", "data", "config", "work"):
            (root / sub).mkdir()
        (root / "tmux.conf").write_text(
            "set -g status off\nset -g default-terminal tmux-256color\n"
            "set -g history-limit 10000\nset -g escape-time 10\n")
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8",
            "HOME": str(root / "home"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "COLORTERM": "truecolor",
            "OPENAI_BASE_URL": server.url,
            "OPENAI_API_KEY": "sk-screenshot",
        }
        socket = root / "tmux.sock"
        subprocess.run(["tmux", "-S", str(socket), "-f", str(root / "tmux.conf"),
                        "start-server", ";", "new-session", "-d", "-s", "keep", "sleep 600"],
                       env=env, check=True)
        try:
            if not shots or "session" in shots or "threads" in shots:
                shoot(Pane(socket, env, "session"), Pane(socket, env, "threads"), root / "work",
                      server)
            if not shots or "attach" in shots:
                shoot_attach(Pane(socket, env, "attach"), root / "work", server)
            if not shots or "paste" in shots:
                shoot_paste(Pane(socket, env, "paste"), root / "work")
            if not shots or "vi" in shots:
                shoot_vi(Pane(socket, env, "vi"), root)
            if not shots or "math" in shots:
                shoot_math(Pane(socket, env, "math"), root / "work", server)
            if not shots or "editor" in shots:
                shoot_editor(Pane(socket, env, "editor"), root / "work")
            if not shots or "meter" in shots:
                shoot_meter(Pane(socket, env, "meter"), root, server)
        finally:
            subprocess.run(["tmux", "-S", str(socket), "kill-server"], env=env,
                           capture_output=True)
            server.stop()


def shoot(first: Pane, second: Pane, cwd: Path, server: FakeOpenAI) -> None:
    # session.svg: a short exchange, then an answer with a heading, a list, code and a table
    server.queue(Reply(LIST_VS_TUPLE, pieces=20, delay=0.01),
                 Reply(CSV_TOTALS, pieces=80, delay=0.01))
    first.start(cwd, "-t", "python-help")
    first.wait_prompt(0)
    first.say("What's the difference between a list and a tuple?", 2)
    first.say("sales.csv has region and amount columns. How do I total amount per region?", 4)
    save(first.capture(), HERE / "session.svg", first.rows)
    first.quit()

    # threads.svg: a few threads, a /switch to a new one, a /switch back, /list
    server.queue(Reply(REGEX, pieces=6, delay=0.01), Reply(DOLOMITES, pieces=20, delay=0.01),
                 Reply(LASAGNA, pieces=10, delay=0.01))
    subprocess.run([str(CHATREPL), "-t", "regex", "-m", "gpt-4o", "What matches an ISO date?"],
                   env=first.env, cwd=cwd, stdin=subprocess.DEVNULL, capture_output=True,
                   check=True)
    second.start(cwd, "-t", "hiking")
    second.wait_prompt(0)
    second.say("Plan a three-day hut-to-hut hike in the Dolomites", 2)
    second.tmux("send-keys", "-t", second.name, "C-l")  # a clear screen for the picture
    second.wait(lambda lines: lines[0].startswith("❯"), "a cleared screen")
    second.say("/switch groceries", 0)
    second.say("Shopping list for a vegetarian lasagna, please", 2)
    second.say("/switch hiking", 2)
    second.say("/list", 2)
    save(second.capture(), HERE / "threads.svg", second.rows)
    second.quit()


def shoot_attach(pane: Pane, cwd: Path, server: FakeOpenAI) -> None:
    """attach.svg: two files attached to a question, one line each, and the answer."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\0" + bytes([40, 90, 160]) * 320 for _ in range(200))
    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 320, 200, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b""))
    (cwd / "revenue-chart.png").write_bytes(png)
    (cwd / "notes.txt").write_text("Q4: launch slipped to January.\n" * 40)
    server.queue(Reply(CHART, pieces=20, delay=0.01))
    pane.start(cwd, "-t", "quarterly")
    pane.wait_prompt(0)
    pane.say("/attach revenue-chart.png notes.txt", 0)
    pane.say("What does this chart show, given my notes?", 2)
    save(pane.capture(), HERE / "attach.svg", pane.rows)
    pane.quit()


PASTED = """\
Why does this fail?
Traceback (most recent call last):
  File "report.py", line 12, in <module>
    total += row["amount"]
TypeError: unsupported operand type(s) for +=: 'int' and 'str'"""


def shoot_paste(pane: Pane, cwd: Path) -> None:
    """paste.svg: five lines pasted without bracketed paste (tmux paste-buffer without -p, each
    line end an Enter), waiting in the prompt as one message: nothing sent."""
    pane.start(cwd, "-t", "debugging")
    pane.wait_prompt(0)
    (cwd / "pasted.txt").write_text(PASTED)
    pane.tmux("load-buffer", str(cwd / "pasted.txt"))
    pane.tmux("paste-buffer", "-t", pane.name)  # no -p
    pane.wait(lambda lines: any("TypeError" in line for line in lines), "the paste")
    time.sleep(0.5)
    pane.wait(lambda lines: "0 messages" in lines[-1], "nothing sent")
    save(pane.capture(), HERE / "paste.svg", pane.rows)
    pane.tmux("send-keys", "-t", pane.name, "C-c")
    pane.quit()


def shoot_vi(pane: Pane, root: Path) -> None:
    """vi.svg: editing_mode = "vi", a message typed, Escape: NORMAL in the bar."""
    config = root / "config-vi"
    (config / "chatrepl").mkdir(parents=True)
    (config / "chatrepl" / "config.toml").write_text('editing_mode = "vi"\n')
    pane.start(root / "work", "-t", "vi-keys", env={"XDG_CONFIG_HOME": str(config)})
    pane.wait(lambda lines: "INSERT · vi-keys" in lines[-1], "INSERT in the bar")
    pane.tmux("send-keys", "-t", pane.name, "-l", "Summarise this thread in three bullets")
    pane.tmux("send-keys", "-t", pane.name, "Escape")
    pane.tmux("send-keys", "-t", pane.name, "-l", "bb")
    pane.wait(lambda lines: "NORMAL · vi-keys" in lines[-1], "NORMAL in the bar")
    time.sleep(0.3)
    save(pane.capture(), HERE / "vi.svg", pane.rows)
    pane.tmux("send-keys", "-t", pane.name, "C-c")
    pane.quit()


MATH = r"""The variance is the mean squared distance from the mean $\mu$:

$$\sigma^2 = \frac{1}{n}\sum_{i=1}^n (x_i - \mu)^2$$

For a rotation by $\theta$ the matrix is

$$R = \begin{pmatrix} \cos\theta & -\sin\theta \\ \sin\theta & \cos\theta \end{pmatrix}$$

and $\alpha^2 + \frac{1}{2} \leq \sqrt{x}$ holds for $x \geq 1$. Prices stay text: $5 and $10."""


def shoot_math(pane: Pane, cwd: Path, server: FakeOpenAI) -> None:
    """math.svg: an answer with inline and display TeX, shown as Unicode (money stays text)."""
    server.queue(Reply(MATH, pieces=30, delay=0.01))
    pane.start(cwd, "-t", "stats")
    pane.wait_prompt(0)
    pane.say("What is the variance, and what does a 2D rotation matrix look like?", 2)
    save(pane.capture(), HERE / "math.svg", pane.rows)
    pane.quit()


def shoot_editor(pane: Pane, cwd: Path) -> None:
    """editor.svg: Ctrl-X Ctrl-E opens the message being typed in $EDITOR (vim here)."""
    (cwd / "vimrc").write_text("set nocompatible\nsyntax off\nset laststatus=2\n")
    pane.start(cwd, "-t", "drafts", env={"EDITOR": f"vim -u {cwd / 'vimrc'} -i NONE"})
    pane.wait_prompt(0)
    pane.tmux("send-keys", "-t", pane.name, "-l", "Review this plan: first")
    pane.tmux("send-keys", "-t", pane.name, "C-x", "C-e")
    pane.wait(lambda lines: lines[0].startswith("Review this plan: first")
              and any("chatrepl-edit" in line for line in lines), "the editor open")
    pane.tmux("send-keys", "-t", pane.name, "-l", "A")  # append, as a user would go on writing
    pane.tmux("send-keys", "-t", pane.name, "-l", ", migrate the store\n- then the readers\n")
    time.sleep(0.5)
    save(pane.capture(), HERE / "editor.svg", pane.rows)
    pane.tmux("send-keys", "-t", pane.name, "Escape")
    pane.tmux("send-keys", "-t", pane.name, "-l", ":q!\r")  # not saved: the prompt as it was
    pane.wait(lambda lines: any(line.startswith("❯ Review this plan: first") for line in lines),
              "the prompt back")
    pane.tmux("send-keys", "-t", pane.name, "C-c")
    pane.quit()


def shoot_meter(pane: Pane, root: Path, server: FakeOpenAI) -> None:
    """meter.svg: a thread near its model's window (made small in the config), then a long
    question being typed: the meter turns yellow and names the earlier turn it would leave out."""
    config = root / "config-meter"
    (config / "chatrepl").mkdir(parents=True)
    (config / "chatrepl" / "config.toml").write_text('[context_sizes]\n"gpt-4o" = 400\n')
    server.queue(Reply(LIST_VS_TUPLE, pieces=20, delay=0.01),
                 Reply(CSV_TOTALS, pieces=80, delay=0.01))
    pane.start(root / "work", "-t", "budget", "-m", "gpt-4o",
               env={"XDG_CONFIG_HOME": str(config)})
    pane.wait_prompt(0)
    pane.say("What's the difference between a list and a tuple?", 2)
    pane.say("sales.csv has region and amount columns. How do I total amount per region?", 4)
    pane.tmux("send-keys", "-t", pane.name, "-l", QUESTION)
    pane.wait(lambda lines: "next: " in lines[-1], "the meter's warning")
    time.sleep(0.3)
    save(pane.capture(), HERE / "meter.svg", pane.rows)
    pane.tmux("send-keys", "-t", pane.name, "C-c")
    pane.quit()


QUESTION = ("Now the same for a 2 GB file that does not fit in memory, with the regions sorted "
            "by name, the totals in a second file, and a line at the end that adds them all up")


if __name__ == "__main__":
    main(sys.argv[1:])
