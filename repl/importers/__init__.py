"""Pure conversions of files people bring into threads: an OpenAI messages array, ChatGPT's
``conversations.json`` and chatrepl's own markdown export. The format is told by the content.

  __init__   decode, parse (which format is it?), the errors that describe what a file is
  common     ImportedThread, ImportFormatError, the words for what was left out
  messages   the messages array;  chatgpt   conversations.json;  markdown   chatrepl's export
"""

from __future__ import annotations

import codecs
import json
import re

from repl.export import MARKER
from repl.importers.chatgpt import from_chatgpt
from repl.importers.common import (
    EXPECTED,
    ImportedThread,
    ImportFormatError,
    bounded_json,
    counted,
    describe_left_out,
    error,
    without_references,
)
from repl.importers.markdown import from_markdown, has_markers
from repl.importers.messages import from_messages, from_wrapper

__all__ = ["EXPECTED", "ImportFormatError", "ImportedThread", "counted", "decode",
           "describe_left_out", "parse", "without_references"]

_JSON_START = re.compile(r'[\[{]\s*(?:["\[{\]}\d-]|true|false|null|$)')  # not "[a link](...)"


def decode(data: bytes, *, filename: str = "") -> str:
    """The text of a file: UTF-8, with or without a BOM, or UTF-16 with a BOM (PowerShell's
    ``>``). Read files as bytes and decode here: text mode would fold ``\\r\\n`` in content."""
    encoding = "utf-16" if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) \
        else "utf-8-sig"
    try:
        return data.decode(encoding)
    except UnicodeDecodeError:
        raise error(filename, "is not UTF-8 text (is it a binary file?)") from None


def parse(text: str, *, filename: str = "") -> list[ImportedThread]:
    """The threads in ``text``; ``filename`` is only for error messages."""
    text = text.removeprefix("\ufeff")
    stripped = text.strip()
    if not stripped:
        raise error(filename, "is empty")
    if _JSON_START.match(stripped):
        try:
            data = bounded_json(stripped, filename)
        except json.JSONDecodeError as e:
            if not has_markers(text):
                where = f"line {e.lineno}, column {e.colno}: {e.msg}"
                raise error(filename, f"is not valid JSON ({where})") from None
        else:
            return _from_json(data, filename)
    if has_markers(text):
        return [from_markdown(text, filename)]
    raise error(filename, _what_it_is(text))


def _what_it_is(text: str) -> str:
    if "\0" in text:
        return "is not a text file"
    if text.startswith("---") and re.search(r"^thread: ", text, re.MULTILINE):
        return ("is a markdown export from an older chatrepl, without the "
                f"{MARKER}message ...--> markers that make it readable; export it again")
    return f"is neither JSON nor markdown with chatrepl's {MARKER}message ...--> markers"


def _from_json(data: object, filename: str) -> list[ImportedThread]:
    if isinstance(data, dict) and "mapping" in data:
        return [from_chatgpt(data, 1, filename)]
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        return [from_wrapper(data, filename)]
    if isinstance(data, list) and data:
        first = data[0]
        if isinstance(first, dict) and "mapping" in first:
            return [from_chatgpt(c, i, filename) for i, c in enumerate(data, 1)]
        if isinstance(first, dict) and "role" in first:
            return [from_messages(data, filename)]
    if data == []:
        raise error(filename, "is an empty JSON list: there is nothing to import")
    raise error(filename, f"is JSON of a shape chatrepl does not know ({_describe(data)})")


def _describe(data: object) -> str:
    if data == {}:
        return "an empty object"
    if isinstance(data, dict):
        keys = ", ".join(json.dumps(k, ensure_ascii=False) for k in list(data)[:5])
        return f"an object with keys {keys}" + (", ..." if len(data) > 5 else "")
    if isinstance(data, list):
        return f"a list whose first item is {_describe_item(data[0])}"
    return _describe_item(data)


def _describe_item(item: object) -> str:
    if isinstance(item, dict):
        return "an object without a role or mapping"
    return {str: "a string", bool: "a boolean", type(None): "null", list: "a list"}.get(
        type(item), "a number")
