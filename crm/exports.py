"""Helpers for files users download: spreadsheets must not run what a cell says."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.http import HttpResponse, StreamingHttpResponse
from django.utils import timezone, translation

# A cell starting with one of these is taken as a formula by Excel, LibreOffice and Sheets.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")


def safe_cell(value: Any) -> Any:
    """The value, with text that a spreadsheet would run as a formula turned into plain text.

    The importers take a leading apostrophe before a formula sign (or before another
    apostrophe) as this escape and remove it, so such text is escaped too: "'=x" is written
    "''=x" and reads back as "'=x".
    """
    if isinstance(value, str) and (
        value.startswith(FORMULA_STARTS)
        or (value.startswith("'") and value[1:].startswith((*FORMULA_STARTS, "'")))
    ):
        return "'" + value
    return value


# Control characters an XLSX file cannot hold (openpyxl refuses them); text imported from a CSV
# may carry them.
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")


def xlsx_cell(value: Any) -> Any:
    """safe_cell, and characters XLSX cannot store shown as U+FFFD."""
    value = safe_cell(value)
    if isinstance(value, str):
        return _XLSX_ILLEGAL.sub("\ufffd", value)
    return value


class _Echo:
    """A file that hands back what is written: csv.writer then yields lines, not a buffer."""

    def write(self, value: str) -> str:
        return value


def csv_response(
    *, header: list[str], rows: Iterable[list[Any]], filename: str
) -> StreamingHttpResponse:
    """A CSV download streamed row by row, formula-like cells defused.

    The rows are produced after the view has returned, when middleware has already reset the
    time zone and language: the reader's are kept for them here.
    """
    zone, language = timezone.get_current_timezone(), translation.get_language()
    writer = csv.writer(_Echo())

    def lines() -> Iterator[str]:
        with timezone.override(zone), translation.override(language):
            yield "\ufeff"  # a byte-order mark, so that Excel reads UTF-8 names correctly
            yield writer.writerow(header)
            for row in rows:
                yield writer.writerow([safe_cell(cell) for cell in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def xlsx_response(
    *, header: list[str], rows: Iterable[list[Any]], filename: str, sheet: str
) -> HttpResponse:
    """An XLSX download, written row by row (openpyxl's write-only mode), formulas defused."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(title=sheet[:31])
    worksheet.append(header)
    for row in rows:
        worksheet.append([xlsx_cell(cell) for cell in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = HttpResponse(
        buffer.getvalue(),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def write_table(path: Path, *, header: list[str], rows: Iterable[list[Any]], sheet: str) -> int:
    """Write a CSV (UTF-8 with BOM) or XLSX file by `path`'s extension; the number of rows."""
    count = 0
    if path.suffix.lower() == ".xlsx":
        from openpyxl import Workbook

        workbook = Workbook(write_only=True)
        worksheet = workbook.create_sheet(title=sheet[:31])
        worksheet.append(header)
        for row in rows:
            worksheet.append([xlsx_cell(cell) for cell in row])
            count += 1
        workbook.save(path)
        return count
    with path.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        for row in rows:
            writer.writerow([safe_cell(cell) for cell in row])
            count += 1
    return count
