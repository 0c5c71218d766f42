"""The HTML export's stylesheet: a light theme, and a dark one when the reader's system prefers
it (prefers-color-scheme), code colours included. Inline in the page: it fetches nothing."""

from __future__ import annotations

import functools

LIGHT_CODE, DARK_CODE = "default", "monokai"  # pygments styles; monokai is the terminal's


@functools.cache
def css() -> str:
    """The page's style: a light theme, a dark one when the reader's system prefers it."""
    from pygments.formatters import HtmlFormatter

    themes = []
    for scheme, style in (("light", LIGHT_CODE), ("dark", DARK_CODE)):
        # each theme's token colours only (its own media query), not pygments' page-wide rules
        formatter = HtmlFormatter(style=style)
        rules: list[str] = formatter.get_token_style_defs(".highlight")  # type: ignore[no-untyped-call]
        themes.append(f"@media (prefers-color-scheme: {scheme}) {{\n" + "\n".join(rules)
                      + "\n}\n")
    return STYLE + "".join(themes)


STYLE = """\
:root { --bg: #ffffff; --fg: #1f2328; --muted: #656d76; --line: #d0d7de; --user: #f0f6ff;
  --panel: #f6f8fa; --code: #f8f8f8; --accent: #0969da; --warn: #9a6700; --warn-bg: #fff8c5; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #0d1117; --fg: #e6edf3; --muted: #8d96a0; --line: #30363d; --user: #12233b;
    --panel: #161b22; --code: #272822; --accent: #4493f8; --warn: #d29922; --warn-bg: #2b2111; }
}
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg); line-height: 1.55;
  font: 16px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
header.thread, main { max-width: 52rem; margin: 0 auto; padding: 0 1.25rem; }
header.thread { padding-top: 1.5rem; border-bottom: 1px solid var(--line); }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; overflow-wrap: anywhere; }
.facts, .message > header time { color: var(--muted); font-size: .85rem; }
.message { margin: 1.25rem 0; padding: .75rem 1rem; border: 1px solid var(--line);
  border-radius: 10px; overflow-wrap: anywhere; }
.message.user { background: var(--user); }
.message.summary { border-style: dashed; background: var(--panel); }
.message.tool { padding: .4rem 1rem; }
.message > header { display: flex; justify-content: space-between; gap: 1rem;
  margin-bottom: .4rem; }
.who { font-weight: 600; }
.plain { white-space: pre-wrap; }
.text > :first-child, .inside > :first-child { margin-top: 0; }
.text > :last-child, .inside > :last-child { margin-bottom: 0; }
.text h1 { font-size: 1.4rem; } .text h2 { font-size: 1.25rem; } .text h3 { font-size: 1.1rem; }
details { margin: .5rem 0; border: 1px solid var(--line); border-radius: 8px;
  background: var(--panel); }
details > summary { cursor: pointer; padding: .35rem .75rem; color: var(--muted);
  font-size: .9rem; }
details > .inside { padding: 0 .75rem .5rem; }
details.system { margin-top: 1.25rem; }
.status, .refusal { display: inline-block; margin: .5rem 0 0; padding: .1rem .6rem;
  border-radius: 999px; color: var(--warn); background: var(--warn-bg); font-size: .85rem; }
.attachments figure { margin: .5rem 0; }
.attachments img { max-width: 100%; max-height: 24rem; border-radius: 6px;
  border: 1px solid var(--line); }
figcaption, .file { color: var(--muted); font-size: .85rem; margin: .25rem 0; }
a { color: var(--accent); }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size: .9em; }
:not(pre) > code { background: var(--panel); padding: .1em .3em; border-radius: 4px; }
.code { margin: .75rem 0; border: 1px solid var(--line); border-radius: 8px;
  overflow: hidden; }
.code .lang { padding: .15rem .75rem; font-size: .75rem; color: var(--muted);
  background: var(--panel); border-bottom: 1px solid var(--line); }
pre.highlight { margin: 0; padding: .75rem; overflow-x: auto; background: var(--code);
  line-height: 1.45; }
table { border-collapse: collapse; margin: .75rem 0; display: block; overflow-x: auto; }
th, td { border: 1px solid var(--line); padding: .3rem .7rem; }
th { background: var(--panel); }
blockquote { margin: .5rem 0; padding: 0 1rem; color: var(--muted);
  border-left: 3px solid var(--line); }
.math { font-family: ui-monospace, monospace; }
.math.display { display: block; margin: .5rem 0; text-align: center; white-space: pre; }
"""
