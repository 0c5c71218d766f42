"""Continuing an answer cut short (/continue), pure: which answers can be, how the request asks
for the rest (the server continues the final assistant message, or an instruction asks the
model to), and the rest joined to what was there, with a repeated overlap left out as it streams.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from repl.thread import ERROR, INTERRUPTED, TRUNCATED, Message

# How an endpoint is asked for the rest ([endpoints.NAME] continue_as; docs/servers.md)
INSTRUCTION = "instruction"  # a user message asking to go on; the texts joined (OpenAI, default)
PREFILL = "prefill"  # the partial sent as the final assistant message, continued (llama-server)
VLLM = "vllm"  # the same, with vLLM's continue_final_message and add_generation_prompt false
MODES = (INSTRUCTION, PREFILL, VLLM)

CONTINUE_FINAL = "continue_final"  # the request setting vLLM's two fields are sent for

ASK = ("Your previous answer was cut off before it was finished. Continue it exactly where it "
       "stopped, from the next character: do not repeat anything already written, do not "
       "summarise it, add no preface and no comment.")

CUT_SHORT = (TRUNCATED, INTERRUPTED, ERROR)
MIN_OVERLAP = 8  # characters: a shorter repeat could be the text itself ("wor" + "rd")
MAX_OVERLAP = 400  # characters of the partial a repeat is looked for in


def cut_short(m: Message | None) -> bool:
    """Whether ``m`` is an answer that stopped early with some text to go on from."""
    return (m is not None and m.role == "assistant" and m.status in CUT_SHORT
            and bool(m.content.strip()) and not m.fields.get("tool_calls"))


def mode(configured: str, *, responses: bool) -> str:
    """How to ask: what the endpoint is configured for, except on the Responses API, which has
    no way to continue an output message (an instruction there)."""
    return INSTRUCTION if responses or configured not in MODES else configured


def lead(text: str, size: int = 60) -> str:
    """What is shown before the rest streams in, so that it reads on from it: the end of the
    partial's last line (from a word, ``…`` before it when cut), after its code fence if it
    stopped inside one."""
    lines = text.rstrip("\n").split("\n")
    last = lines[-1]
    if len(last) > size:
        cut = last[-size:]
        space = cut.find(" ")
        last = "…" + (cut[space + 1:] if 0 <= space < size - 10 else cut)
    fences = [line for line in lines[:-1] if line.lstrip().startswith(("```", "~~~"))]
    opened = fences[-1].strip() + "\n" if len(fences) % 2 else ""
    return opened + last


@dataclass(slots=True)
class Joining:
    """The rest of ``partial`` as it streams in: ``feed`` returns what of each piece is new
    (with an instruction, the model may begin by repeating the partial's end: that start is
    held back until it is known whether it repeats, then left out)."""

    partial: Message
    how: str = INSTRUCTION
    held: str = ""
    decided: bool = False

    @property
    def tail(self) -> str:
        return self.partial.content[-MAX_OVERLAP:]

    def messages(self, history: list[Message]) -> list[Message]:
        """The conversation to send: with the partial last, then the instruction if asked so."""
        return [*history, Message("user", ASK)] if self.how == INSTRUCTION else history

    @property
    def settings(self) -> dict[str, Any]:
        return {CONTINUE_FINAL: True} if self.how == VLLM else {}

    def feed(self, text: str) -> str:
        if self.decided or self.how != INSTRUCTION:
            return text
        self.held += text
        start = self.held.lstrip()
        if len(self.held) < MAX_OVERLAP and (not start or start in self.tail):
            return ""  # it may still be the partial's end, repeated
        return self.flush()

    def flush(self) -> str:
        """What is held, less the start that repeats the partial's end: at the first piece that
        cannot be a repeat any more, and when the stream ends."""
        if self.decided:
            return ""
        self.decided, held, self.held = True, self.held, ""
        repeat = overlap(self.partial.content, held)
        return held[repeat:]

    def joined(self, text: str) -> str:
        return self.partial.content + text

    def reasoning(self, thought: str) -> str | None:
        both = [t for t in (self.partial.reasoning or "", thought) if t]
        return "\n\n".join(both) or None


def overlap(before: str, after: str) -> int:
    """How much of the start of ``after`` repeats the end of ``before``: its longest start
    (after any leading whitespace) that ``before`` ends with, if at least MIN_OVERLAP long."""
    start = after.lstrip()
    gap = len(after) - len(start)
    for k in range(min(len(before), len(start), MAX_OVERLAP), MIN_OVERLAP - 1, -1):
        if before.endswith(start[:k]):
            return gap + k
    return 0
