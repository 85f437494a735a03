"""The import pages: upload -> mapping -> preview -> confirm, for files small enough to run in
the request; history, error file, cancel. (Large files and workers: test_imports_background.py.)"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from crm.models import ConsentRecord, Contact, ImportJob, SavedMapping
from tests.factories import ContactFactory, UnionFactory

pytestmark = pytest.mark.django_db

HEADER = "Given name;Family name;E-mail address;Mobile;Trade union;Land;Remarks\n"
ROWS = (
    "Anna;Kowalska;anna@example.pl;+48 601 234 567;IG Metall;PL;=1+1\n"
    "Jan;Nowak;not-an-email;;;PL;\n"
    "Ελένη;Οικονόμου;eleni@example.gr;;;GR;<script>alert(1)</script>\n"
)


def _upload(client, text: str = HEADER + ROWS, name: str = "list.csv", encoding="utf-8"):
    upload = SimpleUploadedFile(name, text.encode(encoding), content_type="text/csv")
    return client.post(reverse("crm:import_create"), {"file": upload})


def _job() -> ImportJob:
    return ImportJob.objects.get()


def _mapping_post(job: ImportJob, **extra: str) -> dict[str, str]:
    data = {f"column_{index}": name for index, name in job.mapping.items()}
    data.update(extra)
    return data


@pytest.fixture
def union(db):
    return UnionFactory.create(name="IG Metall", acronym="IGM", country="DE")


def test_it_uploads_detects_the_columns_and_shows_the_mapping(organizer_client, union):
    response = _upload(organizer_client)
    job = _job()
    assert response.status_code == 302
    assert response["Location"] == reverse("crm:import_detail", args=[job.pk])
    assert job.status == ImportJob.Status.UPLOADED
    assert job.total_rows == 3
    assert job.mapping == {
        "0": "first_name",
        "1": "last_name",
        "2": "email",
        "3": "phone",
        "4": "union",
        "5": "country",
        "6": "notes",
    }
    page = organizer_client.get(response["Location"]).content.decode()
    assert "Which column is which?" in page
    assert "anna@example.pl" in page  # first values shown beside each column
    assert "&lt;script&gt;" in page
    assert "<script>alert" not in page


def test_it_previews_without_writing_then_imports_on_confirmation(organizer_client, union):
    ContactFactory.create(first_name="Anna", last_name="K.", email="ANNA@example.pl")
    _upload(organizer_client)
    job = _job()
    response = organizer_client.post(reverse("crm:import_map", args=[job.pk]), _mapping_post(job))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == ImportJob.Status.PREVIEWED
    assert job.preview["counts"] == {"created": 1, "updated": 1, "unchanged": 0, "rejected": 1}
    assert Contact.objects.count() == 1  # the preview wrote nothing
    page = organizer_client.get(reverse("crm:import_detail", args=[job.pk])).content.decode()
    assert "Preview: what the import will do" in page
    assert "Row 3, column “E-mail address”: “not-an-email” is not a valid email address." in page
    assert "<del>K.</del>" in page
    assert "<ins>Kowalska</ins>" in page

    rejected = organizer_client.get(reverse("crm:import_errors", args=[job.pk]))
    assert rejected.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(rejected.streaming_content).decode("utf-8-sig"))))
    assert rows[0][-1] == "error"
    assert rows[1][2] == "not-an-email"

    organizer_client.post(reverse("crm:import_confirm", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.DONE
    assert (job.created, job.updated, job.unchanged, job.rejected) == (1, 1, 0, 1)
    assert job.duration is not None
    assert not (job.folder / "source.csv").exists()  # the upload is deleted once imported
    anna = Contact.objects.get(email__iexact="anna@example.pl")
    assert (anna.last_name, anna.notes, anna.phone) == ("Kowalska", "=1+1", "+48601234567")
    assert anna.memberships.get().union == union
    eleni = Contact.objects.get(email="eleni@example.gr")
    assert eleni.notes == "<script>alert(1)</script>"
    history = organizer_client.get(reverse("crm:import_list")).content.decode()
    assert "list.csv" in history


def test_it_asks_what_was_asked_and_keeps_it_with_the_consent_answers(organizer_client, union):
    _upload(organizer_client, "first_name,last_name,email,Consent\nAnna,Nowak,a@example.pl,yes\n")
    job = _job()
    page = organizer_client.get(reverse("crm:import_detail", args=[job.pk])).content.decode()
    assert "What were these people asked about e-mail, and where?" in page
    question = "Union list of 2024: <b>may we write to you?</b>"
    organizer_client.post(
        reverse("crm:import_map", args=[job.pk]),
        _mapping_post(job, column_3="email_consent", consent_question=question),
    )
    job.refresh_from_db()
    assert job.consent_question == question
    page = organizer_client.get(reverse("crm:import_detail", args=[job.pk])).content.decode()
    assert "Union list of 2024: &lt;b&gt;may we write to you?&lt;/b&gt;" in page  # kept, as text
    organizer_client.post(reverse("crm:import_confirm", args=[job.pk]))
    record = ConsentRecord.objects.get()
    assert (record.question, record.answer, record.import_job) == (question, "granted", job)


def test_it_lets_the_organizer_fix_a_column_and_saves_the_mapping(organizer_client, union):
    text = "Who;Mail;Job\nAnna Kowalska;anna@example.pl;welder\n"
    _upload(organizer_client, text)
    job = _job()
    assert job.mapping == {"1": "email"}  # "Who" and "Job" are not headers it knows
    organizer_client.post(
        reverse("crm:import_map", args=[job.pk]),
        {"column_0": "full_name", "column_1": "email", "column_2": "trade", "save_as": "Site list"},
    )
    job.refresh_from_db()
    assert job.preview["counts"]["created"] == 1
    saved = SavedMapping.objects.get()
    assert saved.columns == {"who": "full_name", "mail": "email", "job": "trade"}

    _upload(organizer_client, text, name="again.csv")
    again = ImportJob.objects.get(file_name="again.csv")
    assert again.mapping == {"0": "full_name", "1": "email", "2": "trade"}


def test_it_refuses_a_mapping_without_a_name_column(organizer_client, union):
    _upload(organizer_client)
    job = _job()
    response = organizer_client.post(
        reverse("crm:import_map", args=[job.pk]), {"column_2": "email"}
    )
    assert response.status_code == 400
    assert "every contact needs a name" in response.content.decode()
    job.refresh_from_db()
    assert job.status == ImportJob.Status.UPLOADED


def test_it_refuses_a_field_mapped_twice(organizer_client, union):
    _upload(organizer_client)
    job = _job()
    response = organizer_client.post(
        reverse("crm:import_map", args=[job.pk]),
        {"column_0": "first_name", "column_1": "first_name"},
    )
    assert response.status_code == 400
    assert "chosen twice" in response.content.decode()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (b"\x00\x01\x02garbage", "list.xlsx", "cannot be read as XLSX"),
        (b"first_name,last_name\n", "list.csv", "no data rows"),
        (b"", "list.csv", "empty"),
        (b"%PDF-1.4", "list.pdf", "cannot be imported: use CSV, XLSX or ODS"),
    ],
)
def test_it_explains_why_a_file_cannot_be_used_and_keeps_nothing(
    organizer_client, content, name, message
):
    upload = SimpleUploadedFile(name, content)
    response = organizer_client.post(reverse("crm:import_create"), {"file": upload})
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_it_refuses_a_file_over_the_size_limit(organizer_client, settings):
    settings.IMPORT_MAX_BYTES = 1024
    response = _upload(organizer_client, HEADER + ROWS * 20)
    assert "larger than" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_it_cancels_and_deletes_the_file(organizer_client, union):
    _upload(organizer_client)
    job = _job()
    assert (job.folder / job.stored_file).exists()
    organizer_client.post(reverse("crm:import_cancel", args=[job.pk]))
    job.refresh_from_db()
    assert job.status == ImportJob.Status.CANCELLED
    assert not job.folder.exists()


def test_it_reads_european_excel_csv(organizer_client, union):
    text = "Prénom;Nom;Courriel;Pays\nHélène;Lefèvre;helene@example.fr;France\n"
    _upload(organizer_client, text, encoding="cp1252")
    job = _job()
    organizer_client.post(
        reverse("crm:import_map", args=[job.pk]),
        {
            "column_0": "first_name",
            "column_1": "last_name",
            "column_2": "email",
            "column_3": "country",
        },
    )
    organizer_client.post(reverse("crm:import_confirm", args=[job.pk]))
    helene = Contact.objects.get(email="helene@example.fr")
    assert (helene.first_name, helene.last_name, str(helene.country)) == ("Hélène", "Lefèvre", "FR")


def test_it_hides_other_organizers_imports(organizer_client, union, django_user_model):
    _upload(organizer_client)
    other = ImportJob.objects.create(source=ImportJob.Source.WEB, file_name="theirs.csv")
    page = organizer_client.get(reverse("crm:import_list")).content.decode()
    assert "list.csv" in page
    assert "theirs.csv" not in page
    assert organizer_client.get(reverse("crm:import_detail", args=[other.pk])).status_code == 404


def test_it_offers_organizers_no_consultation_import(organizer_client, organizer):
    page = organizer_client.get(reverse("crm:import_create")).content.decode()
    assert 'value="unions"' in page
    assert 'value="consultations"' not in page
    upload = SimpleUploadedFile("meetings.csv", b"date,title\n2025-01-01,Visit\n")
    response = organizer_client.post(
        reverse("crm:import_create"), {"file": upload, "kind": "consultations"}
    )
    assert response.status_code == 200
    assert not ImportJob.objects.exists()
    theirs = ImportJob.objects.create(
        source=ImportJob.Source.WEB, file_name="m.csv", kind="consultations", created_by=organizer
    )
    assert organizer_client.get(reverse("crm:import_detail", args=[theirs.pk])).status_code == 403


def test_it_refuses_an_upload_over_the_limit_before_reading_it(
    organizer_client, settings, tmp_path
):
    settings.IMPORT_MAX_BYTES = 1024
    settings.IMPORT_DIR = tmp_path
    response = _upload(organizer_client, HEADER + ROWS * 1000)  # ~170 KB
    assert response.status_code == 413
    assert "The file is larger than 0 MB: split it into smaller files." in response.content.decode()
    assert not ImportJob.objects.exists()
    assert list(tmp_path.iterdir()) == []
    # Told by the header alone: the test client's body cannot even be read that far.
    upload = SimpleUploadedFile("list.csv", b"a,b\n1,2\n", content_type="text/csv")
    declared = organizer_client.post(
        reverse("crm:import_create"), {"file": upload}, CONTENT_LENGTH=str(10**10)
    )
    assert declared.status_code == 413


def test_it_still_checks_the_csrf_token_of_an_upload(organizer):
    client = Client(enforce_csrf_checks=True)
    client.force_login(organizer)
    upload = SimpleUploadedFile("list.csv", (HEADER + ROWS).encode(), content_type="text/csv")
    response = client.post(reverse("crm:import_create"), {"file": upload})
    assert response.status_code == 403
    assert not ImportJob.objects.exists()


def test_it_keeps_uploads_outside_the_served_folders(organizer_client, union, settings):
    _upload(organizer_client)
    stored = _job().folder / _job().stored_file
    assert stored.is_file()
    assert stored.is_relative_to(Path(settings.IMPORT_DIR))
    for served in (settings.STATIC_ROOT, settings.MEDIA_ROOT, *settings.STATICFILES_DIRS):
        folder = served[1] if isinstance(served, tuple) else served
        assert not stored.resolve().is_relative_to(Path(folder).resolve())
