"""Reading spreadsheets: every encoding and delimiter organizers send, XLSX and ODS, and headers."""

from __future__ import annotations

import codecs

import pytest
import tablib
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from crm.importing.files import UnreadableFileError, read_table
from crm.importing.headers import FULL_NAME, detect_mapping, header_key, split_full_name

ROWS = [
    ["Vorname", "Nachname", "E-Mail"],
    ["Jürgen", "Müller", "jm@example.de"],
    ["Ελένη", "Οικονόμου", ""],
]


def _csv(rows: list[list[str]], delimiter: str) -> str:
    return "\r\n".join(delimiter.join(row) for row in rows) + "\r\n"


@pytest.mark.parametrize(
    ("encoding", "prefix", "expected"),
    [
        ("utf-8", b"", "utf-8"),
        ("utf-8", codecs.BOM_UTF8, "utf-8-sig"),
        ("utf-16-le", codecs.BOM_UTF16_LE, "utf-16"),
        ("utf-16-be", codecs.BOM_UTF16_BE, "utf-16"),
    ],
)
def test_it_reads_unicode_csv_in_every_encoding(tmp_path, encoding, prefix, expected):
    path = tmp_path / "people.csv"
    path.write_bytes(prefix + _csv(ROWS, ",").encode(encoding))
    table = read_table(path)
    assert table.encoding == expected
    assert table.headers == ROWS[0]
    assert list(table.rows) == [["Jürgen", "Müller", "jm@example.de"], ["Ελένη", "Οικονόμου", ""]]


def test_it_reads_windows_1252_from_european_excel(tmp_path):
    rows = [
        ["Prénom", "Nom", "Ville"],
        ["Hélène", "Lefèvre", "Saint-Étienne"],
        ["Žofia", "Œuvre", "€"],
    ]
    path = tmp_path / "export.csv"
    path.write_bytes(_csv(rows, ";").encode("cp1252", errors="replace"))
    table = read_table(path)
    assert (table.encoding, table.delimiter) == ("cp1252", ";")
    assert next(table.rows) == ["Hélène", "Lefèvre", "Saint-Étienne"]


@pytest.mark.parametrize("delimiter", [",", ";", "\t"])
def test_it_detects_the_delimiter(tmp_path, delimiter):
    path = tmp_path / "people.csv"
    path.write_text(
        _csv([["first_name", "last_name", "notes"], ["Anna", "Nowak", "a, b; c"]], delimiter)
    )
    table = read_table(path)
    assert table.delimiter == delimiter
    assert table.headers == ["first_name", "last_name", "notes"]


def test_it_keeps_quoted_delimiters_and_line_breaks_in_cells(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text('name;notes\r\n"Nowak, Anna";"line one\r\nline two; still notes"\r\n')
    table = read_table(path)
    assert list(table.rows) == [["Nowak, Anna", "line one\r\nline two; still notes"]]


def test_it_skips_empty_rows_and_trims_cells(tmp_path):
    path = tmp_path / "people.csv"
    path.write_text("\n\nfirst_name,last_name\n  Anna , Nowak \n,\n\n ,  \nJan,Kowalski\n")
    table = read_table(path)
    assert table.headers == ["first_name", "last_name"]
    assert list(table.rows) == [["Anna", "Nowak"], ["Jan", "Kowalski"]]


def test_it_reads_xlsx_without_loading_it_whole(tmp_path):
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(["Given name", "Family name", "Phone number", "Members"])
    sheet.append(["Søren", "Jørgensen", "+45 12 34 56 78", 12])
    sheet.append([None, None, None, None])
    sheet.append(["Ayşe", "Yılmaz", None, None])
    path = tmp_path / "Liste.xlsx"
    workbook.save(path)
    table = read_table(path)
    assert table.headers == ["Given name", "Family name", "Phone number", "Members"]
    assert list(table.rows) == [
        ["Søren", "Jørgensen", "+45 12 34 56 78", "12"],
        ["Ayşe", "Yılmaz", "", ""],
    ]


def test_it_reads_ods(tmp_path):
    dataset = tablib.Dataset(headers=["Name", "E-mail address"])
    dataset.append(["Nowak, Anna", "anna@example.pl"])
    path = tmp_path / "list.ods"
    path.write_bytes(dataset.export("ods"))
    table = read_table(path)
    assert table.headers == ["Name", "E-mail address"]
    assert list(table.rows) == [["Nowak, Anna", "anna@example.pl"]]


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("people.pdf", b"%PDF-1.4"),
        ("people.xlsx", b"not a zip"),
        ("people.ods", b"nor this"),
        ("empty.csv", b"\n\n"),
    ],
)
def test_it_refuses_unusable_files_with_a_clear_error(tmp_path, name, content):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(UnreadableFileError):
        read_table(path)


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-mail", "email"),
        ("Email address", "email"),
        ("EMAIL_ADDRESS", "email"),
        ("Surname", "last_name"),
        ("Family name", "last_name"),
        ("Given name", "first_name"),
        ("Name", FULL_NAME),
        ("Full name", FULL_NAME),
        ("Occupation", "trade"),
        ("Job title", "trade"),
        ("Mobile", "phone"),
        ("Phone number", "phone"),
        ("Telephone", "phone"),
        ("time-zone", "timezone"),
        ("Préférred language", "preferred_language"),
    ],
)
def test_it_recognises_the_headers_people_use(header, field):
    assert detect_mapping([header]).fields == {0: field}


def test_it_maps_each_field_once_and_reports_the_rest():
    mapping = detect_mapping(["Email", "Mail", "Shoe size", "Surname", ""])
    assert mapping.fields == {0: "email", 3: "last_name"}
    assert mapping.unmatched == ["Mail", "Shoe size"]
    assert mapping.has_name
    assert not detect_mapping(["Email"]).has_name


def test_it_normalises_header_keys():
    assert header_key(" E-Mail_Address. ") == header_key("email address") == "emailaddress"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Anna Kowalska", ("Anna", "Kowalska")),
        ("Kowalska, Anna", ("Anna", "Kowalska")),
        ("José Luis  Fernández", ("José Luis", "Fernández")),
        ("Madonna", ("", "Madonna")),
        ("  ", ("", "")),
    ],
)
def test_it_splits_a_full_name(value, expected):
    assert split_full_name(value) == expected


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    content=st.binary(max_size=2000),
    suffix=st.sampled_from([".csv", ".txt", ".xlsx", ".ods", ".tsv"]),
)
def test_it_reads_any_bytes_or_says_the_file_is_unusable(tmp_path, content, suffix):
    path = tmp_path / f"upload{suffix}"
    path.write_bytes(content)
    try:
        table = read_table(path)
        rows = list(table.rows)
    except UnreadableFileError:
        return
    assert all(isinstance(cell, str) for row in [table.headers, *rows] for cell in row)
    assert all(len(row) >= len(table.headers) for row in rows)


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    cells=st.lists(st.lists(st.text(max_size=30), min_size=2, max_size=2), min_size=1, max_size=8)
)
def test_it_gives_back_any_text_written_as_csv(tmp_path, cells):
    import csv as csv_module

    path = tmp_path / "round.csv"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv_module.writer(handle, delimiter=";")
        writer.writerow(["first_name", "last_name"])
        writer.writerows(cells)
    expected = [
        [cell.strip() for cell in row] for row in cells if any(cell.strip() for cell in row)
    ]
    try:
        table = read_table(path)
    except UnreadableFileError:
        return
    assert list(table.rows) == expected
