"""A thread as one self-contained HTML page for reading: markdown rendered, code highlighted,
reasoning, tool calls and results collapsible, images inline as data URLs. Pure: no I/O.

Everything in a thread is untrusted, so the page is built to run nothing and fetch nothing:
markdown-it runs with raw HTML off (``<script>`` in an answer is text), links are http(s) and
mailto only, an image is shown only from a data URL of a raster type, and a Content-Security-
Policy that forbids every request and every script holds should anything slip past the escaping.
"""

from __future__ import annotations

import datetime
import functools
import json
import re
from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from markdown_it import MarkdownIt
from markdown_it.renderer import RendererHTML
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict

from repl.export import Expand, covered
from repl.export_style import css
from repl.parts import attachment, names_of
from repl.texspan import CLOSERS, DISPLAY, span
from repl.thread import EDITED_BY_USER, SUMMARY, Message, ThreadInfo, tool_names
from repl.toolcalls import ToolCall

# No request, no script, no form, no <base>: even markup that escaped the escaping stays inert.
CSP = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
       "base-uri 'none'; form-action 'none'")

# The images a page shows: raster types a browser decodes without running anything.
_IMAGE_URL = re.compile(r"data:image/(?:png|jpeg|gif|webp);base64,[A-Za-z0-9+/]*={0,2}")
_LINK_SCHEMES = ("http://", "https://", "mailto:")

_ROLES = {"user": "You", "assistant": "Assistant", "system": "System", "tool": "Tool result",
          "developer": "Developer"}


def to_html(info: ThreadInfo, messages: Sequence[Message], *, now: float,
            expand: Expand | None = None, marks: Mapping[int, str] | None = None) -> str:
    """The page. ``expand`` (the store's) puts the attachments' bytes back, for the images;
    without it an attachment is named, never shown. ``marks``: by message id, the ``‹2/3›`` of
    a question or answer that has other versions (tree.Tree.marks)."""
    images = _images(messages, expand)
    calls = _call_names(messages)
    body = [_message(m, messages, images.get(i, ()), calls, (marks or {}).get(m.id or 0, ""))
            for i, m in enumerate(messages)]
    system = (_block("system", "System prompt", _plain(info.system), open_=True)
              if info.system else "")
    return PAGE.format(csp=CSP, title=escape(info.name), css=css(), head=_head(info, now,
                       len(messages)), system=system, messages="\n".join(body))


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<meta name="generator" content="chatrepl">
<title>{title}</title>
<style>
{css}</style>
</head>
<body>
<header class="thread">{head}</header>
<main>
{system}
{messages}
</main>
</body>
</html>
"""


def _head(info: ThreadInfo, now: float, count: int) -> str:
    facts = [f"{count} message{'' if count == 1 else 's'}"]
    if info.model:
        facts.insert(0, f"model {escape(info.model)}")
    if info.created_at:
        facts.append(f"created {_time(info.created_at)}")
    facts.append(f"exported {_time(now)} by chatrepl")
    return f"<h1>{escape(info.name)}</h1>\n<p class=\"facts\">{' · '.join(facts)}</p>"


def _time(timestamp: float) -> str:
    moment = datetime.datetime.fromtimestamp(timestamp, datetime.UTC)
    shown = moment.strftime("%Y-%m-%d %H:%M UTC")
    return f"<time datetime=\"{moment.isoformat(timespec='seconds')}\">{shown}</time>"


# -- messages ------------------------------------------------------------------------------------

def _message(m: Message, messages: Sequence[Message], images: Sequence[str | None],
             calls: Mapping[str, str], mark: str = "") -> str:
    """One message as an <article>: a header (who, which model, when, which version, how it
    ended), what it holds beside its text, then the text."""
    label, inner = _ROLES.get(m.role, m.role.capitalize()), []
    if m.role == SUMMARY:
        n = covered(m, messages)
        label = f"Summary of the {n} message{'' if n == 1 else 's'} above, sent in their place"
    if m.role == "assistant" and m.model:
        label += f" · {m.model}"
    if m.meta.get(EDITED_BY_USER):  # the user's correction (/edit --answer)
        label += " · edited by the user"
    if mark:
        label += f" · version {mark}"
    if m.role == "tool":
        name = calls.get(str(m.fields.get("tool_call_id")))
        label += f" · {name}" if name else ""
        return _article(m, label, _block("tool-result", label, _plain(m.content)), header=False)
    if m.reasoning:
        inner.append(_block("reasoning", "Reasoning", render_markdown(m.reasoning)))
    inner.append(_attachments(m, images))
    if m.content:
        shown = _plain(m.content) if m.role in ("user", "system", "developer") \
            else render_markdown(m.content)
        inner.append(f"<div class=\"text\">{shown}</div>")
    if isinstance(refusal := m.fields.get("refusal"), str) and refusal:
        inner.append(f"<p class=\"refusal\">Refused: {escape(refusal)}</p>")
    inner += [_tool_call(call, tool_names(m)) for call in _calls(m)]
    if m.status:
        inner.append(f"<p class=\"status\">{escape(STATUS.get(m.status, m.status))}</p>")
    return _article(m, label, "".join(inner))


STATUS = {"interrupted": "interrupted: the answer stopped here",
          "error": "incomplete: the request failed",
          "truncated": "truncated: the answer was cut off"}


def _article(m: Message, label: str, inner: str, *, header: bool = True) -> str:
    role = re.sub(r"[^a-z]", "", m.role.lower()) or "other"
    status = f" {m.status}" if m.status and re.fullmatch(r"[a-z]+", m.status) else ""
    when = _time(m.created_at) if m.created_at else ""
    top = f"<header><span class=\"who\">{escape(label)}</span>{when}</header>" if header else ""
    return f"<article class=\"message {role}{status}\">{top}{inner}</article>"


def _block(kind: str, summary: str, inner: str, *, open_: bool = False) -> str:
    """A collapsible block: reasoning, a tool call, a tool result, the system prompt."""
    return (f"<details class=\"{kind}\"{' open' if open_ else ''}><summary>{escape(summary)}"
            f"</summary><div class=\"inside\">{inner}</div></details>")


def _plain(text: str) -> str:
    """Text shown as typed: escaped, its line breaks kept (by CSS)."""
    return f"<div class=\"plain\">{escape(text)}</div>"


def _calls(m: Message) -> list[Mapping[str, Any]]:
    calls = m.fields.get("tool_calls")
    return [c for c in calls if isinstance(c, Mapping)] if isinstance(calls, list) else []


def _call_names(messages: Sequence[Message]) -> dict[str, str]:
    """The shown name of every tool call, by its id: a result says which call it answers."""
    found: dict[str, str] = {}
    for m in messages:
        names = tool_names(m)
        for call in m.tool_calls:
            if call.id:
                found[call.id] = names.get(call.name, call.name)
    return found


def _tool_call(entry: Mapping[str, Any], names: Mapping[str, str]) -> str:
    """One ``tool_calls`` entry: a function call with its arguments, else the entry as it is."""
    call = ToolCall.parse(entry)
    if call is None or not call.name:
        return _block("tool-call", "Tool call", code_block(json.dumps(dict(entry)), "json"))
    name, raw = call.name, call.arguments
    try:
        arguments, lang = json.dumps(json.loads(raw), ensure_ascii=False, indent=2), "json"
    except ValueError:
        arguments, lang = raw, ""
    return _block("tool-call", f"Tool call · {names.get(name, name)}", code_block(arguments, lang))


# -- attachments ---------------------------------------------------------------------------------

def _images(messages: Sequence[Message], expand: Expand | None) -> dict[int, list[str | None]]:
    """For each message with parts (by index), each part's image as a data URL, or None: the
    parts with the store's bytes put back (one ``expand`` for the thread)."""
    have = [i for i, m in enumerate(messages) if m.parts]
    payload = [{"role": messages[i].role, "content": [dict(p) for p in messages[i].parts or ()]}
               for i in have]
    expanded = expand(payload) if expand and payload else payload
    return {i: [_image_url(p) for p in entry["content"]] for i, entry in zip(have, expanded,
                                                                              strict=True)}


def _image_url(part: object) -> str | None:
    if not isinstance(part, Mapping) or part.get("type") != "image_url":
        return None
    inner = part.get("image_url")
    url = inner.get("url") if isinstance(inner, Mapping) else None
    return url if isinstance(url, str) and _IMAGE_URL.fullmatch(url) else None


def _attachments(m: Message, images: Sequence[str | None]) -> str:
    """Each attachment named (name, kind, size); an image shown as well, from its bytes."""
    items = []
    for n, (part, name) in enumerate(zip(m.parts or (), names_of(m), strict=True)):
        found = attachment(part, name)
        if found is None:
            continue
        image = images[n] if n < len(images) else None
        line = escape(found.line())
        items.append(f"<figure><img src=\"{image}\" alt=\"{escape(found.name)}\">"
                     f"<figcaption>{line}</figcaption></figure>" if image
                     else f"<p class=\"file\">📎 {line}</p>")
    return f"<div class=\"attachments\">{''.join(items)}</div>" if items else ""


# -- markdown ------------------------------------------------------------------------------------

def render_markdown(text: str) -> str:
    """Model markdown as HTML: raw HTML as text, links only http(s) and mailto, images as links
    (a page that fetches nothing), code highlighted, math as Unicode (its TeX kept beside it)."""
    return str(_parser().render(text))


def safe_link(url: str) -> bool:
    """markdown-it's validateLink: only web and mail links (never javascript:, data:, file:, or
    a relative path into the reader's disk)."""
    return url.strip().lower().startswith(_LINK_SCHEMES)


@functools.cache
def _parser() -> MarkdownIt:
    md = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])
    md.validateLink = safe_link  # type: ignore[method-assign]
    md.inline.ruler.before("escape", "math", _math)
    for name, rule in (("fence", _fence), ("code_block", _fence), ("image", _image),
                       ("link_open", _link_open), ("math", _math_span)):
        md.add_render_rule(name, rule)
    return md


def _fence(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
           env: EnvType) -> str:
    token = tokens[idx]
    lang = token.info.strip().split(maxsplit=1)[0] if token.info.strip() else ""
    return code_block(token.content, lang)


def _image(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
           env: EnvType) -> str:
    """An image the model linked to is a link: showing it would be a request."""
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env) or "image"
    src = str(token.attrs.get("src", ""))
    if not safe_link(src):
        return f"image: {escape(alt)}"
    return f"<a href=\"{escape(src)}\" rel=\"noopener noreferrer\">image: {escape(alt)}</a>"


def _link_open(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
               env: EnvType) -> str:
    token = tokens[idx]
    if not safe_link(str(token.attrs.get("href", ""))):  # markdown-it leaves a refused one empty
        token.attrs.pop("href", None)
    token.attrSet("rel", "noopener noreferrer")
    return self.renderToken(tokens, idx, options, env)


def _math_span(self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict,
               env: EnvType) -> str:
    """A formula as the terminal shows it (Unicode, repl.render.tex), its TeX in ``title``; as
    its TeX where it cannot be converted."""
    from repl.render.tex import to_text  # pylatexenc, only for a page that holds math

    token = tokens[idx]
    display, opener = bool(token.meta.get("display")), str(token.meta.get("opener", ""))
    kind = "math display" if display else "math"
    body = token.content[len(opener):len(token.content) - len(CLOSERS.get(opener, ""))]
    shown = to_text(body, display=display) if opener else None
    if shown is None:
        return f"<span class=\"{kind}\">{escape(token.content)}</span>"
    return (f"<span class=\"{kind}\" title=\"{escape(token.content)}\" "
            f"data-tex=\"{escape(token.content)}\">{escape(shown)}</span>")


def _math(state: StateInline, silent: bool) -> bool:
    """A formula where the terminal's renderer finds one (repl.texspan)."""
    found = span(state.src[:state.posMax], state.pos)
    if found is None:
        return False
    opener, end = found
    if not silent:
        token = state.push("math", "span", 0)
        token.content = state.src[state.pos:end]
        token.meta = {"display": opener in DISPLAY, "opener": opener}
    state.pos = end
    return True


# -- code ----------------------------------------------------------------------------------------

def code_block(code: str, lang: str) -> str:
    """A code block highlighted by pygments (CSS classes, styled by export_style), its language
    named above it; an unknown language is plain text, never guessed."""
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.lexers.special import TextLexer
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_by_name(lang) if lang else TextLexer()
    except ClassNotFound:
        lexer = TextLexer()
    spans = highlight(code, lexer, HtmlFormatter(nowrap=True))
    label = f"<div class=\"lang\">{escape(lang)}</div>" if lang else ""
    return f"<div class=\"code\">{label}<pre class=\"highlight\"><code>{spans}</code></pre></div>"
