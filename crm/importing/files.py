"""Reading spreadsheets as rows of text, streaming, whatever produced them.

CSV: comma, semicolon or tab (detected); UTF-8 with or without BOM, UTF-16 with BOM, otherwise
Windows-1252 (what European Excel writes). XLSX (streamed with openpyxl) and ODS (through tablib).
Rows are lists of stripped strings; rows with nothing in them are skipped.
"""

from __future__ import annotations

import codecs
import csv
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.utils.translation import gettext as _

DELIMITERS = (",", ";", "\t")
SAMPLE_BYTES = 64 * 1024


class UnreadableFileError(ValueError):
    """The file is not a spreadsheet this importer reads; nothing can be imported from it."""


class Line(list[str]):
    """A row's cells, and its number as a spreadsheet program shows it (the header is 1)."""

    number: int = 0


@dataclass
class Table:
    headers: list[str]
    rows: Iterator[Line]  # data rows, lazily: a large file is never held in memory whole
    encoding: str = ""
    delimiter: str = ""


def read_table(path: Path, *, name: str | None = None) -> Table:
    """The header row and the data rows of the spreadsheet at `path` (named `name` by the user)."""
    suffix = Path(name or path.name).suffix.lower()
    readers = {".xlsx": _read_xlsx, ".xlsm": _read_xlsx, ".ods": _read_ods}
    reader = readers.get(suffix) or (_read_csv if suffix in {".csv", ".txt", ".tsv", ""} else None)
    if reader is not None:
        table = reader(path)
        table.rows = _padded(table.rows, len(table.headers))
        return table
    raise UnreadableFileError(
        _("Files ending in %(suffix)s cannot be imported: use CSV, XLSX or ODS.")
        % {"suffix": suffix}
    )


def _padded(rows: Iterator[Line], width: int) -> Iterator[Line]:
    # Spreadsheets drop trailing empty cells: every row is as wide as the header (or wider).
    for row in rows:
        if len(row) < width:
            row.extend([""] * (width - len(row)))
        yield row


def detect_encoding(path: Path) -> str:
    with path.open("rb") as handle:
        start = handle.read(4)
    if start.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if start.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    # Valid UTF-8 all the way through, or else Windows-1252: decoded in chunks, never whole.
    decoder = codecs.getincrementaldecoder("utf-8")()
    with path.open("rb") as handle:
        try:
            while chunk := handle.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            return "cp1252"
    return "utf-8"


def detect_delimiter(sample: str) -> str:
    first_line = next(iter(sample.splitlines()), "")
    try:
        dialect = csv.Sniffer().sniff(sample, delimiters="".join(DELIMITERS))
        if dialect.delimiter in DELIMITERS and first_line.count(dialect.delimiter):
            return dialect.delimiter
    except csv.Error:
        pass
    # The sniffer gives up on short or irregular files: the header line decides.
    return max(DELIMITERS, key=first_line.count)


def _clean(row: list[Any]) -> list[str]:
    return ["" if cell is None else str(cell).strip() for cell in row]


def _data_rows(rows: Iterator[list[Any]]) -> Iterator[Line]:
    # Empty rows are skipped but still counted, so that numbers match what the organizer sees.
    for number, row in enumerate(rows, 1):
        cleaned = Line(_clean(row))
        if any(cleaned):
            cleaned.number = number
            yield cleaned


def _header(rows: Iterator[Line]) -> list[str]:
    try:
        for row in rows:
            if any(row):
                # A NUL cannot be stored (PostgreSQL text and JSON refuse it) nor mean anything
                # in a column name.
                return [cell.replace("\x00", "") for cell in row]
    except UnreadableFileError:
        raise
    except Exception as error:
        raise UnreadableFileError(
            _("The file's first rows cannot be read: %(error)s") % {"error": error}
        ) from None
    raise UnreadableFileError(_("The file has no header row."))


def _read_csv(path: Path) -> Table:
    encoding = detect_encoding(path)
    # Windows-1252 leaves five bytes undefined; Excel files still carry them now and then.
    errors = "replace" if encoding == "cp1252" else "strict"
    try:
        with path.open("r", encoding=encoding, errors=errors, newline="") as handle:
            sample = handle.read(SAMPLE_BYTES)
    except UnicodeError as error:
        raise UnreadableFileError(
            _("The file's text cannot be decoded: %(error)s") % {"error": error}
        ) from None
    delimiter = detect_delimiter(sample)

    def rows() -> Iterator[Line]:
        with path.open("r", encoding=encoding, errors=errors, newline="") as handle:
            yield from _data_rows(csv.reader(handle, delimiter=delimiter))

    stream = rows()
    try:
        headers = _header(stream)
    except (csv.Error, UnicodeError) as error:
        raise UnreadableFileError(
            _("The file cannot be read as CSV: %(error)s") % {"error": error}
        ) from None
    return Table(headers=headers, rows=_guarded(stream), encoding=encoding, delimiter=delimiter)


def _guarded(rows: Iterator[Line], kind: str = "CSV") -> Iterator[Line]:
    # A file can turn out broken halfway through (a bad byte, a truncated zip entry): that is
    # the file's fault, reported as such, not a server error.
    try:
        yield from rows
    except UnreadableFileError:
        raise
    except Exception as error:
        raise UnreadableFileError(
            _("The file cannot be read as %(kind)s: %(error)s") % {"kind": kind, "error": error}
        ) from None


def _check_unpacked(path: Path, kind: str) -> None:
    """Refuse a zip (XLSX, ODS) that unpacks to more than IMPORT_MAX_UNPACKED_BYTES: a few
    kilobytes can otherwise expand to gigabytes (a "zip bomb")."""
    from django.conf import settings

    try:
        with zipfile.ZipFile(path) as archive:
            unpacked = sum(entry.file_size for entry in archive.infolist())
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise UnreadableFileError(
            _("The file cannot be read as %(kind)s: %(error)s") % {"kind": kind, "error": error}
        ) from None
    if unpacked > settings.IMPORT_MAX_UNPACKED_BYTES:
        raise UnreadableFileError(
            _("The file unpacks to more than %(limit)d MB: split it into smaller files.")
            % {"limit": settings.IMPORT_MAX_UNPACKED_BYTES // (1024 * 1024)}
        )


def _read_xlsx(path: Path) -> Table:
    from openpyxl import load_workbook
    from openpyxl.utils.exceptions import InvalidFileException

    _check_unpacked(path, "XLSX")
    try:
        workbook = load_workbook(path, read_only=True, data_only=True)
        sheet = workbook.worksheets[0]
    except (
        InvalidFileException,
        zipfile.BadZipFile,
        KeyError,
        OSError,
        ValueError,
        IndexError,
    ) as error:
        raise UnreadableFileError(
            _("The file cannot be read as XLSX: %(error)s") % {"error": error}
        ) from None
    # The sheet's declared size is the file's word, and a hostile file can declare a million
    # rows of 16,384 columns: read only the cells that are really there.
    sheet.reset_dimensions()
    stream = _data_rows(iter(sheet.iter_rows(values_only=True)))
    return Table(headers=_header(stream), rows=_guarded(stream, "XLSX"))


def _read_ods(path: Path) -> Table:
    import tablib

    _check_unpacked(path, "ODS")
    try:
        with path.open("rb") as handle:
            dataset = tablib.Dataset().load(handle.read(), format="ods")
    except Exception as error:  # tablib raises whatever its ODS reader meets
        raise UnreadableFileError(
            _("The file cannot be read as ODS: %(error)s") % {"error": error}
        ) from None
    rows = [list(dataset.headers or []), *[list(row) for row in dataset]]
    stream = _data_rows(iter(rows))
    return Table(headers=_header(stream), rows=stream)
