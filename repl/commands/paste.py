"""/paste: the image on the clipboard, attached to the next message as /attach attaches a file.

The clipboard is read by the first tool of CLIPBOARD_TOOLS found on PATH that gives a PNG; its
bytes go to a private file in the data dir (``pasted/``), which /attach then stages. The store
keeps what is sent, so pasted files are only needed until then: those older than KEPT are
removed at the next /paste.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import time
from pathlib import Path

from repl import files
from repl.attachments import SIGNATURES
from repl.commands.attach import attach
from repl.commands.registry import CommandError, command
from repl.context import Context

PNG = next(head for head, kind in SIGNATURES if kind == "image/png")
# (tool, the command that prints the clipboard's image as PNG): Wayland, X11, macOS
CLIPBOARD_TOOLS = (
    ("wl-paste", ["--type", "image/png"]),
    ("xclip", ["-selection", "clipboard", "-t", "image/png", "-o"]),
    ("pngpaste", ["-"]),
)
TIMEOUT = 10.0  # seconds a clipboard tool may take (a clipboard owner that never answers)
KEPT = 24 * 3600  # seconds a pasted file is kept (sent or not)


class ClipboardError(CommandError):
    """/paste found no image: no clipboard tool is installed, or none gave one."""


@command("paste")
async def paste(ctx: Context, arg: str) -> None:
    """Attach the image on the clipboard to your next message (wl-paste, xclip or pngpaste)."""
    if arg:
        raise CommandError("/paste takes no argument (/attach PATH attaches a file)")
    data = await clipboard_image()
    folder = ctx.config.data_dir / "pasted"
    try:
        files.private_dir(folder.parent)
        files.private_subdir(folder)  # never a link planted there: written and pruned in
    except OSError as e:
        raise CommandError(f"cannot keep the pasted image in {folder}: {e.strerror or e}") from None
    _prune(folder, keep=set(ctx.staged))
    path = _free_name(folder, time.strftime("clipboard-%Y%m%d-%H%M%S", time.localtime(ctx.clock())))
    files.atomic_write(path, data, exclusive=True)
    await attach(ctx, shlex.quote(str(path)))


async def clipboard_image() -> bytes:
    """The PNG on the clipboard, from the first installed tool that has one; ClipboardError saying
    which tools were tried and why none gave one."""
    installed = [(path, args) for tool, args in CLIPBOARD_TOOLS if (path := shutil.which(tool))]
    if not installed:
        names = ", ".join(tool for tool, _ in CLIPBOARD_TOOLS)
        raise ClipboardError(f"no clipboard tool is installed (one of {names}); "
                      "save the image and /attach it")
    why: list[str] = []
    for path, args in installed:
        name = Path(path).name
        try:
            data = await _run(path, args)
        except ClipboardError as e:
            why.append(f"{name}: {e}")
            continue
        if data.startswith(PNG):
            return data
        why.append(f"{name}: not an image")
    raise ClipboardError(f"the clipboard holds no image ({'; '.join(why)})")


async def _run(path: str, args: list[str]) -> bytes:
    try:
        process = await asyncio.create_subprocess_exec(
            path, *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE)
    except OSError as e:
        raise ClipboardError(e.strerror or str(e)) from None
    try:
        out, err = await asyncio.wait_for(process.communicate(), TIMEOUT)
    except TimeoutError:
        raise ClipboardError(f"no answer in {TIMEOUT:g} s") from None
    finally:
        if process.returncode is None:  # timed out, or Ctrl-C: it does not outlive the command
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()
    if process.returncode != 0:
        said = err.decode("utf-8", "replace").strip().splitlines()
        raise ClipboardError(said[-1][:120] if said else f"exit status {process.returncode}")
    return out


def _free_name(folder: Path, stem: str) -> Path:
    path, n = folder / f"{stem}.png", 1
    while os.path.lexists(path):
        n += 1
        path = folder / f"{stem}-{n}.png"
    return path


def _prune(folder: Path, *, keep: set[Path]) -> None:
    """Remove the pasted files older than KEPT, except those staged here."""
    now = time.time()
    for path in folder.glob("clipboard-*.png"):
        with contextlib.suppress(OSError):
            if path not in keep and now - path.stat().st_mtime > KEPT:
                files.remove(path)
