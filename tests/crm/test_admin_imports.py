"""The Django admin's import and export buttons for contacts: the same engine, rules and
columns as the import pages, recorded in the import history."""

from __future__ import annotations

import csv
import io

import pytest
from django.contrib import admin
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from crm.importing.headers import CONTACT_COLUMNS
from crm.importing.models import ImportJob
from crm.importing.storage import ADMIN_UPLOADS
from crm.models import Contact, Membership
from tests.crm.test_importing_unions import counts, run_import
from tests.factories import ContactFactory, MembershipFactory, UnionFactory

pytestmark = pytest.mark.django_db

GOOD = (
    "First name,Last name,E-mail,Phone,Country,Union,Tags\n"
    "Anna,Nowak,anna@example.pl,601 234 567,PL,NSZZ Solidarność,steward\n"
    "Ελένη,Οικονόμου,eleni@example.gr,,GR,,\n"
)
BAD_ROW = "Piotr,Zieliński,piotr(at)example.pl,,PL,,\n"


def format_index(kind: str, name: str) -> str:
    """The position of a format ("csv", "xlsx") in the admin's import or export form."""
    model_admin = admin.site._registry[Contact]
    formats = (
        model_admin.get_import_formats() if kind == "import" else model_admin.get_export_formats()  # type: ignore[attr-defined]
    )
    titles = [file_format().get_title().lower() for file_format in formats]
    return str(titles.index(name))


def export_form(file_format: str, columns: tuple[str, ...] = CONTACT_COLUMNS) -> dict[str, str]:
    """The admin's export form as a browser posts it: a checkbox per column, ticked."""
    return {
        "resource": "0",
        "format": format_index("export", file_format),
        **{f"contactresource_{name}": "on" for name in columns},
    }


def upload(client, text: str, name: str = "people.csv"):
    """The admin's import form, posted: its first (dry run) step."""
    return client.post(
        reverse("admin:crm_contact_import"),
        {
            "resource": "0",
            "format": format_index("import", "csv"),
            "import_file": SimpleUploadedFile(name, text.encode(), content_type="text/csv"),
        },
    )


def confirm(client, response):
    """The confirmation step, posted with the fields of the form the dry run showed."""
    form = response.context["confirm_form"]
    data = {name: form.initial.get(name, "") for name in form.fields}
    return client.post(reverse("admin:crm_contact_process_import"), data)


@pytest.fixture
def solidarnosc(db):
    return UnionFactory.create(name="NSZZ Solidarność", acronym="NSZZ", country="PL")


def test_it_shows_the_import_form_to_an_administrator(admin_client_):
    response = admin_client_.get(reverse("admin:crm_contact_import"))

    assert response.status_code == 200
    form = response.context["form"]
    assert {"resource", "format", "import_file"} <= set(form.fields)


def test_it_keeps_the_import_page_from_other_roles(organizer_client):
    response = organizer_client.get(reverse("admin:crm_contact_import"))

    assert response.status_code == 302
    assert reverse("admin:login") in response["Location"]


def test_it_previews_then_imports_a_file_through_the_admin(
    admin_client_, administrator, solidarnosc
):
    preview = upload(admin_client_, GOOD)

    assert preview.status_code == 200
    assert "confirm_form" in preview.context
    assert not Contact.objects.exists()
    job = ImportJob.objects.get()
    assert (job.source, job.kind, job.status, job.dry_run) == (
        ImportJob.Source.ADMIN,
        "contacts",
        ImportJob.Status.PREVIEWED,
        True,
    )
    assert (job.file_name, job.created_by, job.total_rows) == ("people.csv", administrator, 2)
    assert job.preview["counts"]["created"] == 2
    result = preview.context["result"]
    assert result.totals["new"] == 2
    assert "Nowak" in preview.content.decode()

    done = confirm(admin_client_, preview)

    assert done.status_code == 302
    assert done["Location"] == reverse("admin:crm_contact_changelist")
    anna = Contact.objects.get(email="anna@example.pl")
    assert (anna.first_name, anna.last_name, anna.phone) == ("Anna", "Nowak", "+48601234567")
    assert list(anna.tags.values_list("name", flat=True)) == ["steward"]
    assert Membership.objects.get(contact=anna).union == solidarnosc
    assert anna.created_by == administrator
    assert Contact.objects.get(email="eleni@example.gr").first_name == "Ελένη"
    imported = ImportJob.objects.get(dry_run=False)
    assert (imported.source, imported.status, imported.created_by) == (
        ImportJob.Source.ADMIN,
        ImportJob.Status.DONE,
        administrator,
    )
    assert (imported.created, imported.updated, imported.unchanged, imported.rejected) == (
        2,
        0,
        0,
        0,
    )


def test_it_applies_the_import_rules_to_known_contacts(admin_client_, solidarnosc):
    anna = ContactFactory.create(
        first_name="Anna", last_name="Nowak", email="anna@example.pl", notes="keep", country="PL"
    )

    confirm(admin_client_, upload(admin_client_, GOOD))

    anna.refresh_from_db()
    assert anna.phone == "+48601234567"  # a filled cell replaces
    assert anna.notes == "keep"  # an absent one never erases
    assert Contact.objects.count() == 2
    assert ImportJob.objects.get(dry_run=False).updated == 1


def test_it_shows_a_rejected_rows_error_and_offers_no_confirmation(admin_client_, solidarnosc):
    response = upload(admin_client_, GOOD + BAD_ROW)

    assert response.status_code == 200
    assert "confirm_form" not in response.context
    page = response.content.decode()
    assert "Row 4, column “E-mail”: “piotr(at)example.pl” is not a valid email address." in page
    assert not Contact.objects.exists()
    job = ImportJob.objects.get()
    assert (job.source, job.status, job.preview["counts"]["rejected"]) == ("admin", "previewed", 1)


# Export -------------------------------------------------------------------------------------


def test_it_exports_the_importers_columns_from_the_admin(admin_client_, tmp_path):
    membership = MembershipFactory.create(
        contact__first_name="Anna",
        contact__last_name="Nowak",
        contact__notes="=1+1",
        union__name="IG Metall",
        role="shop_steward",
    )

    response = admin_client_.post(reverse("admin:crm_contact_export"), export_form("csv"))

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0] == list(CONTACT_COLUMNS)
    exported = dict(zip(rows[0], rows[1], strict=True))
    assert exported["first_name"] == "Anna"
    assert exported["email"] == membership.contact.email
    assert exported["union"] == "IG Metall"
    assert exported["union_role"] == "shop_steward"
    assert exported["notes"] == "'=1+1"
    # What the admin writes imports back as all unchanged.
    path = tmp_path / "contacts.csv"
    path.write_bytes(response.content)
    result = run_import("contacts", path)
    assert result.counts == counts(unchanged=1)


def test_it_exports_xlsx_from_the_admin(admin_client_):
    ContactFactory.create(first_name="Anna", last_name="Nowak", notes="@SUM(A1)")

    response = admin_client_.post(reverse("admin:crm_contact_export"), export_form("xlsx"))

    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content), read_only=True).worksheets[0]
    rows = [list(row) for row in sheet.values]
    assert rows[0] == list(CONTACT_COLUMNS)
    assert rows[1][0] == "Anna"
    assert rows[1][CONTACT_COLUMNS.index("notes")] == "'@SUM(A1)"


def test_it_offers_the_importers_columns_on_the_admins_export_page(admin_client_):
    page = admin_client_.get(reverse("admin:crm_contact_export"))

    assert page.status_code == 200
    offered = [name for name in page.context["form"].fields if name.startswith("contactresource_")]
    assert offered == [f"contactresource_{name}" for name in CONTACT_COLUMNS]


def test_it_exports_only_the_ticked_columns_which_import_back_unchanged(admin_client_, tmp_path):
    anna = ContactFactory.create(first_name="Anna", last_name="Nowak", notes="keep")

    response = admin_client_.post(
        reverse("admin:crm_contact_export"),
        export_form("csv", columns=("email", "first_name", "last_name")),
    )

    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows == [["first_name", "last_name", "email"], ["Anna", "Nowak", anna.email]]
    path = tmp_path / "contacts.csv"
    path.write_bytes(response.content)
    assert run_import("contacts", path).counts == counts(unchanged=1)
    anna.refresh_from_db()
    assert anna.notes == "keep"


def test_it_keeps_the_admins_upload_under_the_import_folder_until_confirmed(
    admin_client_, solidarnosc, settings, tmp_path
):
    settings.IMPORT_DIR = tmp_path
    response = upload(admin_client_, GOOD)
    kept = {path for path in (tmp_path / ADMIN_UPLOADS).rglob("*") if path.is_file()}
    assert len(kept) == 1  # not in the system's temp folder, which nothing cleans
    assert oct(next(iter(kept)).stat().st_mode)[-3:] == "600"
    confirm(admin_client_, response)
    assert Contact.objects.count() == 2
    assert not any(path.exists() for path in kept)
