"""Key bindings: Enter sends; Alt-Enter (emacs keys) and Ctrl-J insert a newline; Ctrl-X Ctrl-E
edits the message in the user's editor; Alt-Left and Alt-Right at an empty prompt step through the
last answer's versions; vi keys on request (``use_mode``). (Ctrl-C clears the
line and Ctrl-Z suspends, like a shell: the prompts' ``enable_suspend``.)

A paste into a terminal without bracketed paste arrives as keys, its line ends as Enters; an
Enter that more keys follow at once, or that ends such a burst, is a newline (``Pastes``).
"""

from __future__ import annotations

import select
import time
from collections.abc import Awaitable, Callable, Iterable

from prompt_toolkit import PromptSession
from prompt_toolkit.application import Application
from prompt_toolkit.application.current import get_app
from prompt_toolkit.enums import EditingMode
from prompt_toolkit.filters import Condition, emacs_mode
from prompt_toolkit.input import Input
from prompt_toolkit.input.typeahead import get_typeahead, store_typeahead
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.key_binding.key_processor import KeyPress, KeyProcessor
from prompt_toolkit.key_binding.vi_state import InputMode
from prompt_toolkit.keys import Keys

Editor = Callable[[str], Awaitable[str | None]]  # the text, edited; None: left as it was
# A burst's keys are handled a few microseconds apart; a person's, tens of milliseconds at best.
# A pause longer than this between two keys ends a paste (generous: a redraw may come between
# two reads of one paste).
PASTE_GAP = 0.05
# How long an Enter with nothing behind it looks for more keys: a paste cut by the link (SSH
# packets, a full terminal buffer) goes on within it; no person types this fast, none sees it.
GRACE = 0.005
ESCAPE_WAIT = 0.05  # vi: how long a lone Escape waits to be sure it starts no escape sequence


class Pastes:
    """Tells a paste without bracketed paste from typing, for the Enter key of one prompt.

    An Enter is part of a paste when more keys are already waiting behind it (read, or in the
    terminal's buffer), or when it ends a burst in which an Enter already was. A burst goes on
    from one read of the terminal to the next while more keys were waiting at the end of the
    first (so a busy machine pausing mid-paste does not end it), or when the next read's keys
    come within PASTE_GAP. Lines typed ahead while chatrepl was busy are waiting too when the
    prompt starts: those prompts send each line, as they always did.
    """

    def __init__(self) -> None:
        self._typed_ahead = False
        self._pasting = False
        self._more_behind = False  # at the last key handled: more keys were waiting
        self._last_key = 0.0
        self._input: Input | None = None

    def watch(self, app: Application[str]) -> None:
        self._input = app.input
        app.on_reset += self._start
        app.key_processor.before_key_press += self._key

    def _start(self, app: Application[str]) -> None:
        self._pasting = False
        self._typed_ahead = _waiting(app.input, _peek_typeahead(app.input))

    def _key(self, processor: KeyProcessor) -> None:
        now = time.monotonic()
        if not (self._more_behind or now - self._last_key <= PASTE_GAP):
            self._pasting = False
        self._last_key = now
        # only in a paste is the terminal asked (a typed key is never kept waiting)
        self._more_behind = bool(processor.input_queue) or (
            self._pasting and self._input is not None
            and _waiting(self._input, (), within=GRACE))

    def is_paste(self, app: Application[str]) -> bool:
        """Is the Enter being handled a line end inside a paste?"""
        if self._typed_ahead:
            return False
        if self._more_behind or _waiting(app.input, app.key_processor.input_queue, within=GRACE):
            self._pasting = True
        return self._pasting


def _peek_typeahead(input: Input) -> list[KeyPress]:
    keys = get_typeahead(input)
    store_typeahead(input, keys)
    return keys


def _waiting(input: Input, queued: Iterable[KeyPress], *, within: float = 0) -> bool:
    """Are keys waiting: among ``queued`` (read, not handled yet) or unread in the terminal
    (or arriving there ``within`` seconds)?"""
    # not the terminal's answers to cursor queries, nor the key processor's own flush marker
    if any(k.key != Keys.CPRResponse and (k.key, k.data) != ("?", "_Flush") for k in queued):
        return True
    try:
        return bool(select.select([input.fileno()], [], [], within)[0])
    except (OSError, ValueError, NotImplementedError):
        return False


def bindings(*, pastes: Pastes | None = None, editor: Editor | None = None,
             steps: bool = False) -> KeyBindings:
    """The keys of a prompt; ``pastes`` (watching its application) keeps a paste one message,
    ``editor`` is what Ctrl-X Ctrl-E runs on the text typed so far; with ``steps`` (the REPL's
    prompt), Alt-Left and Alt-Right at an empty prompt run STEPS."""
    kb = KeyBindings()

    @kb.add("enter")
    def _send(event: KeyPressEvent) -> None:
        if pastes is not None and pastes.is_paste(event.app):
            event.current_buffer.insert_text("\n")
        else:
            event.current_buffer.validate_and_handle()

    @kb.add("escape", "enter", filter=emacs_mode)  # in vi, Escape then Enter sends
    @kb.add("c-j")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    @kb.add("escape", "left", filter=_empty & Condition(lambda: steps))  # the version before
    @kb.add("escape", "right", filter=_empty & Condition(lambda: steps))  # the one after
    def _step(event: KeyPressEvent) -> None:
        # as if typed, but not kept in the input history
        event.app.exit(result=STEPS[event.key_sequence[-1].key])

    if editor is not None:
        edit = editor

        @kb.add("c-x", "c-e")
        async def _edit(event: KeyPressEvent) -> None:
            buffer = event.current_buffer
            text = await edit(buffer.text)
            if text is not None:
                buffer.text = text
                buffer.cursor_position = len(text)

    return kb


# the lines Alt-Left and Alt-Right run (at an empty prompt): /version's steps
STEPS: dict[Keys | str, str] = {Keys.Left: "/version -", Keys.Right: "/version +"}


@Condition
def _empty() -> bool:
    return not get_app().current_buffer.text


def use_mode(session: PromptSession[str], mode: str) -> None:
    """Give ``session`` the keys of the config's ``editing_mode``: emacs (prompt_toolkit's
    default) or vi, where Escape switches to NORMAL at once (no Alt-key binding waits on it,
    and an escape sequence from the terminal arrives within ESCAPE_WAIT)."""
    if mode == "vi":
        session.editing_mode = EditingMode.VI
        session.app.ttimeoutlen = ESCAPE_WAIT


VI_MODES = {InputMode.INSERT: "INSERT", InputMode.INSERT_MULTIPLE: "INSERT",
            InputMode.NAVIGATION: "NORMAL", InputMode.REPLACE: "REPLACE",
            InputMode.REPLACE_SINGLE: "REPLACE"}


def vi_mode(app: Application[str]) -> str:
    """What the bar says of vi's mode: INSERT, NORMAL, VISUAL or REPLACE."""
    if app.current_buffer.selection_state is not None:
        return "VISUAL"
    return VI_MODES.get(app.vi_state.input_mode, "NORMAL")
