"""The pure parts: thread names, terminal sanitising, export formats, command parsing, config."""

from __future__ import annotations

import json
import string
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import repl.commands  # noqa: F401  (registers the commands)
from repl import config as config_mod
from repl.commands.registry import COMMANDS, CommandError, parse, resolve
from repl.errors import ConfigError, ThreadError
from repl.export import api_messages, format_for, to_json, to_markdown
from repl.sanitize import clean, clean_line
from repl.store import default_url
from repl.thread import MAX_NAME, Message, ThreadInfo, Usage, validate_name

BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"

# == validate_name ================================================================================


@pytest.mark.parametrize("raw", ["work", "my thread", "日本語", "café", "emoji 🧵", "a.b",
                                 "x-y_z", "v1.2", "a" * MAX_NAME, "tail-", "mid.dle"])
def test_validate_name_accepts(raw: str) -> None:
    assert validate_name(raw) == raw


def test_validate_name_strips_and_normalises_to_nfc() -> None:
    decomposed = "cafe\u0301"  # e + combining acute
    assert unicodedata.is_normalized("NFD", decomposed)
    out = validate_name(f"  {decomposed}\t ")
    assert out == "caf\u00e9"
    assert unicodedata.is_normalized("NFC", out)
    assert validate_name("  spaced name  ") == "spaced name"


def test_validate_name_length_counts_after_normalising() -> None:
    # 64 decomposed é are 128 code points but 64 once composed: allowed
    assert validate_name("e\u0301" * MAX_NAME) == "\u00e9" * MAX_NAME


@pytest.mark.parametrize("raw", [
    "", "   ", "\t\n",
    "a" * (MAX_NAME + 1),
    "a/b", "/abs", "a\\b", "..", "../etc", "..\\x",
    ".hidden", ".", "-rf", "--help",
    "nul\x00byte", "bell\x07", "esc\x1b[31m", "del\x7f", "c1\x9b", "tab\tinside",
    "new\nline", "cr\rinside",
    "rtl\u202eoverride", "\u202dlro", "iso\u2066late", "lrm\u200e", "alm\u061c",
    "zero\u200bwidth", "fmt\u200dzwj",  # zero-width space and joiner are format chars (Cf)
    "line\u2028sep", "para\u2029sep",
], ids=repr)
def test_validate_name_refuses(raw: str) -> None:
    with pytest.raises(ThreadError):
        validate_name(raw)


def test_validate_name_error_says_why() -> None:
    with pytest.raises(ThreadError, match="empty"):
        validate_name("  ")
    with pytest.raises(ThreadError, match=str(MAX_NAME)):
        validate_name("x" * 100)
    with pytest.raises(ThreadError, match="/"):
        validate_name("a/b")


# == sanitize ======================================================================================


@pytest.mark.parametrize("raw, shown", [
    ("\x1b[31mred", "\u241b[31mred"),
    ("bell\x07", "bell\u2407"),
    ("nul\x00", "nul\u2400"),
    ("csi\x9b2J", "csi<U+009B>2J"),
    ("nel\x85", "nel<U+0085>"),
    ("del\x7f", "del\u2421"),
    ("evil\u202etxt.exe", "evil<U+202E>txt.exe"),
    ("iso\u2066x\u2069", "iso<U+2066>x<U+2069>"),
    ("lone\rcr", "lone\u240dcr"),
    ("vt\x0bff\x0c", "vt\u240bff\u240c"),
])
def test_clean_makes_controls_visible(raw: str, shown: str) -> None:
    assert clean(raw) == shown


def test_clean_keeps_newline_and_tab_and_folds_crlf() -> None:
    assert clean("a\nb\tc") == "a\nb\tc"
    assert clean("one\r\ntwo\r\n") == "one\ntwo\n"
    assert clean("x\r\r\ny") == "x\u240d\ny"


def test_clean_leaves_ordinary_unicode_alone() -> None:
    text = "héllo 日本語 🧵 — “quotes” ∑"
    assert clean(text) == text


def test_clean_line_is_one_line() -> None:
    assert clean_line("a\nb") == "a\u2424b"
    assert clean_line("a\tb") == "a b"
    assert clean_line("a\r\nb") == "a\u2424b"
    assert clean_line("\x1b[2Jx") == "\u241b[2Jx"
    assert clean_line("x\u202ey") == "x<U+202E>y"


def _forbidden(c: str) -> bool:
    code = ord(c)
    return ((code < 0x20 and c not in "\n\t") or code == 0x7F or 0x80 <= code <= 0x9F
            or c in BIDI)


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(codec="utf-8")))
def test_property_clean_output_has_no_terminal_controls(text: str) -> None:
    out = clean(text)
    assert not any(_forbidden(c) for c in out), ascii(out)
    assert "\r" not in out
    line = clean_line(text)
    assert not any(_forbidden(c) for c in line)
    assert "\n" not in line and "\t" not in line


@settings(max_examples=300)
@given(st.text(alphabet=st.characters(min_codepoint=0x00, max_codepoint=0xA0) | st.sampled_from(
    list(BIDI))))
def test_property_clean_on_control_heavy_text(text: str) -> None:
    out = clean(text)
    assert not any(_forbidden(c) for c in out), ascii(out)


@given(st.text(alphabet=st.sampled_from(
    [c for c in string.printable if c not in "\r\x0b\x0c"])))
def test_property_clean_is_identity_on_printable_ascii(text: str) -> None:
    assert clean(text) == text


# == export ========================================================================================

INFO = ThreadInfo("work", model="gpt-x", system="Be terse.", created_at=1_700_000_000.0,
                  updated_at=1_700_000_100.0, message_count=2)
MSGS = [
    Message("user", "What is 2+2?", created_at=1_700_000_010.0, model="gpt-x"),
    Message("assistant", "4", created_at=1_700_000_011.0, model="gpt-x", usage=Usage(5, 1),
            id=2),
]


def test_to_json_is_the_openai_messages_array_with_system_first() -> None:
    assert json.loads(to_json(INFO, MSGS)) == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]


def test_to_json_without_system_prompt() -> None:
    info = ThreadInfo("t", model="m", system=None)
    assert json.loads(to_json(info, MSGS)) == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "4"},
    ]
    assert json.loads(to_json(ThreadInfo("t", system=""), [])) == []


def test_to_json_keeps_unicode_readable() -> None:
    out = to_json(ThreadInfo("t"), [Message("user", "日本語 ✓")])
    assert "日本語 ✓" in out
    assert out.endswith("\n")


def test_api_messages_only_role_and_content() -> None:
    for entry in api_messages(INFO, MSGS):
        assert set(entry) == {"role", "content"}


@pytest.mark.parametrize("path, explicit, expected", [
    ("out.json", None, "json"),
    ("OUT.JSON", None, "json"),
    ("out.md", None, "md"),
    ("notes.txt", None, "md"),
    ("noext", None, "md"),
    ("out.md", "json", "json"),
    ("out.json", "md", "md"),
    ("json", None, "md"),
])
def test_format_for(path: str, explicit: str | None, expected: str) -> None:
    assert format_for(path, explicit) == expected


def _front_matter(md: str) -> dict[str, object]:
    lines = md.split("\n")
    assert lines[0] == "---"
    end = lines.index("---", 1)
    meta = {}
    for line in lines[1:end]:
        key, _, value = line.partition(": ")
        meta[key] = json.loads(value)
    return meta


def test_to_markdown_front_matter_and_every_message() -> None:
    now = 1_700_000_200.0
    msgs = [*MSGS, Message("assistant", "partial answer", model="gpt-y", status="interrupted")]
    md = to_markdown(INFO, msgs, now=now)
    meta = _front_matter(md)
    assert meta["thread"] == "work"
    assert meta["model"] == "gpt-x"
    assert meta["system"] == "Be terse."
    assert meta["created"] == "2023-11-14T22:13:20+00:00"
    assert meta["exported"] == "2023-11-14T22:16:40+00:00"
    assert meta["messages"] == 3
    for m in msgs:
        assert m.content in md
    assert "Be terse." in md.split("---", 2)[2]  # the system prompt is in the body too
    assert "interrupted" in md
    assert "gpt-y" in md


def test_to_markdown_quotes_awkward_metadata() -> None:
    info = ThreadInfo('we "quote"\nand: colons', model=None, system="line1\nline2 ---",
                      created_at=0.0)
    md = to_markdown(info, [Message("user", "hi")], now=0.0)
    meta = _front_matter(md)
    assert meta["thread"] == 'we "quote"\nand: colons'
    assert meta["system"] == "line1\nline2 ---"
    assert "model" not in meta  # unknown model: left out, not "null"
    assert meta["created"] == "1970-01-01T00:00:00+00:00"


_any_text = st.text(alphabet=st.characters(codec="utf-8"))


@settings(max_examples=200)
@given(system=st.none() | _any_text,
       contents=st.lists(st.tuples(st.sampled_from(["user", "assistant"]), _any_text),
                         max_size=8))
def test_property_to_json_round_trips(system: str | None,
                                      contents: list[tuple[str, str]]) -> None:
    info = ThreadInfo("t", model="m", system=system)
    msgs = [Message(role, text) for role, text in contents]
    expected = ([{"role": "system", "content": system}] if system else []) + \
        [{"role": role, "content": text} for role, text in contents]
    assert json.loads(to_json(info, msgs)) == expected


@settings(max_examples=100)
@given(contents=st.lists(_any_text, max_size=5))
def test_property_to_markdown_contains_every_content(contents: list[str]) -> None:
    md = to_markdown(INFO, [Message("user", c) for c in contents], now=0.0)
    for c in contents:
        assert c in md
    assert _front_matter(md)["messages"] == len(contents)


# == command parsing ===============================================================================


@pytest.mark.parametrize("line, expected", [
    ("/switch work", ("switch", "work")),
    ("/switch   my thread  ", ("switch", "my thread")),
    ("  /list  ", ("list", "")),
    ("/list", ("list", "")),
    ("/sw x", ("sw", "x")),
    ("/system line1\nline2", ("system", "line1\nline2")),
    ("/new-thing arg", ("new-thing", "arg")),
])
def test_parse_commands(line: str, expected: tuple[str, str]) -> None:
    assert parse(line) == expected


@pytest.mark.parametrize("line", [
    "/etc/hosts is a file", "//x", "//switch work", "hello", "", "/", "/ switch",
    "/1abc", "not /switch", "/switch/x",
])
def test_parse_messages(line: str) -> None:
    assert parse(line) is None


def test_registry_is_populated() -> None:
    assert {"help", "switch", "system", "new", "list", "rename", "delete", "history", "model",
            "export", "quit"} <= set(COMMANDS)


def test_resolve_exact_and_unique_prefixes() -> None:
    assert resolve("switch").name == "switch"
    assert resolve("sw").name == "switch"
    assert resolve("SW").name == "switch"
    assert resolve("hi").name == "history"
    assert resolve("q").name == "quit"
    assert resolve("ren").name == "rename"


def test_resolve_ambiguous_prefix_lists_candidates() -> None:
    with pytest.raises(CommandError) as info:
        resolve("s")
    text = str(info.value)
    assert "ambiguous" in text
    assert "/switch" in text and "/system" in text
    with pytest.raises(CommandError) as info:
        resolve("h")
    assert "/help" in str(info.value) and "/history" in str(info.value)


def test_resolve_unknown_mentions_help() -> None:
    with pytest.raises(CommandError) as info:
        resolve("frobnicate")
    assert "/help" in str(info.value)
    assert "frobnicate" in str(info.value)


# == config =======================================================================================


@pytest.fixture
def config_file(isolated: dict[str, str]) -> Path:
    path = Path(isolated["XDG_CONFIG_HOME"]) / "chatrepl" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def test_config_defaults(isolated: dict[str, str], config_file: Path) -> None:
    cfg = config_mod.load(env={})
    assert cfg.model == config_mod.DEFAULT_MODEL
    assert cfg.model_override is None
    assert cfg.base_url is None
    assert cfg.api_key is None
    assert cfg.timeout == 60.0
    assert cfg.config_file == config_file
    assert cfg.data_dir == Path(isolated["XDG_DATA_HOME"]) / "chatrepl"
    assert default_url(cfg.data_dir) == f"sqlite://{cfg.data_dir / 'chatrepl.db'}"


def test_config_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATREPL_MODEL", "env-model")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    cfg = config_mod.load()
    assert cfg.model == "env-model"
    assert cfg.base_url == "http://127.0.0.1:9/v1"
    assert cfg.api_key == "sk-env"
    assert "sk-env" not in repr(cfg)


def test_config_editor_and_term_come_from_the_environment() -> None:
    assert (config_mod.load(env={}).editor, config_mod.load(env={}).term) == ("vi", "")
    cfg = config_mod.load(env={"VISUAL": "code -w", "EDITOR": "nano", "TERM": "xterm"})
    assert (cfg.editor, cfg.term) == ("code -w", "xterm")
    assert config_mod.load(env={"EDITOR": "nano"}).editor == "nano"


def test_config_env_argument() -> None:
    cfg = config_mod.load(env={"CHATREPL_MODEL": "m-arg", "OPENAI_BASE_URL": "http://h/v1"})
    assert (cfg.model, cfg.base_url) == ("m-arg", "http://h/v1")


def test_config_file_values(config_file: Path) -> None:
    config_file.write_text('model = "file-model"\nbase_url = "http://localhost:11434/v1"\n'
                           'timeout = 30\ncode_theme = "dracula"\nshow_turns = 5\n')
    cfg = config_mod.load(env={})
    assert cfg.model == "file-model"
    assert cfg.base_url == "http://localhost:11434/v1"
    assert cfg.timeout == 30.0 and isinstance(cfg.timeout, float)
    assert cfg.code_theme == "dracula"
    assert cfg.show_turns == 5


def test_config_env_beats_file(config_file: Path) -> None:
    config_file.write_text('model = "file-model"\nbase_url = "http://file/v1"\n')
    cfg = config_mod.load(env={"CHATREPL_MODEL": "env-model", "OPENAI_BASE_URL": "http://env/v1"})
    assert (cfg.model, cfg.base_url) == ("env-model", "http://env/v1")


def test_config_model_flag_is_the_override(config_file: Path) -> None:
    config_file.write_text('model = "file-model"\n')
    cfg = config_mod.load(model="flag-model", env={"CHATREPL_MODEL": "env-model"})
    assert cfg.model_override == "flag-model"
    assert cfg.model == "env-model"  # the default for new threads is not the flag
    assert config_mod.load(model="", env={}).model_override is None


@pytest.mark.parametrize("text, needle", [
    ('model = "unterminated\n', ""),
    ("this is not toml\n", ""),
    ('modle = "typo"\n', "modle"),
    ('colour = true\n', "colour"),
    ("model = 5\n", "model"),
    ('timeout = "fast"\n', "timeout"),
    ("timeout = true\n", "timeout"),
    ("show_turns = 2.5\n", "show_turns"),
    ("show_turns = true\n", "show_turns"),
    ('base_url = ["a"]\n', "base_url"),
    ("timeout = 0\n", "timeout"),
    ("timeout = -5\n", "timeout"),
])
def test_config_bad_file_gives_config_error(config_file: Path, text: str, needle: str) -> None:
    config_file.write_text(text)
    with pytest.raises(ConfigError) as info:
        config_mod.load(env={})
    assert str(config_file) in str(info.value)
    assert needle in str(info.value)


def test_config_file_that_is_a_directory(config_file: Path) -> None:
    config_file.mkdir()
    with pytest.raises(ConfigError):
        config_mod.load(env={})


def test_rows_keep_the_texts_in_their_column_and_give_a_long_name_its_own_line() -> None:
    """/tools with long tool names: rich's table wrapped names and texts into columns that
    did not line up (the audit). Texts wrap in their column, a long name has its own line."""
    import io

    from rich.console import Console

    from repl.render import UI

    out = io.StringIO()
    UI(Console(file=out, width=60, color_system=None)).rows([
        ("git", "12 tools · /usr/bin/mcp-server-git --repository /a/rather/long/path/to/it"),
        ("  on  git.git_create_branch_from_a_long_long_name", "Creates a branch from a base"),
        ("  on  git.git_status", "Shows the working tree status"),
        ("  off git.x", "")])
    lines = out.getvalue().splitlines()
    assert lines == [
        "git                   12 tools · /usr/bin/mcp-server-git",
        "                      --repository /a/rather/long/path/to/it",
        "  on  git.git_create_branch_from_a_long_long_name",
        "                      Creates a branch from a base",
        "  on  git.git_status  Shows the working tree status",
        "  off git.x"]
