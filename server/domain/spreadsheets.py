"""CSV files, each in two variants with the same columns in the same order.

- plain, for programs and scripts: `,` between cells, `.` in numbers, English snake_case
  headers, machine-readable values (ISO dates, codes such as `closed` or `payg`). Its
  columns only grow, at the end: a script that reads one keeps working.
- Excel, for a French spreadsheet opened by a double click: `;` between cells (a French
  Excel splits on it), a decimal comma, a byte order mark (without it Excel reads the
  file as Windows-1252 and "é" comes out as "Ã©"), French headers and French words.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal

#: Tells Excel the file is UTF-8.
BOM = "\ufeff"


def cell(text: str) -> str:
    """A text cell a spreadsheet never runs as a formula (CSV injection): one that starts
    like a formula gets a leading apostrophe, which spreadsheets show as text."""
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def number(value: float | Decimal, digits: int, excel: bool) -> str:
    """A number with `digits` decimals: "4.00", or "4,00" for Excel."""
    shown = f"{value:.{digits}f}"
    return shown.replace(".", ",") if excel else shown


def csv_text(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    excel: bool,
    lineterminator: str = "\r\n",
) -> str:
    """The CSV text of `rows` under `headers`, plain or for Excel (`;` and a BOM)."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if excel else ",", lineterminator=lineterminator)
    writer.writerow(headers)
    writer.writerows(rows)
    return (BOM if excel else "") + out.getvalue()
