"""The prompts a command may need besides the main one: a yes/no question, the line editor for
/edit, and the user's editor program. cli.py builds them (tests build them the same way) and
gives them to the Context; no command looks them up."""

from __future__ import annotations

import os
import shlex
import subprocess
import tempfile

from prompt_toolkit import PromptSession
from prompt_toolkit.formatted_text import StyleAndTextTuples
from prompt_toolkit.input import Input
from prompt_toolkit.layout.processors import Processor, Transformation, TransformationInput
from prompt_toolkit.layout.utils import explode_text_fragments
from prompt_toolkit.output import Output

from repl.errors import ConfigError
from repl.keys import Pastes, bindings, use_mode
from repl.render.terminal import normal_input
from repl.sanitize import BIDI, clean_line, stand_in


def continuation(width: int, line: int, wrap: int) -> str:
    return "… ".rjust(width)


class Visible(Processor):
    """What is being edited, with its bidi controls and line separators shown as <U+XXXX>
    (prompt_toolkit shows C0 and C1 controls as ^[ and <9b> itself): text put into a prompt
    (an imported question to /edit, a paste) cannot reorder what the terminal shows. The text
    itself is unchanged."""

    def apply_transformation(self, ti: TransformationInput) -> Transformation:
        if not any(BIDI.search(text) for _, text, *_ in ti.fragments):
            return Transformation(ti.fragments)
        shown: StyleAndTextTuples = []
        at = [0]  # at[i]: where source character i is shown
        for style, char, *_ in explode_text_fragments(ti.fragments):
            shown.append((style, stand_in(char) if BIDI.match(char) else char))
            at.append(at[-1] + len(shown[-1][1]))
        at.append(at[-1] + 1)  # the cursor may stand after the line

        def to_source(display: int) -> int:
            return max(i for i, shown_at in enumerate(at) if shown_at <= display)

        return Transformation(shown, source_to_display=lambda i: at[min(i, len(at) - 1)],
                              display_to_source=to_source)


class YesNo:
    """Ask a question; yes only for y or yes. Ctrl-C or Ctrl-D is a no. A question is asked as
    one clean line, whatever the names in it hold (a tool's, a thread's, a file's)."""

    def __init__(self, *, input: Input | None = None, output: Output | None = None) -> None:
        self.session: PromptSession[str] = PromptSession(input=input, output=output,
                                                         input_processors=[Visible()])

    async def __call__(self, question: str) -> bool:
        try:
            # handle_sigint=False: the running command keeps Ctrl-C (a key here, a signal there)
            answer = await self.session.prompt_async(clean_line(question), handle_sigint=False)
        except (KeyboardInterrupt, EOFError):
            return False
        return answer.strip().lower() in ("y", "yes")

    async def choose(self, question: str) -> str:
        """A tool call's question: "y", "n" or "a" (always); asked again, saying so, until it
        is one of them; Ctrl-C or Ctrl-D: "" (stop)."""
        question = asked = clean_line(question)
        while True:
            try:
                answer = await self.session.prompt_async(asked, handle_sigint=False)
            except (KeyboardInterrupt, EOFError):
                return ""
            word = answer.strip().lower()
            if word in ("y", "yes", "n", "no", "a", "always"):
                return word[0]
            asked = f"(answer y, n or a, then Enter) {question}"  # never asked again unsaid


class LineEditor:
    """Let the user edit a text in a prompt prefilled with it (keys as at the main prompt, vi's
    with ``mode="vi"``; a paste stays in it)."""

    def __init__(self, *, input: Input | None = None, output: Output | None = None,
                 mode: str = "emacs") -> None:
        pastes = Pastes()
        self.session: PromptSession[str] = PromptSession(
            input=input, output=output, key_bindings=bindings(pastes=pastes), multiline=True,
            prompt_continuation=continuation, enable_suspend=True, input_processors=[Visible()])
        pastes.watch(self.session.app)
        use_mode(self.session, mode)

    async def __call__(self, text: str) -> str | None:
        try:
            return await self.session.prompt_async([("bold", "edit❯ ")], default=text,
                                                   handle_sigint=False)
        except (KeyboardInterrupt, EOFError):
            return None


class ExternalEditor:
    """Edit a text in the user's editor program (``command``, split like a shell would)."""

    def __init__(self, command: str) -> None:
        self.command = command

    def __call__(self, text: str) -> str | None:
        fd, path = tempfile.mkstemp(prefix="chatrepl-edit-", suffix=".md")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            with normal_input():
                status = subprocess.run([*shlex.split(self.command), path]).returncode
            if status != 0:
                return None
            with open(path, encoding="utf-8") as f:
                return f.read().rstrip("\n")
        except (OSError, ValueError) as e:
            why = e.strerror if isinstance(e, OSError) else str(e)
            raise ConfigError(f"cannot run the editor {self.command!r}: {why}") from None
        finally:
            os.unlink(path)
