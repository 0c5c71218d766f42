"""Importing threads: the messages array, ChatGPT's conversations.json, chatrepl's markdown export,
and a clear one-line error for everything else."""

from __future__ import annotations

import asyncio
import codecs
import json
import subprocess
import sys
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest
from fakeserver import FakeOpenAI, Reply
from harness import Session
from hypothesis import given, settings
from hypothesis import strategies as st

from repl import window
from repl.errors import ChatreplError
from repl.export import api_messages, system_head, to_json, to_markdown
from repl.importers import ImportedThread, ImportFormatError, decode, describe_left_out, parse
from repl.thread import INTERRUPTED, Message, ThreadInfo

FIXTURES = Path(__file__).parent / "fixtures"


def load(name: str) -> list[ImportedThread]:
    return parse(decode((FIXTURES / name).read_bytes()), filename=name)


def turns(thread: ImportedThread) -> list[tuple[str, str]]:
    return [(m.role, m.content) for m in thread.messages]


def assert_import_error(text: str, *needles: str, filename: str = "x.json") -> str:
    with pytest.raises(ImportFormatError) as caught:
        parse(text, filename=filename)
    message = str(caught.value)
    assert isinstance(caught.value, ChatreplError)
    assert "\n" not in message
    assert message.startswith(filename or "the file")
    assert "expected a JSON messages array" in message
    for needle in needles:
        assert needle in message
    return message


# == the messages array ============================================================================

def test_messages_array_fixture() -> None:
    [thread] = load("chat_history.json")
    assert thread.name is None
    assert thread.model is None
    assert thread.system == "You are a careful code reviewer. Answer in British English."
    assert turns(thread) == [
        ("user", "Why does `sorted(d)` give me the keys and not the values?"),
        ("assistant", "Iterating over a dict yields its keys, so `sorted(d)` sorts the keys. Use "
                      "`sorted(d.values())` for the values, or `sorted(d.items())` for pairs."),
        ("user", "And what is wrong in this screenshot?\n\nIt raises TypeError on the last line."),
        ("assistant", ""),
        ("tool", "TypeError: '<' not supported between instances of 'str' and 'int'"),
        ("assistant", "The keys mix `int` and `str`, and Python 3 will not order those against "
                      "each other.\n\n```python\nsorted(d, key=str)\n```\n"),
    ]  # the image part, the tool call (content null) and the tool result are kept whole:
    array = json.loads((FIXTURES / "chat_history.json").read_text())
    assert [m.for_api() for m in thread.messages] == array[1:]
    assert describe_left_out(thread.left_out) == ""
    assert all(m.status is None and m.created_at == 0.0 for m in thread.messages)


def test_messages_array_keeps_every_system_message_but_a_plain_first_one() -> None:
    array = [
        {"role": "system", "content": "One."},
        {"role": "developer", "content": [{"type": "text", "text": "Two."}]},
        {"role": "user", "content": "hi"},
        {"role": "system", "content": "Mid-conversation note"},
        {"role": "function", "name": "f", "content": "{}"},
        {"role": "assistant", "content": ""},
        {"role": "assistant", "content": "hello"},
    ]
    [thread] = parse(json.dumps(array))
    assert thread.system == "One."
    assert [m.for_api() for m in thread.messages] == array[1:]
    assert thread.messages[0].content == "Two."


def test_messages_array_without_system_or_messages() -> None:
    [thread] = parse('[{"role": "user", "content": "only me"}]')
    assert thread.system is None
    assert turns(thread) == [("user", "only me")]
    [empty] = parse('[{"role": "system", "content": "Be terse."}]')
    assert (empty.system, empty.messages) == ("Be terse.", [])


def test_chatrepl_json_export_parses_back() -> None:
    info = ThreadInfo("t", model="m", system="Be terse.")
    msgs = [Message("user", "2+2?"), Message("assistant", "4\n")]
    [thread] = parse(to_json(info, msgs))
    assert thread.system == "Be terse."
    assert turns(thread) == [("user", "2+2?"), ("assistant", "4\n")]


def test_to_json_is_still_exactly_the_messages_array() -> None:
    info = ThreadInfo("t", model="m", system="Be terse.", created_at=5.0)
    msgs = [Message("user", "2+2?", created_at=6.0, model="m"),
            Message("assistant", "4", model="m", status=INTERRUPTED)]
    assert json.loads(to_json(info, msgs)) == api_messages(info, msgs) == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "2+2?"},
        {"role": "assistant", "content": "4"},
    ]


# == ChatGPT's conversations.json ==================================================================

def test_chatgpt_export_fixture_gives_one_thread_per_conversation() -> None:
    first, second = load("conversations.json")
    assert first.name == "asyncio: gather と TaskGroup ✨"
    assert second.name == "Trip to Zürich — packing list 🧳"
    assert first.created_at == 1718000000.0
    assert second.created_at == 1719500000.5


def test_chatgpt_follows_the_current_branch() -> None:
    thread = load("conversations.json")[0]
    # Q1 was answered twice (the regenerated answer is on screen) and the second question was
    # edited, then the user flipped back to its first version: neither the first nor the last
    # child at each fork, but the parents of current_node.
    assert [m.content[:12] for m in thread.messages] == [
        "asyncio.gath", "どちらも複数のコルーチン", "例を見せて", "```python\nas"]
    assert [m.role for m in thread.messages] == ["user", "assistant", "user", "assistant"]
    assert [m.created_at for m in thread.messages] == [
        1718000005.0, 1718000060.0, 1718000120.0, 1718000125.0]
    assert thread.model == "gpt-4o"  # not gpt-4 (the replaced answer) or gpt-4o-mini (the edit)
    assert thread.messages[1].model == "gpt-4o"
    assert thread.system is None  # the hidden, empty system node of the real exports


def test_chatgpt_keeps_text_code_and_tools_notes_images_and_skips_hidden_context() -> None:
    thread = load("conversations.json")[1]
    assert thread.system == "You are a travel assistant. Keep lists short."
    note = "[image not in the export: file-9XyZ, 1024x768]"
    assert turns(thread) == [
        ("user", f"{note}\n\nWhat should I pack for Zürich in March? This is my suitcase."),
        ("assistant", ""),
        ("tool", "avg 7°C, rain 10 days"),
        ("assistant", "Zürich in March averages about 7 °C with frequent rain:\n\n"
                      "1. Waterproof jacket\n2. Warm layers\n3. Comfortable boots\n"),
        ("user", "And for hiking?"),
        ("assistant", "For hiking, add trekking poles and"),
    ]
    assert thread.messages[0].parts == (
        {"type": "text", "text": note},
        {"type": "text", "text": "What should I pack for Zürich in March? This is my suitcase."})
    [call] = thread.messages[1].fields["tool_calls"]
    assert call["function"] == {"name": "python",
                                "arguments": json.dumps({"code": "weather('Zürich', month=3)"})}
    assert thread.messages[2].fields == {"tool_call_id": call["id"]}  # a valid request
    assert [m.status for m in thread.messages] == [None] * 5 + [INTERRUPTED]
    assert thread.model == "gpt-4o"  # the last answer's model, not the conversation's "auto"
    assert describe_left_out(thread.left_out) == ""  # the hidden custom instructions: skipped


def _node(key: str, parent: str | None, children: list[str], role: str | None = None,
          text: str = "", **meta: object) -> dict[str, object]:
    message = None if role is None else {
        "id": key, "author": {"role": role}, "create_time": None, "metadata": meta,
        "content": {"content_type": "text", "parts": [text]}}
    return {"id": key, "message": message, "parent": parent, "children": children}


def _conversation(*nodes: dict[str, object], current: str | None = None,
                  title: object = "t") -> dict[str, object]:
    return {"title": title, "create_time": 1.5, "current_node": current,
            "mapping": {str(n["id"]): n for n in nodes}}


def test_chatgpt_single_conversation_object() -> None:
    conversation = _conversation(_node("r", None, ["u"]), _node("u", "r", ["a"], "user", "hi"),
                                 _node("a", "u", [], "assistant", "yo", model_slug="o3"),
                                 current="a", title="  Greetings  ")
    [thread] = parse(json.dumps(conversation))
    assert (thread.name, thread.model, thread.created_at) == ("Greetings", "o3", 1.5)
    assert turns(thread) == [("user", "hi"), ("assistant", "yo")]


def test_chatgpt_without_current_node_takes_the_latest_answer_at_each_fork() -> None:
    conversation = _conversation(
        _node("r", None, ["u"]), _node("u", "r", ["a1", "a2"], "user", "hi"),
        _node("a1", "u", [], "assistant", "first"), _node("a2", "u", [], "assistant", "second"))
    [thread] = parse(json.dumps([conversation]))
    assert turns(thread) == [("user", "hi"), ("assistant", "second")]


def test_chatgpt_skips_empty_hidden_and_late_system_messages() -> None:
    conversation = _conversation(
        _node("s", None, ["u"], "system", "Be kind."),
        _node("u", "s", ["h"], "user", "hi"),
        _node("h", "u", ["e"], "assistant", "secret", is_visually_hidden_from_conversation=True),
        _node("e", "h", ["x"], "assistant", "  "),
        _node("x", "e", ["a"], "system", "late system note"),
        _node("a", "x", [], "assistant", "hello"), current="a", title=None)
    [thread] = parse(json.dumps([conversation]))
    assert thread.name is None
    assert thread.system == "Be kind."
    assert turns(thread) == [("user", "hi"), ("assistant", "hello")]


def test_chatgpt_conversation_without_messages_is_an_empty_thread() -> None:
    [thread] = parse(json.dumps([_conversation(_node("r", None, []), current="r")]))
    assert thread.messages == [] and thread.name == "t"


def test_chatgpt_counts_tool_use_and_reasoning_it_leaves_out() -> None:
    def shown(key: str, parent: str, child: str, role: str, content_type: str,
              recipient: str = "all") -> dict[str, object]:
        node = _node(key, parent, [child], role)
        node["message"] = {"author": {"role": role}, "recipient": recipient,
                           "content": {"content_type": content_type, "parts": []}}
        return node

    conversation = _conversation(
        _node("u", None, ["t"], "user", "weather?"),
        shown("t", "u", "r", "assistant", "thoughts"),
        shown("r", "t", "c", "assistant", "reasoning_recap"),
        shown("c", "r", "o", "assistant", "text", recipient="browser"),
        shown("o", "c", "a", "tool", "tether_browsing_display"),
        _node("a", "o", [], "assistant", "sunny"), current="a")
    [thread] = parse(json.dumps([conversation]))
    assert turns(thread) == [("user", "weather?"), ("assistant", ""), ("tool", ""),
                             ("assistant", "sunny")]
    assert thread.messages[1].fields["tool_calls"][0]["function"]["name"] == "browser"
    assert describe_left_out(thread.left_out) == "1 reasoning message"


def test_chatgpt_loop_in_parents_is_an_error() -> None:
    conversation = _conversation(_node("a", "b", [], "user", "x"),
                                 _node("b", "a", [], "assistant", "y"), current="a")
    assert_import_error(json.dumps([conversation]), 'conversation 1 ("t")', "loop")


def test_chatgpt_conversation_without_mapping_is_an_error() -> None:
    conversation = _conversation(_node("r", None, []), current="r")
    assert_import_error(json.dumps([conversation, {"title": "no mapping"}]),
                        "conversation 2 without a mapping")


# == chatrepl's markdown export ====================================================================

def test_markdown_fixture() -> None:
    [thread] = load("chatrepl_export.md")
    assert thread.name == "release notes"
    assert thread.model == "gpt-4o"
    assert thread.system == "You write terse release notes.\n\nNo emoji."
    assert thread.created_at == 1767225600.0
    assert turns(thread) == [
        ("user", "Draft notes for 2.0. My outline:\n\n## User\n- import\n\n"
                 "## Assistant (gpt-4o)\n- export\n"),
        ("assistant", 'Here is a draft:\n\n```markdown\n## 2.0\n\n<!-- chatrepl:message '
                      'role="user" chars="3" -->\n- Import threads\n```\n\n'),
        ("user", "Shorter, and keep the fence open at the end:"),
        ("assistant", "```\n## 2.0\n- import, export"),
    ]
    assert [m.model for m in thread.messages] == [None, "gpt-4o", None, "gpt-4o-mini"]
    assert [m.status for m in thread.messages] == [None, None, None, INTERRUPTED]
    assert [m.created_at for m in thread.messages] == [
        1767225660.0, 1767225671.5, 1767225700.0, 1767225705.25]


AWKWARD = [
    "",
    "\n",
    "ends with blank lines\n\n\n",
    "## User\n\nnot a new message\n## Assistant (gpt-4o)\n",
    "```\nopen fence",
    "<!-- chatrepl:end -->",
    '\n<!-- chatrepl:message role="user" chars="0" -->\n## User\n\n',
    "*(interrupted)*",
    "---\nthread: \"other\"\n---",
    "crlf\r\nand lone cr\r",
    "\ufeffBOM inside, \u2028 line separator, tab\t, \x1b[31m escape",
]


def test_markdown_round_trip_of_awkward_contents() -> None:
    info = ThreadInfo('a "name"\nwith: colons', model="m<-->", system="S\n## User\n",
                      created_at=1_700_000_000.0)
    msgs = [Message("user" if i % 2 == 0 else "assistant", text, created_at=1_700_000_000.0 + i,
                    model=None if i % 2 == 0 else "gpt-->x",
                    status=INTERRUPTED if i == 3 else None)
            for i, text in enumerate(AWKWARD)]
    [thread] = parse(to_markdown(info, msgs, now=0.0))
    assert (thread.name, thread.model, thread.system) == (info.name, info.model, info.system)
    assert [(m.role, m.content, m.model, m.status, m.created_at) for m in thread.messages] == \
        [(m.role, m.content, m.model, m.status, m.created_at) for m in msgs]


def test_markdown_markers_never_close_early() -> None:
    md = to_markdown(ThreadInfo("t"), [Message("assistant", "x", model="a-->b<c>")], now=0.0)
    [line] = [ln for ln in md.split("\n") if ln.startswith("<!-- chatrepl:message")]
    assert line.count("-->") == 1 and line.endswith(" -->")


def test_markdown_empty_thread_and_no_front_matter() -> None:
    [thread] = parse(to_markdown(ThreadInfo("empty", system="Be terse."), [], now=0.0))
    assert (thread.name, thread.system, thread.messages) == ("empty", "Be terse.", [])
    body = '<!-- chatrepl:message role="user" -->\n## User\n\nhi\n\n<!-- chatrepl:end -->\n'
    [bare] = parse(body)
    assert (bare.name, turns(bare)) == (None, [("user", "hi")])


def test_markdown_edited_by_hand_falls_back_to_the_next_marker() -> None:
    info = ThreadInfo("t")
    msgs = [Message("user", "hello\n"), Message("assistant", "hi", status=INTERRUPTED),
            Message("user", "bye")]
    md = to_markdown(info, msgs, now=0.0)
    edited = md.replace("hello", "hello there").replace("\nhi\n", "\nhi, edited\n")
    [thread] = parse(edited)
    assert turns(thread) == [("user", "hello there\n"), ("assistant", "hi, edited"),
                             ("user", "bye")]
    assert thread.messages[1].status == INTERRUPTED


def test_markdown_converted_to_crlf_still_parses() -> None:
    md = to_markdown(ThreadInfo("t", model="m"), [Message("user", "a\nb")], now=0.0)
    [thread] = parse(md.replace("\n", "\r\n"))
    assert (thread.name, turns(thread)) == ("t", [("user", "a\nb")])


def test_markdown_keeps_summaries_and_counts_roles_it_does_not_import() -> None:
    msgs = [Message("summary", "what came before"), Message("wizard", "abracadabra"),
            Message("user", "go on")]
    [thread] = parse(to_markdown(ThreadInfo("t"), msgs, now=0.0))
    assert turns(thread) == [("summary", "what came before"), ("user", "go on")]
    assert describe_left_out(thread.left_out) == "1 message with an unknown role"


def test_markdown_cut_short_is_an_error() -> None:
    md = to_markdown(ThreadInfo("t"), [Message("user", "a long question")], now=0.0)
    assert_import_error(md[: md.index("question")], "cut short", filename="t.md")


def test_markdown_unreadable_marker_is_an_error() -> None:
    md = to_markdown(ThreadInfo("t"), [Message("user", "q")], now=0.0)
    broken = md.replace('role="user"', "role=user")
    assert_import_error(broken, "marker on line 10", filename="t.md")


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="\0"))
_message = st.builds(
    Message, role=st.sampled_from(["user", "assistant"]), content=_text,
    model=st.none() | _text, status=st.sampled_from([None, "interrupted", "error", "truncated"]),
    created_at=st.sampled_from([0.0, 1_700_000_000.0, 1_767_225_671.5]))


@settings(max_examples=300)
@given(name=_text.filter(str.strip), model=st.none() | _text, system=st.none() | _text,
       msgs=st.lists(_message, max_size=6))
def test_property_markdown_round_trips(name: str, model: str | None, system: str | None,
                                       msgs: list[Message]) -> None:
    info = ThreadInfo(name, model=model, system=system)
    [thread] = parse(to_markdown(info, msgs, now=0.0), filename="t.md")
    assert (thread.name, thread.model, thread.system) == (name, model, system)
    assert [(m.role, m.content, m.model, m.status, m.created_at) for m in thread.messages] == \
        [(m.role, m.content, m.model, m.status, m.created_at) for m in msgs]


# == what cannot be imported =======================================================================

@pytest.mark.parametrize("name, needles", [
    ("bad.json", ["bad.json is not valid JSON (line 4, column"]),
    ("unknown.json", ['a shape chatrepl does not know (an object with keys "theme"']),
    ("notes.md", ["neither JSON nor markdown with chatrepl's <!-- chatrepl:message"]),
])
def test_malformed_fixtures(name: str, needles: list[str]) -> None:
    assert_import_error((FIXTURES / name).read_text(encoding="utf-8"), *needles, filename=name)


@pytest.mark.parametrize("text, needle", [
    ("", "is empty"),
    (" \n\t\n", "is empty"),
    ("\ufeff", "is empty"),
    ("[]", "empty JSON list"),
    ('["hello"]', "a list whose first item is a string"),
    ("[1, 2]", "a list whose first item is a number"),
    ('[{"name": "x"}]', "an object without a role or mapping"),
    ("{}", "an empty object"),
    ('{"a": 1, "b": 2, "c": 3, "d": 4, "e": 5, "f": 6}', '"e", ...'),
    ('{"messages": "hi"}', 'keys "messages"'),
    ('[{"role": "user", "content": "hi"}, "oops"]', "item 2 that is not a message"),
    ('[{"role": "user", "content": {"text": "hi"}}]', "neither text nor a list of parts"),
    ('{"title": "x", "mapping": [1]', "is not valid JSON"),
    ("PK\x03\x04\x14\x00\x00\x00\x08\x00", "is not a text file"),
    ("[link](https://example.com) and prose", "neither JSON nor markdown"),
    ("---\nthread: \"old\"\n---\n\n# old\n\n## User\n\nhi\n", "from an older chatrepl"),
])
def test_errors_are_one_line_and_say_what_was_expected(text: str, needle: str) -> None:
    assert_import_error(text, needle)


def test_error_without_a_filename_says_the_file() -> None:
    assert_import_error("", "the file is empty", filename="")


# == decoding bytes ================================================================================

def test_decode_utf8_with_and_without_bom_and_utf16() -> None:
    text = '[{"role": "user", "content": "Zürich\\r\\n"}]\r\n'
    assert decode(text.encode()) == text
    assert decode(codecs.BOM_UTF8 + text.encode()) == text
    assert decode(text.encode("utf-16")) == text  # PowerShell's "> chat_history.json"
    assert turns(parse(decode(text.encode("utf-16")))[0]) == [("user", "Zürich\r\n")]


def test_decode_refuses_binary() -> None:
    with pytest.raises(ImportFormatError, match=r"^photo.png is not UTF-8 text .*expected"):
        decode(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xd8", filename="photo.png")


def test_markdown_round_trip_through_a_file_keeps_carriage_returns(tmp_path: Path) -> None:
    msgs = [Message("user", "windows\r\nline\r")]
    path = tmp_path / "t.md"
    path.write_bytes(to_markdown(ThreadInfo("t"), msgs, now=0.0).encode())
    assert turns(parse(decode(path.read_bytes()))[0]) == [("user", "windows\r\nline\r")]


# == whole threads through the App and the installed command ======================================

def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(coro)


def chatrepl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repl", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def sent_now(s: Session, thread: str) -> list[dict[str, str]]:
    """What chatrepl would send for ``thread`` now: the system prompt, then the conversation."""
    info = s.store.get(thread)
    assert info is not None
    return window.plan(system_head(info), s.store.messages(thread), limit=None).messages


def test_import_keeps_everything_and_says_nothing_was_left_out(api_env: dict[str, str],
                                                                server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        out = await s.line(f"/import {FIXTURES / 'chat_history.json'}")
        assert "left out" not in out
        [asked] = [m for m in s.store.messages("chat_history") if "screen" in m.content]
        assert asked.content == ("And what is wrong in this screenshot?\n\n"
                                 "It raises TypeError on the last line.")
        assert asked.parts and asked.parts[1]["type"] == "image_url"
        await s.quit()

    run(go())


def test_every_kind_of_message_is_kept() -> None:
    array = [
        {"role": "user", "content": [{"type": "text", "text": "look"},
                                     {"type": "image_url", "image_url": {"url": "x"}},
                                     {"type": "input_image", "image_url": "y"},
                                     {"type": "input_audio", "input_audio": {}},
                                     {"type": "file", "file": {}}]},
        {"role": "assistant", "content": None, "tool_calls": [{"id": "1"}, {"id": "2"}]},
        {"role": "tool", "tool_call_id": "1", "content": "a"},
        {"role": "tool", "tool_call_id": "2", "content": "b"},
        {"role": "assistant", "content": "done", "function_call": {"name": "f"}},
        {"role": "function", "name": "f", "content": "{}"},
        {"role": "system", "content": "later"},
        {"role": "assistant", "content": "", "refusal": "no"},
        {"role": "assistant", "content": None, "audio": {"id": "audio_1"}},
        {"role": "user", "content": ["a bare string part", {"type": "text", "text": "t"}]},
    ]
    [thread] = parse(json.dumps(array))
    assert [m.for_api() for m in thread.messages] == array
    assert describe_left_out(thread.left_out) == ""  # a role no API has: test_daily.py
    assert thread.messages[-1].content == "a bare string part"


def test_messages_wrapper_object_is_accepted() -> None:
    [thread] = parse(json.dumps({"model": "m1", "system": "Be terse.", "title": "Wrapped",
                                 "messages": [{"role": "system", "content": "And kind."},
                                              {"role": "user", "content": "hi"}]}))
    assert (thread.name, thread.model, thread.system) == ("Wrapped", "m1", "Be terse.\n\nAnd kind.")
    assert turns(thread) == [("user", "hi")]
    assert_import_error('{"messages": []}', "empty list of messages")
    assert_import_error('{"messages": [{"role": "user", "content": "hi"}, 3]}', "item 2")


def test_nothing_importable_is_one_error_and_no_thread(api_env: dict[str, str],
                                                       tmp_path: Path) -> None:
    path = tmp_path / "odd.md"  # a messages array always holds something to keep, now
    path.write_text('<!-- chatrepl:message role="wizard" chars="2" -->\n## wizard\n\nhi\n\n'
                    '<!-- chatrepl:end -->\n')
    done = chatrepl(api_env, "--import", str(path))
    assert done.returncode == 1
    assert done.stderr.startswith("chatrepl: odd.md has nothing chatrepl can import")
    assert len(done.stderr.splitlines()) == 1
    assert chatrepl(api_env, "--list").stdout.count("odd") == 0


def test_reimport_of_the_same_export_is_skipped(api_env: dict[str, str]) -> None:
    first = chatrepl(api_env, "--import", str(FIXTURES / "conversations.json"))
    assert first.returncode == 0 and first.stderr.count("imported '") == 2
    again = chatrepl(api_env, "--import", str(FIXTURES / "conversations.json"))
    assert again.returncode == 0
    assert "skipped 2 threads already imported" in again.stderr
    assert "imported '" not in again.stderr and "left out" not in again.stderr
    listed = chatrepl(api_env, "--list").stdout
    assert "-2" not in listed


def test_changed_thread_of_the_same_name_is_imported_with_a_suffix(
        api_env: dict[str, str], server: FakeOpenAI) -> None:
    async def go() -> None:
        s = await Session().start("t")
        await s.line(f"/import {FIXTURES / 'chat_history.json'} history")
        out = await s.line(f"/import {FIXTURES / 'chat_history.json'} history")
        assert "skipped 1 thread already imported: 'history'" in out
        await s.line("/switch history")
        await s.line("one more")
        out = await s.line(f"/import {FIXTURES / 'chat_history.json'} history")
        assert "imported 1 thread (6 messages): 'history-2'" in out
        await s.quit()

    run(go())


async def _compact_a_thread(s: Session, server: FakeOpenAI) -> None:
    for n in range(4):
        await s.line(f"question {n}")
    server.queue(Reply("We discussed questions 0 and 1."))
    await s.line("/compact 2")
    await s.line("question 4")


@pytest.mark.parametrize("suffix", ["md", "json"])
def test_compaction_travels_through_export_and_import(api_env: dict[str, str], server: FakeOpenAI,
                                                      tmp_path: Path, suffix: str) -> None:
    path = tmp_path / f"c.{suffix}"

    async def go() -> None:
        s = await Session().start("c", system="Be terse.")
        await _compact_a_thread(s, server)
        before = sent_now(s, "c")
        assert "We discussed" in before[0]["content"] and len(before) == 7
        await s.line(f"/export {path}")
        await s.line(f"/import {path} again")
        assert sent_now(s, "again") == before
        await s.line("/switch again")
        await s.line("question 5")
        assert server.sent_messages() == [*before, {"role": "user", "content": "question 5"}]
        await s.quit()

    run(go())
    if suffix == "json":
        data = json.loads(path.read_text())
        assert all(isinstance(m["role"], str) and isinstance(m["content"], str) for m in data)
        [summary] = [m for m in data if "chatrepl" in m]
        assert summary["role"] == "system" and summary["chatrepl"] == {"summary": True,
                                                                       "covers": 4}
        assert summary["content"].endswith("We discussed questions 0 and 1.")


def test_markdown_summary_carries_what_it_covers() -> None:
    msgs = [Message("user", "a", id=1), Message("assistant", "b", id=2),
            Message("user", "c", id=3), Message("summary", "a and b", id=4, covers=2)]
    md = to_markdown(ThreadInfo("t"), msgs, now=0.0)
    assert '<!-- chatrepl:message role="summary" covers="2" chars="7" -->' in md
    [thread] = parse(md)
    assert [(m.role, m.content, m.covers) for m in thread.messages] == [
        ("user", "a", None), ("assistant", "b", None), ("user", "c", None),
        ("summary", "a and b", 2)]


def test_export_asks_before_overwriting(api_env: dict[str, str], server: FakeOpenAI,
                                        tmp_path: Path) -> None:
    path = tmp_path / "out.md"

    async def go() -> None:
        s = await Session().start("t")
        await s.line("hello")
        out = await s.line(f"/export {path}")
        assert f"exported 2 messages to {path}" in " ".join(out.split())  # a long path wraps
        path.write_text("keep me")
        out = await s.line(f"/export {path}")  # waits at the question
        assert s.prompts == 4
        out = await s.line("n")
        assert path.read_text() == "keep me" and "not exported" in out
        await s.line(f"/export {path}")
        out = await s.line("y")
        assert "echo: hello" in path.read_text() and "exported 2 messages" in out
        await s.quit()

    run(go())


def test_cli_export_refuses_to_overwrite_without_force(api_env: dict[str, str], server: FakeOpenAI,
                                                       tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    path.write_text("keep me")
    assert chatrepl(api_env, "-t", "t", "hello").returncode == 0
    done = chatrepl(api_env, "-t", "t", "--export", str(path))
    assert done.returncode == 1 and path.read_text() == "keep me"
    assert done.stderr == f"chatrepl: {path} already exists; --force overwrites it\n"
    done = chatrepl(api_env, "-t", "t", "--export", str(path), "--force")
    assert done.returncode == 0 and json.loads(path.read_text())[0]["content"] == "hello"
    assert done.stderr == f"exported 't' (2 messages) to {path}\n"


def test_import_path_with_spaces_quoted_or_not_and_singular_counts(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path) -> None:
    path = tmp_path / "my chats.json"
    path.write_text('[{"role": "user", "content": "only me"}]')

    async def go() -> None:
        s = await Session().start("t")
        out = await s.line(f'/import "{path}" "one message"')
        assert "imported 1 thread (1 message): 'one message'" in out
        out = await s.line(f"/import {path}")
        assert "imported 1 thread (1 message): 'my chats'" in out
        out = await s.line(f"/import '{path}' other name")
        assert "'other name'" in out
        out = await s.line(f'/import "{path}')
        assert out.count("error:") == 1 and "quot" in out
        await s.line("/switch empty")
        out = await s.line(f"/export {tmp_path / 'e.md'}")
        assert "exported 0 messages" in out
        out = await s.line(f'/export "{tmp_path / "my notes.md"}"')
        assert (tmp_path / "my notes.md").exists() and "exported" in out
        out = await s.line(f'/export "{tmp_path}/a" "b"')
        assert out.count("error:") == 1 and "one path" in out
        await s.quit()

    run(go())
    done = chatrepl(api_env, "--import", str(path), "-t", "cli")
    assert done.stderr == "imported 'cli' (1 message)\n"


def test_cli_search_without_a_hit_exits_1_and_prints_nothing(api_env: dict[str, str],
                                                             server: FakeOpenAI) -> None:
    chatrepl(api_env, "-t", "notes", "the zebra crossing is blue")
    done = chatrepl(api_env, "--search", "giraffe")
    assert (done.returncode, done.stdout) == (1, "")
    assert chatrepl(api_env, "--search", "zebra").returncode == 0


def test_markdown_round_trip_keeps_tool_calls_and_results() -> None:
    call = {"id": "call_7", "type": "function",
            "function": {"name": "calc.add", "arguments": '{"a": 2, "b": 3}'}}
    msgs = [Message("user", "add 2 and 3", id=1, created_at=1.0),
            Message("assistant", "", id=2, created_at=2.0, fields={"tool_calls": [call]}),
            Message("tool", "5\n```\nfenced inside\n```", id=3, created_at=3.0,
                    fields={"tool_call_id": "call_7"}),
            Message("assistant", "It is 5.", id=4, created_at=4.0)]
    md = to_markdown(ThreadInfo("t"), msgs, now=0.0)
    [thread] = parse(md)
    assert [(m.role, m.content, dict(m.fields)) for m in thread.messages] == [
        (m.role, m.content, dict(m.fields)) for m in msgs]
    assert not +thread.left_out  # nothing counted as left out
    info = ThreadInfo("t")
    assert api_messages(info, thread.messages) == api_messages(info, msgs)  # valid again
