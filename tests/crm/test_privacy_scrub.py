"""Finding an erased person in text, spreadsheets and the file log of sent mail."""

from __future__ import annotations

from django.core.mail import EmailMessage, get_connection
from openpyxl import Workbook

from crm.privacy.scrub import Identifiers, import_files_scrub, mail_files_scrub, phone_forms


def identifiers() -> Identifiers:
    found = Identifiers(placeholder="Erased contact #7")
    found.add_person("Łucja", "Wiśniewska-Kot", "lucja@metal.example", "+48601234567")
    return found


def test_it_matches_full_names_either_way_addresses_and_numbers_but_not_a_first_name():
    pattern = identifiers().pattern(linked=False)
    assert pattern is not None
    for text in (
        "met ŁUCJA WIŚNIEWSKA-KOT today",
        "Wiśniewska-Kot, Łucja",
        "write to Lucja@Metal.example",
        "call 601 234 567",
        "call +48 601 234 567",
    ):
        assert pattern.search(text), text
    assert not pattern.search("Łucja Nowak and Pan Wiśniewski")
    assert identifiers().pattern(linked=True).search("Ms Wiśniewska-Kot said")  # type: ignore[union-attr]


def test_it_matches_a_name_however_it_is_spaced():
    found = Identifiers(placeholder="Erased contact #8")
    found.add_person("Anna  Maria", "Nowak", "", "")
    pattern = found.pattern(linked=False)
    assert pattern is not None
    for text in ("Met Anna  Maria Nowak", "Met Anna Maria\nNowak", "Nowak,   Anna Maria"):
        assert pattern.search(text), text
    # Rows are found by a word any spacing of the name contains; the pattern then decides.
    assert found.lookups() == ["Maria", "Nowak", "Nowak,"]


def test_it_knows_the_usual_written_forms_of_a_number():
    assert phone_forms("+4930901820") >= {"+4930901820", "+49 30 901820", "030 901820"}


def test_it_deletes_only_the_spreadsheets_that_name_the_person(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "source.csv").write_text(
        "first_name;last_name;email\nŁucja;Wiśniewska-Kot;\nAnna;Berg;a@b.example\n",
        encoding="utf-16",
    )
    workbook = Workbook()
    workbook.active.append(["first", "last"])
    workbook.active.append(["Łucja", "Wiśniewska-Kot"])  # names in cells of their own
    workbook.save(tmp_path / "people.xlsx")
    (tmp_path / "other.csv").write_text("first_name,last_name\nŁucja,Nowak\n")

    deleted = import_files_scrub(tmp_path, identifiers(), {"łucja", "wiśniewska-kot"})

    assert sorted(path.name for path in deleted) == ["people.xlsx", "source.csv"]
    assert [path.name for path in tmp_path.rglob("*") if path.is_file()] == ["other.csv"]


def test_it_removes_their_messages_from_the_mail_log_and_keeps_the_others(settings, tmp_path):
    settings.EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    settings.EMAIL_FILE_PATH = str(tmp_path)
    connection = get_connection()
    # One connection, one file: as a worker reusing its connection writes them.
    connection.send_messages(
        [
            EmailMessage("Hello", "Dear Anna Berg,\nthanks.", to=["anna@berg.example"]),
            EmailMessage("Dziękujemy", "O Łucja Wiśniewska-Kot: " + "ą" * 1000, to=["x@y.example"]),
            EmailMessage("Hi", "Text", to=["lucja@metal.example"]),
            EmailMessage("Next", "Dear Jan,\nsee you.", to=["jan@x.example"]),
        ]
    )
    [log] = list(tmp_path.iterdir())
    # A line too long for 8 bits goes quoted-printable: the name is not in the file as such.
    assert "Łucja Wiśniewska-Kot" not in log.read_text()

    assert mail_files_scrub(tmp_path, identifiers()) == 2

    text = log.read_text()
    assert "anna@berg.example" in text
    assert "jan@x.example" in text
    assert "lucja@metal.example" not in text
    assert text.count("-" * 79) == 2
