"""The HTML export: the escaping and the page as text, then the page in a real browser (headless
Chromium's --dump-dom: the DOM after scripts ran), which must show every message, highlight
code, run no script and fetch nothing.

The browser tests skip, saying so, only where Chromium is not installed (.ci/run installs it).
"""

from __future__ import annotations

import asyncio
import http.server
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path

import html_sample
import pytest
from fakeserver import FakeOpenAI, Reply
from harness import Session, editor_replacing
from hypothesis import given, settings
from hypothesis import strategies as st

from repl.export import format_for
from repl.export_html import CSP, render_markdown, to_html
from repl.export_style import STYLE
from repl.thread import Message, ThreadInfo
from repl.transfer import export_text, export_thread

# -- the page as text ----------------------------------------------------------------------------


class Page(HTMLParser):
    """A page parsed: its text, its title and every element with its attributes."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.text: list[str] = []
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.title = ""
        self._in: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag not in ("img", "meta", "br", "hr", "input"):
            self._in.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self._in:
            del self._in[len(self._in) - 1 - self._in[::-1].index(tag):]

    def handle_data(self, data: str) -> None:
        if "title" in self._in:
            self.title += data
        elif "style" not in self._in:
            self.text.append(data)

    def all_text(self) -> str:
        return "".join(self.text)

    def tags(self, name: str) -> list[dict[str, str]]:
        return [attrs for tag, attrs in self.elements if tag == name]


def resources(page: Page) -> list[str]:
    """Every URL the page would fetch by itself (not a link a reader may click)."""
    fetched = ("src", "srcset", "poster", "data", "background", "formaction", "action")
    urls = [v for _, attrs in page.elements for k, v in attrs.items() if k in fetched]
    urls += [a.get("href", "") for a in page.tags("link")]
    return urls


def assert_inert(page: Page) -> None:
    """No script, no handler, no frame or object, nothing fetched but data URLs."""
    for tag in ("script", "iframe", "object", "embed", "link", "base", "form", "svg"):
        assert not page.tags(tag), tag
    handlers = [(tag, k) for tag, attrs in page.elements for k in attrs if k.startswith("on")]
    assert handlers == []
    assert all(url.startswith("data:image/") for url in resources(page)), resources(page)
    hrefs = [a["href"] for a in page.tags("a") if "href" in a]
    assert all(h.startswith(("http://", "https://", "mailto:")) for h in hrefs), hrefs


@pytest.mark.parametrize("text", [
    "<script>document.title='pwned'</script>",
    "<img src=x onerror=\"document.title='pwned'\">",
    "a <b onclick=alert(1)>bold</b> <iframe src=http://x></iframe>",
    "<svg onload=alert(1)>\n\n<details open ontoggle=alert(1)>",
    "```\n</code></pre><script>alert(1)</script>\n```",
    "`<script>alert(1)</script>`",
])
def test_raw_html_from_the_model_is_text(text: str) -> None:
    html = render_markdown(text)
    page = Page(html)
    assert_inert(page)
    assert "<" in page.all_text()  # the markup is shown, as text


PIECES = ["<script>", "</script>", "<img src=x onerror=alert(1)>", "<a href='javascript:x'>",
          "javascript:", "](", "[", "![", ")", "`", "```", "\n", "$", "\\(", "\\)", "<",
          ">", '"', "'", "&", "&#58;", "on", "=", " ", "x", "http://127.0.0.1/", "<svg", "*"]


@given(st.lists(st.sampled_from(PIECES) | st.text(max_size=5), max_size=40).map("".join))
@settings(max_examples=300, deadline=None)
def test_property_no_markdown_makes_markup(text: str) -> None:
    assert_inert(Page(render_markdown(text)))


@pytest.mark.parametrize("link", [
    "[x](javascript:alert(1))", "[x](JaVaScRiPt:alert(1))", "[x](javascript&#58;alert(1))",
    "[x](vbscript:msgbox(1))", "[x](data:text/html;base64,PHNjcmlwdD4=)", "[x](file:///etc/passwd)",
    "[x](../../secret.txt)", "<javascript:alert(1)>", "[x][r]\n\n[r]: javascript:alert(1)",
    "![x](javascript:alert(1))", "![x](data:image/svg+xml;base64,PHN2Zz4=)", "[]()", "![x]()",
])
def test_links_other_than_web_and_mail_are_not_links(link: str) -> None:
    page = Page(render_markdown(link))
    assert_inert(page)
    assert all("href" not in a for a in page.tags("a")), page.tags("a")


def test_web_and_mail_links_are_links_and_images_are_links_too() -> None:
    page = Page(render_markdown("[docs](https://docs.python.org/3/) <mailto:me@example.com> "
                                "![a chart](http://example.com/c.png)"))
    hrefs = [a["href"] for a in page.tags("a")]
    assert hrefs == ["https://docs.python.org/3/", "mailto:me@example.com",
                     "http://example.com/c.png"]
    assert page.tags("img") == [] and "image: a chart" in page.all_text()
    assert all(a["rel"] == "noopener noreferrer" for a in page.tags("a"))


@pytest.mark.parametrize(("text", "math"), [
    ("the mean $\\bar{x} < 1$ here", [("x\u0305 < 1", "$\\bar{x} < 1$")]),
    ("$$\\alpha^2 + \\frac{1}{2}$$", [("α² + ½", "$$\\alpha^2 + \\frac{1}{2}$$")]),
    ("inline \\(a_1 * b_2\\) and \\[e^{i\\pi}\\]",
     [("a₁ * b₂", "\\(a_1 * b_2\\)"), ("e^(iπ)", "\\[e^{i\\pi}\\]")]),
    ("$\\nosuchmacro{x}$ stays", [("$\\nosuchmacro{x}$", None)]),  # shown as the TeX it is
    ("$5 and $10 are money", []),
    ("costs $5, or $ 6 $", []),
    ("`$x$` is code", []),
    ("a \\$5 fee and $HOME", []),
])
def test_math_is_shown_as_unicode_with_its_tex_beside_it(
        text: str, math: list[tuple[str, str | None]]) -> None:
    html = render_markdown(text)
    spans = re.findall(r'<span class="math(?: display)?"(?: title="([^"]*)")?[^>]*>(.*?)</span>',
                       html, re.S)
    assert [(Page(shown).all_text(), Page(tex).all_text() if tex else None)
            for tex, shown in spans] == math
    assert "<script" not in html


def test_a_matrix_keeps_its_rows_in_the_page() -> None:
    html = render_markdown("$$\\begin{pmatrix} 1 & 2 \\\\ 3 & 4 \\end{pmatrix}$$")
    shown = Page(re.findall(r'<span class="math display"[^>]*>(.*?)</span>', html, re.S)[0])
    assert shown.all_text().count("\n") == 1, shown.all_text()  # two rows, white-space: pre
    assert "white-space: pre" in STYLE


def test_code_is_highlighted_and_an_unknown_language_is_plain() -> None:
    html = render_markdown("```python\ndef f(): return 1\n```\n\n```nosuchlang\n<b>x</b>\n```")
    assert '<span class="k">def</span>' in html and '<div class="lang">python</div>' in html
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    odd = render_markdown('```"><script>x</script>\ncode\n```')
    assert "<script" not in odd and "&lt;script&gt;" in odd


def page_of(messages: list[Message], *, name: str = "t", model: str | None = None,
            system: str | None = None) -> str:
    return to_html(ThreadInfo(name, model=model, system=system), messages, now=1_700_000_000.0)


def test_the_page_escapes_every_field_and_holds_a_csp_first() -> None:
    evil = "<script>alert(1)</script>"
    call = {"id": "c", "type": "function", "function": {"name": evil, "arguments": evil}}
    html = page_of([
        Message("user", evil),
        Message("assistant", evil, model=evil, status=evil, reasoning=evil,
                fields={"tool_calls": [call], "refusal": evil}),
        Message("tool", evil, fields={"tool_call_id": "c"}),
        Message(evil, evil),
    ], name=evil, model=evil, system=evil)
    page = Page(html)
    assert_inert(page)
    assert page.title == evil and page.all_text().count(evil) >= 8
    assert html.index("Content-Security-Policy") < html.index("<title>") < html.index("<style>")
    assert page.tags("meta")[1] == {"http-equiv": "Content-Security-Policy", "content": CSP}
    assert "default-src 'none'" in CSP and "img-src data:" in CSP and "script-src" not in CSP


def test_only_raster_data_urls_are_shown_as_images() -> None:
    def image(url: str) -> dict[str, object]:
        return {"type": "image_url", "image_url": {"url": url}}

    parts = (image("data:image/png;base64,iVBORw0KGgo="), image("http://example.com/a.png"),
             image("data:image/svg+xml;base64,PHN2ZyBvbmxvYWQ9YWxlcnQoMSk+"),
             image('data:image/png;base64,AA=="><script>x</script>'),
             {"type": "file", "file": {"filename": "<b>report</b>.pdf", "file_data": "x"}})
    page = Page(page_of([Message("user", "see", parts=parts)]))
    assert_inert(page)
    assert [i["src"] for i in page.tags("img")] == ["data:image/png;base64,iVBORw0KGgo="]
    assert "a.png" in page.all_text() and "<b>report</b>.pdf" in page.all_text()


def test_format_from_the_extension_or_the_flag() -> None:
    assert [format_for(p) for p in ("a.html", "A.HTM", "a.json", "a.md", "a", "html")] == \
        ["html", "html", "json", "md", "md", "md"]
    assert format_for("a.md", "html") == "html"


def test_the_store_puts_the_image_bytes_back(tmp_path: Path) -> None:
    store = html_sample.store(tmp_path)
    text, count = export_text(store, html_sample.NAME, "html")
    assert count == 10
    stored = store.messages(html_sample.NAME)
    assert any("chatrepl-blob:" in str(m.parts) for m in stored)  # the store keeps a reference
    assert "chatrepl-blob:" not in text
    (img,) = Page(text).tags("img")
    assert img["alt"] == "sales-2024.png" and img["src"].startswith("data:image/png;base64,iVBOR")
    path = tmp_path / "out.html"
    assert export_thread(store, html_sample.NAME, str(path)) == 10  # .html: the same page

    def undated(page: str) -> str:
        return re.sub(r"exported <time.*?</time>", "", page)

    assert undated(path.read_text()) == undated(text)


def chatrepl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "repl", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def test_cli_and_slash_export_write_html(api_env: dict[str, str], server: FakeOpenAI,
                                         tmp_path: Path) -> None:
    assert chatrepl(api_env, "-t", "t", "hello <b>there</b>").returncode == 0
    done = chatrepl(api_env, "-t", "t", "--export", str(tmp_path / "t.html"))
    assert done.returncode == 0 and done.stderr.startswith("exported 't' (2 messages)")
    page = Page((tmp_path / "t.html").read_text())
    assert "hello <b>there</b>" in page.all_text() and page.title == "t"
    done = chatrepl(api_env, "-t", "t", "--export", str(tmp_path / "t.txt"), "--format", "html")
    assert done.returncode == 0 and (tmp_path / "t.txt").read_text().startswith("<!DOCTYPE html>")
    done = chatrepl(api_env, "-t", "t", "--export", "-", "--format", "html")
    assert Page(done.stdout).title == "t"

    async def go() -> None:
        s = await Session().start("t")
        out = await s.line(f"/export {tmp_path / 'slash.html'}")
        assert "exported 2 messages" in out
        await s.quit()

    asyncio.run(go())
    assert "hello <b>there</b>" in Page((tmp_path / "slash.html").read_text()).all_text()


def test_versions_and_a_corrected_answer_are_marked_in_the_page(
        api_env: dict[str, str], server: FakeOpenAI, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VISUAL", editor_replacing(tmp_path, "Lyon", "Paris"))
    server.queue(Reply("first answer"), Reply("second answer"), Reply("third answer"),
                 Reply("The capital is Lyon."))

    async def go() -> None:
        s = await Session().start("t")
        await s.line("tell me")
        await s.line("/retry")
        await s.line("/retry")
        await s.line("/version 2")
        await s.line("capital of France?")
        await s.line("/edit --answer")
        await s.line(f"/export {tmp_path / 't.html'}")
        await s.quit()

    asyncio.run(go())
    page = (tmp_path / "t.html").read_text()
    heads = [Page(h).all_text() for h in re.findall(r'<span class="who">(.*?)</span>', page)]
    answers = [h for h in heads if h.startswith("Assistant")]
    assert any(h.endswith("version ‹2/3›") for h in answers), heads
    assert "second answer" in Page(page).all_text() and "third answer" not in page
    corrected = [h for h in answers if "edited by the user" in h]
    assert len(corrected) == 1 and "The capital is Paris." in page and "Lyon" not in page


# -- in a real browser ---------------------------------------------------------------------------

# .ci/run names the browser it installed (read at import: inside a test CHATREPL_* is cleared);
# then a browser test fails rather than skip
CHROMIUM = os.environ.get("CHATREPL_TEST_CHROMIUM") or next(
    filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
browser = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                             "(apt-get install chromium; .ci/run installs it)")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def chromium(page: Path, *flags: str) -> str:
    """The DOM of ``page`` once loaded and its scripts ran (the timeout only catches a hang)."""
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *flags,
                               "--dump-dom", page.as_uri()], capture_output=True, text=True,
                              timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


class Recorder(http.server.BaseHTTPRequestHandler):
    """A server that serves nothing and records every request the browser makes to it."""

    seen: list[str]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[str]]]:
    seen: list[str] = []
    handler = type("Handler", (Recorder,), {"seen": seen})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def hostile_page(tmp_path: Path, url: str) -> str:
    """The sample thread, with an answer that tries to run script and fetch from ``url``."""
    store = html_sample.store(tmp_path)
    store.append(html_sample.NAME, Message("assistant", (
        f"<script>document.title='pwned'</script> <img src={url}/raw onerror=\"document.title="
        f"'pwned'\"> ![chart]({url}/markdown.png) [go]({url}/link) <{url}/auto>\n\n"
        f"<iframe src=\"{url}/frame\"></iframe>\n\n<style>body{{background:url({url}/css)}}"
        "</style>")))
    return export_text(store, html_sample.NAME, "html")[0]


@browser
@pytest.mark.timeout(600)
@pytest.mark.parametrize("csp", [True, False], ids=["with-csp", "escaping-alone"])
def test_in_a_browser_no_script_runs_and_nothing_is_fetched(
        tmp_path: Path, recorder: tuple[str, list[str]], csp: bool) -> None:
    url, seen = recorder
    html = hostile_page(tmp_path, url)
    if not csp:  # the escaping must hold by itself: the CSP is for what slips past it
        html = html.replace(f'<meta http-equiv="Content-Security-Policy" content="{CSP}">', "")
        assert "Content-Security-Policy" not in html
    path = tmp_path / "page.html"
    path.write_text(html)
    dom = Page(chromium(path))
    assert dom.title == html_sample.NAME  # no script ran to change it
    assert_inert(dom)
    assert seen == []  # the browser asked the server for nothing
    assert "<script>document.title='pwned'</script>" in dom.all_text()  # shown, as text
    assert f"{url}/markdown.png" in [a.get("href") for a in dom.tags("a")]  # a link, not an image


@browser
@pytest.mark.timeout(600)
def test_in_a_browser_the_csp_stops_what_slipped_past(tmp_path: Path,
                                                      recorder: tuple[str, list[str]]) -> None:
    """Markup put into the page by hand, as a bug in the escaping would: the CSP keeps it inert.
    Without the CSP the same markup runs and fetches, which shows the test can see both."""
    url, seen = recorder
    slipped = (f"<script>document.title='pwned'</script><img src=\"{url}/slip.png\">"
               f"<img src=\"x\" onerror=\"document.title='pwned'\">")
    html = hostile_page(tmp_path, url).replace("<main>", "<main>" + slipped)
    (tmp_path / "with.html").write_text(html)
    dom = Page(chromium(tmp_path / "with.html"))
    assert dom.title == html_sample.NAME and seen == []

    bare = html.replace(f'<meta http-equiv="Content-Security-Policy" content="{CSP}">', "")
    (tmp_path / "without.html").write_text(bare)
    assert Page(chromium(tmp_path / "without.html")).title == "pwned"
    assert seen == ["/slip.png"]


@browser
@pytest.mark.timeout(600)
def test_in_a_browser_every_message_shows_and_code_is_highlighted(tmp_path: Path) -> None:
    store = html_sample.store(tmp_path)
    path = tmp_path / "thread.html"
    export_thread(store, html_sample.NAME, str(path))
    dom_html = chromium(path)
    dom = Page(dom_html)
    text = " ".join(dom.all_text().split())
    for shown in (html_sample.SYSTEM, html_sample.QUESTION, html_sample.SUMMARY_TEXT,
                  "csv.DictReader plus a Counter is enough", "Totals per region",
                  "collections.Counter adds the amounts up per region", "1,204.50",
                  "Tool call · files.head", '"path": "sales.csv"', "south,980.00",
                  "And if a row is malformed?", "onerror=\"document.title='pwned'\"",
                  html_sample.INTERRUPTED, "interrupted", "gpt-4o-mini",
                  "sales-2024.png (image/png", "Use csv.DictReader.", "How do I read a CSV file?"):
        assert " ".join(shown.split()) in text, shown
    assert dom.title == html_sample.NAME
    highlighted = re.search(r'<pre class="highlight"><code>(.*?)</code></pre>',
                            dom_html.split("Totals per region", 1)[1], re.S)
    assert highlighted is not None
    assert '<span class="kn">import</span>' in highlighted[1]
    assert '<span class="k">def</span>' in highlighted[1]
    assert ".highlight .k {" in dom_html  # and the theme colours them
    assert [d.get("class") for d in dom.tags("details")] == \
        ["system", "tool-call", "tool-result", "reasoning"]
    assert len(dom.tags("table")) == 1 and len(dom.tags("li")) == 3
    (img,) = dom.tags("img")
    assert img["src"].startswith("data:image/png;base64,")


@browser
@pytest.mark.timeout(600)
@pytest.mark.parametrize(("flags", "background"), [((), "rgb(255, 255, 255)"),
                                                   (("--force-dark-mode",), "rgb(13, 17, 23)")])
def test_in_a_browser_the_theme_follows_the_system(tmp_path: Path, flags: tuple[str, ...],
                                                   background: str) -> None:
    """The page's colours by the reader's preference, read by a probe script added to a copy of
    the page without its CSP (the export itself runs no script)."""
    html = to_html(ThreadInfo("t"), [Message("user", "hi")], now=0.0)
    probe = "<script>document.title = getComputedStyle(document.body).backgroundColor</script>"
    html = html.replace(f'<meta http-equiv="Content-Security-Policy" content="{CSP}">', "")
    (tmp_path / "probe.html").write_text(html.replace("</body>", probe + "</body>"))
    assert Page(chromium(tmp_path / "probe.html", *flags)).title == background
