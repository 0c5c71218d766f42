"""A representative thread for the HTML export (code, a list, a table, reasoning, a tool call and
its result, an image, a summary, an interrupted answer), stored in a real store: the tests and
screenshots/browser.py both export it.
"""

from __future__ import annotations

import base64
import hashlib
import struct
import zlib
from pathlib import Path

from repl.store.buffered import BufferedStore
from repl.store.sqlite import SQLiteStore
from repl.thread import Message

NAME = "csv totals"
SYSTEM = "You are a careful Python reviewer. Prefer the standard library."
QUESTION = "How do I total the amounts in sales.csv per region? Here is a chart of last year."
REASONING = ("The user wants per-region totals. **csv.DictReader** plus a Counter is enough; "
             "money should be `Decimal`, not float.")
ANSWER = """\
## Totals per region

The standard library is enough:

- `csv.DictReader` yields each row as a dict keyed by the header
- `collections.Counter` adds the amounts up per region
- `Decimal` keeps money exact

```python
import csv
from collections import Counter
from decimal import Decimal

def totals(path: str) -> Counter[str]:
    sums: Counter[str] = Counter()
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            sums[row["region"]] += Decimal(row["amount"])
    return sums
```

| region | total |
| --- | ---: |
| north | 1,204.50 |
| south | 980.00 |

The mean is $\\bar{x} = \\frac{1}{n}\\sum_i x_i$, and $5 and $10 stay money.
See the [csv docs](https://docs.python.org/3/library/csv.html)."""
ARGUMENTS = '{"path": "sales.csv", "limit": 3}'
RESULT = "region,amount\nnorth,1204.50\nsouth,980.00"
SUMMARY_TEXT = "Earlier: the user asked about reading CSV files; we chose csv.DictReader."
HOSTILE = ("Here is <script>document.title='pwned'</script> and "
           "<img src=x onerror=\"document.title='pwned'\"> and "
           "[click](javascript:document.title='pwned') and ![pic](http://127.0.0.1:9/x.png).")
INTERRUPTED = "Let me also show a pandas version, which"


def chart_png(width: int = 240, height: int = 120) -> bytes:
    """A small bar chart as a PNG, drawn without any imaging library."""
    bars = [(30, 0.9, (46, 125, 220)), (100, 0.65, (240, 140, 40)), (170, 0.4, (60, 170, 90))]
    rows = []
    for y in range(height):
        row = bytearray(b"\x00")
        for x in range(width):
            colour = (255, 255, 255)
            for left, share, fill in bars:
                if left <= x < left + 45 and y >= height - 10 - int(share * (height - 20)):
                    colour = fill
            if y == height - 10:
                colour = (90, 90, 90)
            row += bytes(colour)
        rows.append(bytes(row))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(b"".join(rows))) + chunk(b"IEND", b""))


def messages() -> list[Message]:
    image = chart_png()
    url = "data:image/png;base64," + base64.b64encode(image).decode()
    names = {hashlib.sha256(image).hexdigest(): "sales-2024.png"}
    call = {"id": "call_1", "type": "function",
            "function": {"name": "files__head", "arguments": ARGUMENTS}}
    return [
        Message("user", QUESTION, created_at=1_700_000_100.0,
                parts=({"type": "text", "text": QUESTION},
                       {"type": "image_url", "image_url": {"url": url}}),
                meta={"names": names}),
        Message("assistant", "", created_at=1_700_000_110.0, model="gpt-4o",
                fields={"tool_calls": [call]}, meta={"tool_names": {"files__head": "files.head"}}),
        Message("tool", RESULT, created_at=1_700_000_111.0, fields={"tool_call_id": "call_1"}),
        Message("assistant", ANSWER, created_at=1_700_000_120.0, model="gpt-4o",
                reasoning=REASONING),
        Message("user", "And if a row is malformed?", created_at=1_700_000_200.0),
        Message("assistant", HOSTILE, created_at=1_700_000_210.0, model="gpt-4o"),
        Message("assistant", INTERRUPTED, created_at=1_700_000_220.0, model="gpt-4o-mini",
                status="interrupted"),
    ]


EARLIER = [Message("user", "How do I read a CSV file?", created_at=1_700_000_000.0),
           Message("assistant", "Use `csv.DictReader`.", created_at=1_700_000_010.0,
                   model="gpt-4o")]


def store(base: Path) -> BufferedStore:
    """A SQLite store under ``base`` holding the thread NAME: an exchange compacted into a
    summary, then the rest (the image kept as the store's bytes, as /attach keeps it)."""
    s = BufferedStore(SQLiteStore(base / "chatrepl.db"))
    s.create(NAME, model="gpt-4o", system=SYSTEM)
    earlier = s.append_many(NAME, EARLIER)
    s.append(NAME, Message("summary", SUMMARY_TEXT, created_at=1_700_000_050.0,
                           covers=earlier[-1].id))
    s.append_many(NAME, messages())
    return s
