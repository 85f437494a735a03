"""Contact exports: the current filter, the importer's columns, nothing a spreadsheet would run."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from crm.importing.files import read_table
from crm.importing.headers import CONTACT_COLUMNS, detect_mapping
from crm.models import Language, Tag
from tests.factories import ContactFactory, MembershipFactory

pytestmark = pytest.mark.django_db


def _csv_rows(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))


def test_it_exports_the_filtered_contacts_in_the_importers_columns(manager_client):
    membership = MembershipFactory.create(
        contact__first_name="Ελένη",
        contact__last_name="Οικονόμου",
        contact__country="GR",
        contact__phone="+302101234567",
        contact__preferred_language=Language.objects.get(code="el"),
        union__name="ΠΟΕ-ΟΤΑ",
        role="shop_steward",
    )
    membership.contact.tags.add(Tag.objects.create(name="site visit"))
    membership.contact.languages.add(
        Language.objects.get(code="el"), Language.objects.get(code="en")
    )
    ContactFactory.create(country="PL")
    rows = _csv_rows(
        manager_client.get(reverse("crm:contact_export", args=["csv"]), {"country": "GR"})
    )
    assert rows[0] == list(CONTACT_COLUMNS)
    assert len(rows) == 2
    exported = dict(zip(rows[0], rows[1], strict=True))
    assert exported["first_name"] == "Ελένη"
    assert exported["union"] == "ΠΟΕ-ΟΤΑ"
    assert exported["union_role"] == "shop_steward"
    assert exported["languages"] == "el;en"
    assert exported["tags"] == "site visit"
    assert exported["email_consent"] == "yes"
    assert detect_mapping(rows[0]).fields == dict(enumerate(CONTACT_COLUMNS))


def test_it_defuses_formulas_in_csv_and_xlsx(manager_client, tmp_path):
    ContactFactory.create(
        first_name='=HYPERLINK("http://evil")', last_name="@SUM(A1)", notes="+1-2"
    )
    rows = _csv_rows(manager_client.get(reverse("crm:contact_export", args=["csv"])))
    assert rows[1][:2] == ['\'=HYPERLINK("http://evil")', "'@SUM(A1)"]
    response = manager_client.get(reverse("crm:contact_export", args=["xlsx"]))
    path = tmp_path / "contacts.xlsx"
    path.write_bytes(response.content)
    sheet = load_workbook(path).active
    assert sheet["A2"].value == '\'=HYPERLINK("http://evil")'
    assert sheet["A2"].data_type == "s"
    table = read_table(path)
    assert table.headers == list(CONTACT_COLUMNS)


def test_it_exports_in_a_constant_number_of_queries(manager_client, django_assert_max_num_queries):
    for _ in range(30):
        MembershipFactory.create().contact.tags.add(Tag.objects.get_or_create(name="t")[0])
    with django_assert_max_num_queries(15):
        rows = _csv_rows(manager_client.get(reverse("crm:contact_export", args=["csv"])))
    assert len(rows) == 31


def test_it_refuses_other_formats_and_outreach_staff(manager_client, staff_client):
    assert manager_client.get("/contacts/export.pdf").status_code == 404
    assert staff_client.get(reverse("crm:contact_export", args=["csv"])).status_code == 403
