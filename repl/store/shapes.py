"""Which of the store's tables a row read straight off a page (repl/store/sqlfile.py) belongs to,
when the damaged file's schema cannot say: each table's shape, taken from the new, migrated
store, is the number of values its rows have and the kinds of value each column holds on disk.

The store's tables differ in shape (a thread's second value is its name, a message's its
thread's id; a blob's data is bytes, a state value text), so a row fits one table or none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from repl.store import sqlfile
from repl.store.sqlfile import Value

ANY: frozenset[type] = frozenset({int, float, str, bytes, type(None)})
# what SQLite writes for a value of each declared type (an integral REAL is written as an integer)
KINDS: dict[str, frozenset[type]] = {
    "INTEGER": frozenset({int}), "REAL": frozenset({int, float}), "TEXT": frozenset({str}),
    "BLOB": frozenset({bytes})}
NULL: frozenset[type] = frozenset({type(None)})

Row = tuple[Value, ...]


@dataclass(frozen=True, slots=True)
class Shape:
    table: str
    columns: tuple[str, ...]
    kinds: tuple[frozenset[type], ...]  # the Python types each column's values come as
    least: int  # the fewest values a row has (older rows lack the columns added since)
    rowid: int | None  # the INTEGER PRIMARY KEY column, stored as NULL: the cell's rowid

    def fits(self, values: Row) -> bool:
        return (self.least <= len(values) <= len(self.columns)
                and all(type(v) in kinds for v, kinds in zip(values, self.kinds, strict=False)))

    def row(self, cell: sqlfile.Cell) -> Row:
        """The cell's values for every column, the missing ones NULL, the rowid in place."""
        values = list(cell.values) + [None] * (len(self.columns) - len(cell.values))
        if self.rowid is not None:
            values[self.rowid] = cell.rowid
        return tuple(values)


def shape(db: sqlite3.Connection, table: str) -> Shape:
    """The shape of ``table`` in ``db`` (the new store, migrated)."""
    info = db.execute(f"PRAGMA table_info({table})").fetchall()  # cid, name, type, notnull, _, pk
    keys = [column for column in info if column[5]]
    rowid = keys[0][0] if len(keys) == 1 and keys[0][2].upper() == "INTEGER" else None
    kinds = tuple(NULL if cid == rowid else _kinds(kind, bool(notnull or pk))
                  for cid, _, kind, notnull, _, pk in info)
    least = 1 + max((cid for cid, _, _, notnull, _, _ in info if notnull), default=0)
    return Shape(table, tuple(column[1] for column in info), kinds, least, rowid)


def _kinds(declared: str, required: bool) -> frozenset[type]:
    kinds = KINDS.get(declared.upper(), ANY)
    return kinds if required else kinds | NULL


def walk(path: Path, shapes: Iterable[Shape]) -> dict[str, list[Row]]:
    """Every row of the database at ``path`` left on an intact page that fits one of ``shapes``,
    by table; one pass over its pages, whatever its schema says."""
    shapes = tuple(shapes)
    found: dict[str, dict[int, Row]] = {each.table: {} for each in shapes}
    for cell in sqlfile.cells(path):
        for each in shapes:
            if each.fits(cell.values):
                found[each.table].setdefault(cell.rowid, each.row(cell))
                break
    return {table: list(rows.values()) for table, rows in found.items()}
