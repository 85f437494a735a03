"""Whatever text is typed into the core app's forms and filters: a form error or the value stored
as typed (trimmed, as every text box is) and shown escaped, never a server error.

Names, notes and filters come from organizers in many countries and, through imports and the
public form, from anyone; PostgreSQL refuses NUL, and a name is shown on pages other staff open.
"""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils.html import escape
from hypothesis import assume, example, given
from hypothesis import strategies as st

from crm.importing.models import ImportJob, SavedMapping
from crm.models import (
    Contact,
    ContactErasure,
    Employer,
    Membership,
    Site,
    StaffProfile,
    Union,
    normalize_email,
)
from crm.privacy.services import erased_placeholder
from crm.services import tags_parse, tags_split
from tests.factories import (
    ConsultationFactory,
    ContactFactory,
    EmployerFactory,
    MembershipFactory,
    UnionFactory,
)
from tests.hostile_text import (
    FAR_CLOCKS,
    FEW,
    TEXT,
    WHEN,
    assert_answered,
    assert_form_refused,
    assert_no_raw_markup,
    assert_shows,
    on_clock,
    rolled_back,
)

pytestmark = pytest.mark.django_db

CONTACT = {
    "first_name": "Anna",
    "last_name": "Nowak",
    "email": "",
    "phone": "",
    "country": "DE",
    "timezone": "",
    "tags": "",
    "email_consent": "unknown",
    "notes": "",
}
# Boxes whose text is stored as typed (trimmed) and shown on the contact's page.
CONTACT_TEXT = ["first_name", "last_name", "notes"]
# Boxes that take only some values: anything else is a form error.
CONTACT_CHOICES = [
    "email",
    "phone",
    "country",
    "timezone",
    "trade",
    "email_consent",
    "employer",
    "site",
    "languages",
    "preferred_language",
    "union",
    "union_role",
    "do_not_contact",
]


def _check_contact(client, contact: Contact, field: str, typed: str) -> None:
    expected = typed.strip()
    page = client.get(contact.get_absolute_url())
    if field in CONTACT_TEXT:
        assert getattr(contact, field) == expected
        if expected:
            assert_shows(page, expected, multiline=field == "notes")
    elif field == "tags":
        assert [tag.name for tag in contact.tags.order_by("pk")] == tags_parse(expected)
        for name in tags_parse(expected):
            assert_shows(page, name)
    elif field == "email":
        assert contact.email == normalize_email(expected)
        if contact.email:
            assert_shows(page, contact.email)
    assert_no_raw_markup(page, typed)


@FEW
@given(field=st.sampled_from([*CONTACT_TEXT, "tags", *CONTACT_CHOICES]), typed=TEXT)
@example(field="last_name", typed="<script>alert(1)</script>")
@example(field="notes", typed="=1+1\r\n\x00")
@example(field="phone", typed="\u202e+49 30 1234567")
@example(field="tags", typed="\u200f, =SUM(A1); \x07")
# Once cut to 60 characters without a word (the importer refuses it).
@example(field="tags", typed="a, " + "x" * 61)
def test_it_creates_a_contact_or_says_what_is_wrong(organizer_client, field, typed):
    with rolled_back():
        response = organizer_client.post(reverse("crm:contact_create"), {**CONTACT, field: typed})
        assert_answered(response)
        if response.status_code == 302:
            contact = Contact.objects.get()
            _check_contact(organizer_client, contact, field, typed)
        else:
            assert_form_refused(response, "form")
            assert_no_raw_markup(response, typed)
            assert not Contact.objects.exists()
            if field == "tags":
                # The reasons a list of tags is refused.
                assert (
                    "\x00" in typed
                    or len(typed.strip()) > 500
                    or any(len(name) > 60 for name in tags_split(typed))
                )


@FEW
@given(field=st.sampled_from([*CONTACT_TEXT, "tags", "email", "phone", "site"]), typed=TEXT)
@example(field="first_name", typed='"><img src=x onerror=1>')
def test_it_edits_a_contact_or_says_what_is_wrong(organizer_client, field, typed):
    with rolled_back():
        contact = ContactFactory.create(first_name="Anna", last_name="Nowak", email="")
        response = organizer_client.post(
            reverse("crm:contact_update", args=[contact.pk]), {**CONTACT, field: typed}
        )
        assert_answered(response)
        contact.refresh_from_db()
        if response.status_code == 302:
            _check_contact(organizer_client, contact, field, typed)
        else:
            assert_form_refused(response, "form")
            assert_no_raw_markup(response, typed)
            assert (contact.first_name, contact.notes) == ("Anna", "")


UNION = {"name": "Unite", "acronym": "", "kind": "national_union", "country": "GB", "notes": ""}
UNION_TEXT = ["name", "acronym", "notes"]


@FEW
@given(
    field=st.sampled_from(
        [
            *UNION_TEXT,
            "website",
            "kind",
            "country",
            "parent",
            "affiliations",
            "sectors",
            "membership_size",
            "languages",
        ]
    ),
    typed=TEXT,
)
@example(field="name", typed="<script>alert(1)</script>")
@example(field="website", typed="javascript:alert(1)")
@example(field="membership_size", typed="1e9")
def test_it_creates_a_union_or_says_what_is_wrong(organizer_client, field, typed):
    with rolled_back():
        data = {**UNION, field: typed}
        response = organizer_client.post(reverse("crm:union_create"), data)
        assert_answered(response)
        if response.status_code != 302:
            assert_form_refused(response, "form")
            assert_no_raw_markup(response, typed)
            assert not Union.objects.exists()
            return
        union = Union.objects.get()
        page = organizer_client.get(union.get_absolute_url())
        if field in UNION_TEXT:
            assert getattr(union, field) == typed.strip()
            if typed.strip():
                assert_shows(page, typed.strip(), multiline=field == "notes")
        elif field == "website" and union.website:
            assert union.website.startswith(("http://", "https://", "ftp://", "ftps://"))
        assert_no_raw_markup(page, typed)
        listed = organizer_client.get(reverse("crm:union_list"))
        assert_shows(listed, union.name)


@FEW
@given(field=st.sampled_from(UNION_TEXT), typed=TEXT)
def test_it_edits_a_union_or_says_what_is_wrong(organizer_client, field, typed):
    with rolled_back():
        union = UnionFactory.create(name="Unite", acronym="", country="GB")
        response = organizer_client.post(
            reverse("crm:union_update", args=[union.pk]), {**UNION, field: typed}
        )
        assert_answered(response)
        union.refresh_from_db()
        if response.status_code == 302:
            assert getattr(union, field) == typed.strip()
            if typed.strip():
                page = organizer_client.get(union.get_absolute_url())
                assert_shows(page, typed.strip(), multiline=field == "notes")
        else:
            assert_form_refused(response, "form")
            assert_no_raw_markup(response, typed)
            assert union.name == "Unite"


@FEW
@given(field=st.sampled_from(["union", "role", "start_date", "end_date"]), typed=WHEN)
@example(field="start_date", typed="2024-02-30")
@example(field="end_date", typed="9999-12-31")
def test_it_adds_a_membership_or_says_what_is_wrong(organizer_client, field, typed):
    with rolled_back():
        contact = ContactFactory.create()
        union = UnionFactory.create()
        data = {"union": union.pk, "role": "member", "start_date": "", "end_date": "", field: typed}
        response = organizer_client.post(reverse("crm:membership_create", args=[contact.pk]), data)
        assert_answered(response)
        if response.status_code == 302:
            # The dates are shown on both sides of the membership.
            for page in (contact.get_absolute_url(), union.get_absolute_url()):
                assert organizer_client.get(page).status_code == 200
        else:
            assert_form_refused(response, "form")
            assert not Membership.objects.exists()


@FEW
@given(
    which=st.sampled_from(["employer", "site"]),
    field=st.sampled_from(["name", "notes", "website", "city", "products", "sector", "country"]),
    typed=TEXT,
)
def test_it_saves_an_employer_or_site_or_says_what_is_wrong(organizer_client, which, field, typed):
    with rolled_back():
        employer = EmployerFactory.create(name="Rheinmetall")
        if which == "employer":
            url = reverse("crm:employer_create")
            data = {"name": "Leonardo", "country": "IT", "website": "", "notes": ""}
            model: type[Employer | Site] = Employer
        else:
            url = reverse("crm:site_create", args=[employer.pk])
            data = {"name": "", "city": "Unterlüß", "country": "DE", "products": ""}
            model = Site
        before = model.objects.count()
        response = organizer_client.post(url, {**data, field: typed})
        assert_answered(response)
        if response.status_code != 302:
            assert_form_refused(response, "form")
            assert_no_raw_markup(response, typed)
            assert model.objects.count() == before
            return
        saved = model.objects.order_by("pk").last()
        assert saved is not None
        page = organizer_client.get(reverse("crm:employer_detail", args=[employer.pk]))
        if which == "employer":
            page = organizer_client.get(reverse("crm:employer_detail", args=[saved.pk]))
        if field in {"name", "notes", "city", "products"} and field in data:
            assert getattr(saved, field) == typed.strip()
            if field != "notes" and typed.strip():
                assert_shows(page, typed.strip())
        assert_no_raw_markup(page, typed)


@FEW
@given(field=st.sampled_from(["timezone", "weekly_digest"]), typed=TEXT)
@example(field="timezone", typed="Europe/Berlin\x00")
@example(field="timezone", typed="../../etc/passwd")
def test_it_saves_my_settings_or_says_what_is_wrong(manager_client, manager, field, typed):
    with rolled_back():
        data = {"timezone": "", "weekly_digest": "", field: typed}
        response = manager_client.post(reverse("my_settings"), data)
        assert_answered(response)
        if response.status_code == 302:
            # The page after a save is drawn in the chosen zone: it must be one that exists.
            assert_answered(manager_client.get(reverse("crm:contact_list")))
        else:
            assert_form_refused(response, "form")
            assert not StaffProfile.objects.filter(user=manager).exclude(timezone="").exists()


@pytest.fixture
def uploaded_job(organizer_client) -> ImportJob:
    upload = SimpleUploadedFile(
        "people.csv", b"first_name,last_name,email\nAnna,Nowak,anna@example.org\n"
    )
    organizer_client.post(reverse("crm:import_create"), {"file": upload})
    return ImportJob.objects.get()


@FEW
@given(typed=TEXT)
@example(typed="<script>alert(1)</script>")
@example(typed="  two   words\t")
def test_it_saves_a_mapping_under_any_name_or_says_what_is_wrong(
    organizer_client, uploaded_job, typed
):
    columns = {"column_0": "first_name", "column_1": "last_name", "column_2": "email"}
    with rolled_back():
        response = organizer_client.post(
            reverse("crm:import_map", args=[uploaded_job.pk]), {**columns, "save_as": typed}
        )
        assert_answered(response)
        if response.status_code == 302:
            saved = SavedMapping.objects.first()
            # Spaces inside the name are folded to one, as the service documents.
            expected = " ".join(typed.split())
            assert (saved.name if saved else "") == expected
            page = organizer_client.get(response["Location"])
            assert_answered(page)
            assert_no_raw_markup(page, typed)
        else:
            assert_form_refused(response, "form")
            assert_no_raw_markup(response, typed)
            assert not SavedMapping.objects.exists()


@pytest.fixture
def someone(db) -> Contact:
    """Someone to list, made once per test: searches write nothing, so examples can share it."""
    return MembershipFactory.create(contact__last_name="Nowak", union__name="Unite").contact


LIST_FILTERS = {
    "crm:contact_list": ["q", "union", "country", "trade", "tag", "language", "consent", "page"],
    "crm:union_list": ["q", "country", "kind", "sector", "page"],
    "crm:employer_list": ["page"],
    "crm:import_list": ["page"],
    "crm:access_log": ["user", "contact", "action", "date_from", "date_to", "page"],
    "crm:erasure_list": ["page"],
}


@FEW
@given(
    name=st.sampled_from(list(LIST_FILTERS)),
    data=st.data(),
    typed=WHEN,
    htmx=st.booleans(),
    clock=st.sampled_from(["UTC", *FAR_CLOCKS]),
)
@example(name="crm:contact_list", data=None, typed="\x00", htmx=False, clock="UTC")
@example(name="crm:contact_list", data=None, typed=" Nowak\r\n", htmx=False, clock="UTC")
def test_it_answers_any_search_or_filter(admin_client_, someone, name, data, typed, htmx, clock):
    on_clock(admin_client_, clock)
    parameter = data.draw(st.sampled_from(LIST_FILTERS[name])) if data else "q"
    headers = {"HX-Request": "true"} if htmx else {}
    response = admin_client_.get(reverse(name), {parameter: typed}, headers=headers)
    assert_answered(response)
    assert response.status_code == 200
    assert_no_raw_markup(response, typed)
    if parameter == "q" and not htmx and typed and len(typed) <= 200:
        # The search box shows what was searched for (as typed), escaped.
        assert f'value="{escape(typed)}"' in response.content.decode()


@FEW
@given(typed=TEXT)
@example(typed="\x00")
@example(typed="Nowak\u200f")
def test_it_answers_any_export_filter(manager_client, someone, typed):
    for name in ("crm:contact_export", "crm:union_export"):
        response = manager_client.get(reverse(name, args=["csv"]), {"q": typed})
        assert_answered(response)
        assert response.status_code == 200
        # The file is written while it is sent: an error there would come after the status.
        content = b"".join(response.streaming_content) if response.streaming else response.content
        assert content.removeprefix(codecs.BOM_UTF8).startswith(
            b"first_name," if "contact" in name else b"name,"
        )


@FEW
@given(
    field=st.sampled_from(["first_name", "last_name", "confirmation", "reason"]),
    typed=TEXT,
)
@example(field="last_name", typed="(.*)+[")
@example(field="reason", typed="Asked by <script>alert(1)</script> on 3 May")
@example(field="confirmation", typed="  erase ")
def test_it_erases_a_person_whatever_their_name_or_says_what_is_wrong(admin_client_, field, typed):
    with rolled_back():
        names = {"first_name": "Anna", "last_name": "Nowak"}
        if field in names:
            # As the contact form would have stored it.
            names[field] = typed.replace("\x00", "").strip()[:100] or "X"
        contact = ContactFactory.create(**names)
        # The name as staff write it in their notes, and in the reason: erasure takes it out.
        written = " ".join(contact.full_name.split())
        mentioned = ConsultationFactory.create(summary=written)
        data = {"confirmation": "ERASE", "reason": f"Asked by {written}", field: typed}
        if field in names:
            del data[field]
        response = admin_client_.post(reverse("crm:contact_erase", args=[contact.pk]), data)
        assert_answered(response)
        contact.refresh_from_db()
        if response.status_code != 302:
            assert_form_refused(response, "form")
            assert_no_raw_markup(response, typed)
            assert not ContactErasure.objects.exists()
            return
        erasure = ContactErasure.objects.get()
        placeholder = erased_placeholder(contact.pk)
        assert contact.full_name == placeholder
        if field in names:
            mentioned.refresh_from_db()
            assert mentioned.summary == placeholder
            assert written not in erasure.reason
        page = admin_client_.get(contact.get_absolute_url())
        assert_shows(page, placeholder)
        assert_no_raw_markup(page, typed)
        assert_answered(admin_client_.get(reverse("crm:erasure_list")))


@FEW
@given(name=TEXT, extension=st.sampled_from([".csv", ".xlsx", ".CSV", "", ".csv\x00.exe"]))
@example(name="<script>alert(1)</script>", extension=".csv")
@example(name="..\\..\\etc\\passwd", extension="")
@example(name="\u202evsc.exe", extension=".csv")
# Once the page came back without a word: Django drops a file named with no printable character.
@example(name="\u202e\u200f", extension="")
def test_it_takes_a_spreadsheet_under_any_file_name_or_says_what_is_wrong(
    organizer_client, name, extension
):
    """The file's name comes from the organizer's computer, and is shown on the import pages."""
    with rolled_back():
        try:
            upload = SimpleUploadedFile(
                f"{name}{extension}", b"first_name,last_name\nAnna,Nowak\n", content_type="text/csv"
            )
        except SuspiciousFileOperation:
            assume(False)  # "", "." or "..": the test client cannot send it as a file name
        response = organizer_client.post(reverse("crm:import_create"), {"file": upload})
        assert_answered(response)
        if response.status_code != 302:
            assert_form_refused(response, "form")
            assert_no_raw_markup(response, name)
            assert not ImportJob.objects.exists()
            return
        job = ImportJob.objects.get()
        assert "/" not in job.file_name
        assert "\x00" not in job.file_name
        assert job.folder.resolve().is_relative_to(Path(settings.IMPORT_DIR).resolve())
        for page in (
            organizer_client.get(response["Location"]),
            organizer_client.get(reverse("crm:import_list")),
        ):
            assert_shows(page, job.file_name)
