"""html-export.png (and html-export-dark.png, the reader's system set to dark): a thread exported
by ``chatrepl --export x.html``, shot by headless Chromium.

The thread is tests/html_sample.py's (code, a list, a table, reasoning, a tool call and its
result, an image, a summary, an interrupted answer), stored in a temporary data dir and exported
by the installed ``chatrepl``. The shot shows the page with its <details> (reasoning, the tool
call) open, as a reader's click would leave them; the file as exported keeps them closed.
Nothing of the user's (threads, config, browser profile) is touched.

    .venv/bin/python screenshots/browser.py          # needs chromium
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))

import html_sample  # noqa: E402

CHATREPL = Path(sys.executable).with_name("chatrepl")
SIZE = "1200,2380"  # wide as a laptop window, tall enough for the whole thread


def main() -> None:
    browser = shutil.which("chromium") or sys.exit("chromium is not installed")
    with tempfile.TemporaryDirectory(prefix="chatrepl-html-") as tmp:
        base = Path(tmp)
        env = {**{k: v for k, v in os.environ.items() if not k.startswith(("CHATREPL_",
                                                                             "OPENAI_"))},
               "HOME": str(base), "XDG_DATA_HOME": str(base / "data"),
               "XDG_CONFIG_HOME": str(base / "config")}
        html_sample.store(base / "data" / "chatrepl").close()
        page = base / "thread.html"
        subprocess.run([str(CHATREPL), "-t", html_sample.NAME, "--export", str(page)], env=env,
                       check=True)
        opened = page.read_text().replace('<details class="reasoning">',
                                          '<details class="reasoning" open>')
        page.write_text(opened.replace('<details class="tool-call">',
                                       '<details class="tool-call" open>'))
        for name, flags in (("html-export.png", []), ("html-export-dark.png",
                                                      ["--force-dark-mode"])):
            shot(browser, page, HERE / name, base / f"profile-{name}", flags)


def shot(browser: str, page: Path, out: Path, profile: Path, flags: list[str]) -> None:
    subprocess.run([browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                    f"--user-data-dir={profile}", f"--window-size={SIZE}", *flags,
                    f"--screenshot={out}", page.as_uri()], check=True, capture_output=True)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
