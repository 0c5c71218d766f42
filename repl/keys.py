"""Key bindings: Enter sends; Alt-Enter and Ctrl-J insert a newline; Ctrl-C clears the line.
(Ctrl-Z suspends, like a shell: the prompts' ``enable_suspend``.)"""

from __future__ import annotations

from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent


def bindings() -> KeyBindings:
    kb = KeyBindings()

    @kb.add("enter")
    def _send(event: KeyPressEvent) -> None:
        event.current_buffer.validate_and_handle()

    @kb.add("escape", "enter")
    @kb.add("c-j")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return kb
