"""Streaming-markdown render cost: chatrepl's block renderer against two baselines.

Run: python benchmarks/render.py. Realistic answers (headings, lists, fenced code, a table, long
paragraphs; ~4 characters a token) of 2,000 and 8,000 tokens stream at 100 tok/s, 2,000 tok/s and
unthrottled into a 100-column terminal-like sink (a real rich Console with a 256-colour terminal,
writing to /dev/null). Time is simulated so that an 80-second stream does not take 80 seconds: a
token arrives at i/rate or when the renderer is free again, whichever is later, and every call is
timed for real, so CPU and lag are what this machine spends.

Renderers:
  naive    rich Live(Markdown(text)) updated on every token, refreshed 4 times a second
  stable   aider-style: re-render the whole answer (at most 20 fps), print lines that stopped
           changing to scrollback, keep the last few live
  chatrepl repl.render.stream.MarkdownStream: finished blocks once, only the open block live
           (at most 30 fps)

Last, a math-heavy answer (inline and display TeX, matrices, money) through chatrepl's renderer
with math shown as Unicode and with ``math = false``: what the conversion costs.

Usage: python benchmarks/render.py [naive] [stable] [chatrepl]   (default: all three)
"""

from __future__ import annotations

import io
import os
import random
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.markdown import Markdown

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
from repl.render.stream import MarkdownStream

WIDTH, HEIGHT = 100, 40
WORDS = ("the of and to in is that for it as with was on be by this are from or have an which "
         "stream render token block terminal answer model context latency buffer parser output "
         "function value return request server client thread message history commit").split()


def answer(tokens: int, seed: int = 1) -> str:
    """A realistic markdown answer of about ``tokens`` tokens (~4 characters each)."""
    rnd = random.Random(seed)

    def sentence() -> str:
        words = [rnd.choice(WORDS) for _ in range(rnd.randint(8, 20))]
        return " ".join(words).capitalize() + "."

    parts: list[str] = []
    n = 0
    while sum(map(len, parts)) < tokens * 4:
        n += 1
        parts.append(f"## Section {n}\n\n" + " ".join(sentence() for _ in range(6)))
        parts.append("\n".join(f"- **{rnd.choice(WORDS)}**: {sentence()}" for _ in range(4)))
        parts.append("```python\n" + "\n".join(
            f"def {rnd.choice(WORDS)}_{i}(x):\n    return x * {i}  # {rnd.choice(WORDS)}"
            for i in range(5)) + "\n```")
        if n % 2:
            parts.append("| name | value | note |\n|---|---|---|\n" + "\n".join(
                f"| {rnd.choice(WORDS)} | {i} | {rnd.choice(WORDS)} |" for i in range(5)))
        parts.append(" ".join(sentence() for _ in range(8)))
    text = "\n\n".join(parts)
    return text[: tokens * 4]


def math_answer(tokens: int, seed: int = 1) -> str:
    """An answer of about ``tokens`` tokens that is mostly formulas, as a maths tutor's is."""
    rnd = random.Random(seed)
    parts: list[str] = []
    n = 0
    while sum(map(len, parts)) < tokens * 4:
        n += 1
        words = " ".join(rnd.choice(WORDS) for _ in range(30))
        parts.append(f"## Step {n}\n\nLet $x_{{{n}}} = \\alpha^{{{n}}} + \\frac{{1}}{{{n}}}$ and "
                     f"\\(\\sum_{{i=1}}^{{{n}}} i\\); it costs $5 and $10. {words}")
        parts.append(f"$$\n\\int_0^{{{n}}} x^2\\,dx = \\frac{{{n}^3}}{{3}}\n$$")
        parts.append(f"$$\nA = \\begin{{pmatrix}} {n} & 0 \\\\ 0 & 1 \\end{{pmatrix}}\n$$")
    return "\n\n".join(parts)[: tokens * 4]


def tokenize(text: str) -> list[str]:
    return [text[i:i + 4] for i in range(0, len(text), 4)]


class Sink(io.TextIOBase):
    """A terminal-like sink: accepts what a terminal would get and counts it."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, s: str) -> int:
        self.bytes += len(s)
        return len(s)

    def isatty(self) -> bool:
        return True


def console() -> Console:
    return Console(file=Sink(), force_terminal=True, width=WIDTH, height=HEIGHT,
                   color_system="256")


# -- the renderers, each with feed(text, now) -> painted?, tick(now) -> painted?, finish() -------

class Naive:
    interval = 0.25

    def __init__(self) -> None:
        self.text = ""
        self.live = Live(console=console(), auto_refresh=False)
        self.live.start()
        self.last = -1.0

    def feed(self, token: str, now: float) -> bool:
        self.text += token
        self.live.update(Markdown(self.text))
        return self.tick(now)

    def tick(self, now: float) -> bool:
        if now - self.last >= self.interval:
            self.live.refresh()
            self.last = now
            return True
        return False

    def finish(self) -> None:
        self.live.refresh()
        self.live.stop()


class Stable:
    interval = 1 / 20
    live_lines = 6

    def __init__(self) -> None:
        self.text = ""
        self.console = console()
        self.live = Live(console=self.console, auto_refresh=False)
        self.live.start()
        self.printed = 0
        self.last = -1.0
        self.dirty = False

    def feed(self, token: str, now: float) -> bool:
        self.text += token
        self.dirty = True
        return self.tick(now)

    def tick(self, now: float, final: bool = False) -> bool:
        if not self.dirty or (now - self.last < self.interval and not final):
            return False
        self.last, self.dirty = now, False
        lines = self.console.render_lines(Markdown(self.text), pad=False)
        stable = len(lines) if final else max(len(lines) - self.live_lines, 0)
        if stable > self.printed:
            from rich.segment import SegmentLines

            self.live.console.print(SegmentLines(lines[self.printed:stable], new_lines=True))
            self.printed = stable
        from rich.segment import SegmentLines

        self.live.update(SegmentLines(lines[self.printed:], new_lines=True), refresh=True)
        return True

    def finish(self) -> None:
        self.dirty = True
        self.tick(0, final=True)
        self.live.stop()


class Ours:
    def __init__(self, *, math: bool = True) -> None:
        self.now = 0.0
        self.stream = MarkdownStream(console(), clock=lambda: self.now, math=math)
        self.stream.start()

    def feed(self, token: str, now: float) -> bool:
        self.now = now
        before = self.stream._last_paint
        self.stream.feed(token)
        return self.stream._last_paint != before

    def tick(self, now: float) -> bool:
        self.now = now
        before = self.stream._last_paint
        if now - before >= self.stream.interval:
            self.stream.tick()
        return self.stream._last_paint != before

    def finish(self) -> None:
        self.stream.finish()


RENDERERS: dict[str, Callable[[], Naive | Stable | Ours]] = {
    "naive": Naive, "stable": Stable, "chatrepl": Ours}


@dataclass
class Result:
    cpu: float
    lag_p99: float | None
    throughput: float
    peak_kib: float


def run(make: Callable[[], Naive | Stable | Ours], tokens: list[str], rate: float | None,
        budget: float) -> Result | None:
    """Stream ``tokens`` at ``rate`` (None: as fast as possible) in simulated time."""
    renderer = make()
    tick_every = getattr(renderer, "interval", None) or getattr(
        getattr(renderer, "stream", None), "interval", 0.05)
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    now = 0.0  # simulated time: when the renderer is free again
    pending: list[float] = []  # arrival times of tokens not yet on screen
    lags: list[float] = []
    for i, token in enumerate(tokens):
        arrival = i / rate if rate else now
        # between tokens, the painter ticks at its frame rate while there is something to show
        while rate and pending and now + tick_every <= arrival:
            now += tick_every
            start = time.perf_counter()
            if renderer.tick(now):
                now += time.perf_counter() - start
                lags += [now - a for a in pending]
                pending.clear()
        now = max(now, arrival)
        start = time.perf_counter()
        painted = renderer.feed(token, now)
        now += time.perf_counter() - start
        pending.append(arrival)
        if painted:
            lags += [now - a for a in pending]
            pending.clear()
        if time.perf_counter() - wall0 > budget:
            renderer.finish()
            return None  # too slow to finish within the budget
    start = time.perf_counter()
    renderer.finish()
    now += time.perf_counter() - start
    lags += [now - a for a in pending]
    cpu = time.process_time() - cpu0
    lags.sort()
    p99 = lags[int(len(lags) * 0.99)] if rate else None
    return Result(cpu, p99, len(tokens) / cpu, 0.0)


def peak_memory(make: Callable[[], Naive | Stable | Ours], tokens: list[str]) -> float:
    tracemalloc.start()
    renderer = make()
    for i, token in enumerate(tokens):
        renderer.feed(token, i / 2000)
    renderer.finish()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1024


def main() -> None:
    budget = float(os.environ.get("BENCH_BUDGET", "60"))
    sizes = (2000, 8000)
    rates: tuple[float | None, ...] = (100.0, 2000.0, None)
    print(f"{'renderer':<9} {'tokens':>6} {'rate':>11} {'CPU s':>7} {'ms/token':>9} "
          f"{'lag p99':>9} {'tok/s (CPU)':>12}")
    cpu_at: dict[tuple[str, int, float | None], float] = {}
    chosen = {n: m for n, m in RENDERERS.items() if n in (sys.argv[1:] or RENDERERS)}
    for name, make in chosen.items():
        for size in sizes:
            tokens = tokenize(answer(size))
            for rate in rates:
                result = run(make, tokens, rate, budget)
                label = f"{rate:,.0f} tok/s" if rate else "unthrottled"
                if result is None:
                    print(f"{name:<9} {size:>6} {label:>11} {'> budget':>7}")
                    continue
                cpu_at[(name, size, rate)] = result.cpu
                lag = f"{result.lag_p99 * 1000:.1f} ms" if result.lag_p99 is not None else "-"
                print(f"{name:<9} {size:>6} {label:>11} {result.cpu:>7.3f} "
                      f"{result.cpu / len(tokens) * 1000:>9.3f} {lag:>9} "
                      f"{result.throughput:>12,.0f}")
    print()
    print(f"{'renderer':<9} {'CPU 8k/2k (2,000 tok/s)':>24} {'peak KiB 2k':>12} "
          f"{'peak KiB 8k':>12}")
    for name, make in chosen.items():
        small, big = cpu_at.get((name, 2000, 2000.0)), cpu_at.get((name, 8000, 2000.0))
        growth = f"{big / small:.1f}x" if small and big else "-"
        mem = [peak_memory(make, tokenize(answer(size))) if name != "naive" or size == 2000
               else float("nan") for size in sizes]
        print(f"{name:<9} {growth:>24} {mem[0]:>12,.0f} {mem[1]:>12,.0f}")
    if "chatrepl" in chosen:
        print()
        print(f"{'math':<9} {'tokens':>6} {'rate':>11} {'CPU s':>7} {'ms/token':>9} {'lag p99':>9}")
        tokens = tokenize(math_answer(8000))
        for shown, math in (("unicode", True), ("false", False)):
            result = run(lambda math=math: Ours(math=math), tokens, 2000.0, budget)
            if result is not None and result.lag_p99 is not None:
                print(f"{shown:<9} {8000:>6} {'2,000 tok/s':>11} {result.cpu:>7.3f} "
                      f"{result.cpu / len(tokens) * 1000:>9.3f} {result.lag_p99 * 1000:>6.1f} ms")


if __name__ == "__main__":
    main()
