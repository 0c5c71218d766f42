"""Stored reasoning read again: collapsed in /history with the command that prints it, and
/reasoning [TURN] printing it whole, dimmed and made safe; never sent back."""

from __future__ import annotations

import asyncio

from fakeserver import FakeOpenAI, Reply
from harness import Session


def test_reasoning_is_collapsed_in_history_and_printed_by_reasoning(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    thought = "First I weigh the options.\nThen \x1b]52;c;eA==\x07 I pick the best one."

    async def go() -> None:
        s = await Session().start("t")
        server.queue(Reply("forty-two", reasoning=thought), Reply("plain"))
        await s.line("what is the answer?")
        await s.line("and now?")
        out = await s.line("/history")
        assert f"▸ reasoning ({len(thought):,} characters; /reasoning prints it)" in out
        out = await s.line("/reasoning 1")
        assert f"reasoning of turn 1 (gpt-4o-mini, {len(thought):,} characters)" in out
        assert "First I weigh the options.\nThen ␛]52;c;eA==␇ I pick the best one." in out
        assert "\x1b" not in out
        out = await s.line("/reasoning")
        assert "turn 2's answer has no stored reasoning" in out
        for bad in ("/reasoning 3", "/reasoning x"):
            out = await s.line(bad)
            assert out.startswith("error: ") and len(out.strip().splitlines()) == 1
        assert all(thought not in str(r) for r in server.requests)  # never sent
        await s.quit()

    asyncio.run(go())


def test_the_exports_hold_the_reasoning_and_bring_it_back() -> None:
    """Markdown gives it a section of its own after the answer; JSON a ``chatrepl`` mark beside
    the message (never sent: an import reads it back into the answer)."""
    import json

    from repl.export import to_json, to_markdown
    from repl.importers import parse
    from repl.thread import Message, ThreadInfo

    thought = "Weigh it.\n\n## not a heading of the export\n<!-- chatrepl:end -->\nThen answer."
    info = ThreadInfo("t")
    messages = [Message("user", "q"), Message("assistant", "forty-two", reasoning=thought),
                Message("user", "again"), Message("assistant", "plain")]
    md = to_markdown(info, messages, now=0.0)
    # collapsed by default, as a text file's content is: a <details> block, no heading
    assert "<details><summary>Reasoning (stored, never sent)</summary>\n\nWeigh it." in md
    assert "## Reasoning" not in md
    block = f"<details><summary>Reasoning (stored, never sent)</summary>\n\n{thought}\n\n</details>"
    older = md.replace(f'reasoning chars="{len(block)}" -->\n{block}',  # an older export's
                       f'reasoning chars="{len(thought)}" -->\n## Reasoning (stored, never '
                       f'sent)\n\n{thought}')
    assert older != md
    exported = json.loads(to_json(info, messages))
    assert exported[1] == {"role": "assistant", "content": "forty-two",
                           "chatrepl": {"reasoning": thought}}
    for text in (md, older, json.dumps(exported)):
        [thread] = parse(text)
        assert [(m.content, m.reasoning) for m in thread.messages] == [
            ("q", None), ("forty-two", thought), ("again", None), ("plain", None)]
        assert all("chatrepl" not in m.for_api() for m in thread.messages)
