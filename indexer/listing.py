"""The command line's tables (one owner for every `twinwatch` listing): no cell is ever cut
with an ellipsis (a long file name, URL or hash folds onto the next line at any terminal
width), cells are shown as written (a file named ``[red].jpg`` is not markup), and every
listing ends with a summary line."""

from __future__ import annotations

from collections.abc import Iterable

from rich.console import Console
from rich.markup import escape
from rich.table import Table


def listing(*headers: str, title: str | None = None) -> Table:
    """An empty table whose every column folds long values instead of truncating them."""
    table = Table(title=title)
    for header in headers:
        table.add_column(header, overflow="fold")
    return table


def add_plain_row(table: Table, values: Iterable[str]) -> None:
    """A row of values as written (escaped: never read as Rich markup)."""
    table.add_row(*(escape(value) for value in values))


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``1 talent``, ``3 talents``, ``2 keys`` (``plural`` where adding "s" is wrong)."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"


def summary_line(total: str, *parts: tuple[int, str]) -> str:
    """``"12 talents, 3 without a usable photo"``: the total, then each part that is not
    zero; ``"5 scans: 2 matched, 1 failed"`` where the total ends with a colon."""
    shown = [f"{count} {what}" for count, what in parts if count]
    if not shown:
        return total.removesuffix(":")
    joiner = " " if total.endswith(":") else ", "
    return total + joiner + ", ".join(shown)


def print_listing(console: Console, table: Table, line: str) -> None:
    """The table, then its summary line."""
    console.print(table)
    console.print(line, highlight=False, markup=False)
