"""Who may open what: every URL of the project, walked from the URL conf, for every persona.

The table below is the expected outcome of a GET. A URL missing from it fails the test, so a new
view cannot be added without deciding who may see it.

Objects of someone else ("other" rows) belong to a colleague in the same role. What a persona
cannot see anywhere is not found (404): another organizer's imports, whose file names are
personal data. What every role reads on other pages is no secret, so changing it is forbidden
(403): consultations, and follow-ups, which contacts' and consultations' pages list with their
owner. A second table does the same for the POSTs that change someone else's object.
"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, User
from django.db.models import Model
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from crm import roles
from crm.models import ContactErasure, ErasureReview, ImportJob
from outreach.models import Consultation, FollowUp
from outreach.unsubscribe import unsubscribe_token
from tests.factories import (
    ConsultationFactory,
    FollowUpFactory,
    MembershipFactory,
    PublicCommentFactory,
    SiteFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db

PERSONAS = ("anonymous", "outsider", "staff", "organizer", "manager", "admin")
LOGIN = "login"  # a redirect to the sign-in page
NO = 403
ALL_ROLES = {"outsider": NO, "staff": 200, "organizer": 200, "manager": 200, "admin": 200}
OPEN: dict[str, object] = dict.fromkeys(PERSONAS, 200)


def expect(
    staff: int, organizer: int, manager: int, admin: int, outsider: int = NO
) -> dict[str, object]:
    return {
        "anonymous": LOGIN,
        "outsider": outsider,
        "staff": staff,
        "organizer": organizer,
        "manager": manager,
        "admin": admin,
    }


# URL name (and which object it is opened on) -> expected GET status per persona.
EXPECTED: dict[str, dict[str, object]] = {
    "home": expect(302, 302, 302, 302),
    "my_settings": expect(200, 200, 200, 200),
    # Sign-in security: one's own authenticator, and "confirm it's you" (anyone signed in).
    "two_factor_setup": expect(200, 200, 200, 200),
    "two_factor_remove": expect(200, 200, 200, 200),  # GET asks; administrators are told no
    "confirm_identity": expect(200, 200, 200, 200, outsider=200),
    "crm:contact_list": expect(200, 200, 200, 200),
    "crm:contact_create": expect(NO, 200, NO, 200),
    "crm:contact_export": expect(NO, 200, 200, 200),
    "crm:contact_detail": expect(200, 200, 200, 200),
    "crm:contact_update": expect(NO, 200, NO, 200),
    # Accountability and data subject requests: administrators only.
    "crm:contact_subject_export": expect(NO, NO, NO, 200),
    "crm:contact_subject_report": expect(NO, NO, NO, 200),
    "crm:contact_erase": expect(NO, NO, NO, 200),
    "crm:access_log": expect(NO, NO, NO, 200),
    "crm:erasure_list": expect(NO, NO, NO, 200),
    "crm:erasure_review_done": expect(NO, NO, NO, 405),  # POST only
    "crm:membership_create": expect(NO, 200, NO, 200),
    "crm:membership_end": expect(NO, 405, NO, 405),  # POST only
    "crm:union_list": expect(200, 200, 200, 200),
    "crm:union_create": expect(NO, 200, NO, 200),
    "crm:union_export": expect(NO, 200, 200, 200),
    "crm:union_detail": expect(200, 200, 200, 200),
    "crm:union_update": expect(NO, 200, NO, 200),
    "crm:employer_list": expect(NO, 200, 200, 200),
    "crm:employer_create": expect(NO, 200, NO, 200),
    "crm:employer_detail": expect(NO, 200, 200, 200),
    "crm:employer_update": expect(NO, 200, NO, 200),
    "crm:site_create": expect(NO, 200, NO, 200),
    "crm:site_update": expect(NO, 200, NO, 200),
    "crm:import_list": expect(NO, 200, NO, 200),
    "crm:import_create": expect(NO, 200, NO, 200),
    "crm:import_detail own": expect(NO, 200, NO, 200),
    # Someone else's import is not found, except by administrators (who see every import).
    "crm:import_detail other": expect(NO, 404, NO, 200),
    "crm:import_map": expect(NO, 405, NO, 405),  # POST only
    "crm:import_confirm": expect(NO, 405, NO, 405),
    "crm:import_retry": expect(NO, 405, NO, 405),
    "crm:import_cancel": expect(NO, 405, NO, 405),
    "crm:import_progress own": expect(NO, 204, NO, 204),  # not running: "reload the page"
    "crm:import_progress other": expect(NO, 404, NO, 204),
    "crm:import_errors own": expect(NO, 404, NO, 404),  # no rejected rows to download
    "crm:import_errors other": expect(NO, 404, NO, 200),  # the other import's rejected rows
    "outreach:consultation_list": expect(200, 200, 200, 200),
    "outreach:consultation_mine": expect(200, 200, 200, 200),
    "outreach:consultation_export": expect(NO, 200, 200, 200),
    "outreach:consultation_export_xlsx": expect(NO, 200, 200, 200),
    "outreach:consultation_create": expect(200, NO, NO, 200),
    "outreach:consultation_detail": expect(200, 200, 200, 200),
    # Every role reads every consultation; only the lead (and administrators) change one.
    "outreach:consultation_detail other": expect(200, 200, 200, 200),
    "outreach:consultation_update own": expect(200, NO, NO, 200),
    "outreach:consultation_update other": expect(NO, NO, NO, 200),
    "outreach:consultation_delete own": expect(200, NO, NO, 200),
    "outreach:consultation_delete other": expect(NO, NO, NO, 200),
    "outreach:search_unions": expect(200, 200, 200, 200),
    "outreach:search_contacts": expect(200, 200, 200, 200),
    "followups:list": expect(200, NO, 200, 200),
    "followups:create": expect(200, NO, NO, 200),
    "followups:templates": expect(200, NO, NO, 200),
    "followups:reschedule own": expect(200, NO, NO, 200),
    "followups:reschedule other": expect(NO, NO, NO, 200),
    "followups:action": expect(405, NO, NO, 405),  # POST only
    # The consultation report: managers and administrators only.
    "reports:dashboard": expect(NO, NO, 200, 200),
    "reports:table_export": expect(NO, NO, 200, 200),
    "reports:consultations_export": expect(NO, NO, 200, 200),
    # Public comments: outreach staff and managers moderate them (organizers do not).
    "comments:list": expect(200, NO, 200, 200),
    "comments:detail": expect(200, NO, 200, 200),
    "comments:moderate": expect(405, NO, 405, 405),  # POST only
    "comments:link_contact": expect(405, NO, 405, 405),
    "comments:create_contact": expect(405, NO, 405, 405),
    "comments:set_union": expect(405, NO, 405, 405),
    # "Share your voice": the campaign's public pages, open to anyone signed in or not.
    "voice:submit": OPEN,
    "voice:thanks": OPEN,
    "voice:published": OPEN,
}

# Open to anyone, and why.
PUBLIC = {
    "unsubscribe": "the link in every e-mail: works without an account",
    "login": "the sign-in page",
    "login_code": "the sign-in's second step: nothing without the first (the password)",
    "admin_login": "the Django admin's sign-in: sends to the one sign-in page",
    "logout": "signing out is harmless",
    "healthz": "load balancers probe it; it shows no personal data",
}


def _walk(resolver: URLResolver, namespace: str = "") -> list[tuple[str, URLPattern]]:
    found: list[tuple[str, URLPattern]] = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # Django's admin: staff login of its own, tested by Django
            found += _walk(
                entry, f"{namespace}{entry.namespace}:" if entry.namespace else namespace
            )
        elif isinstance(entry, URLPattern) and entry.name:
            found.append((f"{namespace}{entry.name}", entry))
    return found


def test_it_has_an_expectation_for_every_url():
    names = {name for name, _pattern in _walk(get_resolver())}
    covered = {key.split(" ")[0] for key in EXPECTED} | set(PUBLIC)
    assert names - covered == set(), "decide who may open these URLs"
    assert covered - names == set(), "these URLs no longer exist"


@pytest.fixture
def personas(
    outreach_staffer, organizer, manager, administrator, outsider
) -> dict[str, User | None]:
    return {
        "anonymous": None,
        "outsider": outsider,
        "staff": outreach_staffer,
        "organizer": organizer,
        "manager": manager,
        "admin": administrator,
    }


def _url(key: str, objects: dict[str, Model]) -> str:
    name, _space, which = key.partition(" ")
    pattern = dict(_walk(get_resolver()))[name]
    # path() patterns name their converters; re_path() ones their regex groups.
    params = getattr(pattern.pattern, "converters", None) or pattern.pattern.regex.groupindex
    kwargs = {}
    for param in params:
        if param == "employer_pk":
            kwargs[param] = objects["employer"].pk
        elif param == "action":
            kwargs[param] = "review" if name.startswith("comments:") else "cancel"
        elif param == "file_format":
            kwargs[param] = "xlsx"
        elif param == "table":
            kwargs[param] = "summary"
        elif name.startswith("comments:"):
            kwargs[param] = objects["publiccomment"].pk
        elif name.startswith("followups:"):
            kwargs[param] = objects[f"followup {which or 'own'}".strip()].pk
        elif name == "crm:membership_create":
            kwargs[param] = objects["contact"].pk
        elif name == "crm:erasure_review_done":
            kwargs[param] = objects["erasurereview"].pk
        else:
            model = name.split(":")[1].split("_")[0]
            kwargs[param] = objects[f"{model} {which}".strip()].pk
    return reverse(name, kwargs=kwargs)


@pytest.fixture
def colleagues(db) -> dict[str, User]:
    """A second outreach staffer and a second organizer: the owners of the "other" objects."""
    found = {}
    for persona, role in (("staff", roles.OUTREACH_STAFF), ("organizer", roles.ORGANIZER)):
        found[persona] = UserFactory.create()
        found[persona].groups.add(Group.objects.get(name=role))
    return found


def _objects(
    outreach_staffer: User, organizer: User, colleagues: dict[str, User]
) -> dict[str, Model]:
    membership = MembershipFactory.create()
    site = SiteFactory.create()
    own = ConsultationFactory.create(lead=outreach_staffer, created_by=outreach_staffer)
    own.unions.add(membership.union)
    colleague = colleagues["staff"]
    other = ConsultationFactory.create(lead=colleague, created_by=colleague)
    other.unions.add(membership.union)
    other_import = ImportJob.objects.create(
        source=ImportJob.Source.WEB,
        created_by=colleagues["organizer"],
        file_name="x.csv",
        errors_file="x-rejected.csv",
    )
    other_import.folder.mkdir(parents=True, exist_ok=True)
    (other_import.folder / other_import.errors_file).write_text("error\nRow 2: no name\n")
    objects: dict[str, Model] = {
        "contact": membership.contact,
        "union": membership.union,
        "membership": membership,
        "employer": site.employer,
        "site": site,
        "consultation": own,
        "consultation own": own,
        "consultation other": other,
        "followup own": FollowUpFactory.create(owner=outreach_staffer, contact=membership.contact),
        "followup other": FollowUpFactory.create(owner=colleague, contact=membership.contact),
        "import own": ImportJob.objects.create(
            source=ImportJob.Source.WEB, created_by=organizer, file_name="own.csv"
        ),
        "import other": other_import,
        "publiccomment": PublicCommentFactory.create(),
        "erasurereview": ErasureReview.objects.create(
            erasure=ContactErasure.objects.create(contact_id=10**9), consultation=other
        ),
    }
    objects["import"] = objects["import own"]
    return objects


def _outcome(client, method: str, url: str, user: User | None, expected: object) -> str | None:
    """What went wrong with one request, or None."""
    client.logout()
    if user is not None:
        client.force_login(user)
    response = client.get(url) if method == "get" else client.post(url)
    if expected == LOGIN:
        ok = response.status_code == 302 and response["Location"].startswith(reverse("login"))
    else:
        ok = response.status_code == expected
    return None if ok else f"expected {expected}, got {response.status_code}"


def test_it_gives_each_persona_exactly_the_expected_access(
    client, personas, outreach_staffer, organizer, colleagues
):
    objects = _objects(outreach_staffer, organizer, colleagues)
    failures = []
    for key, expected_by_persona in EXPECTED.items():
        url = _url(key, objects)
        if key == "followups:create":
            url += f"?contact={objects['contact'].pk}"
        for persona, user in personas.items():
            failure = _outcome(client, "get", url, user, expected_by_persona[persona])
            if failure:
                failures.append(f"{key} as {persona}: {failure}")
    assert failures == []
    assert Consultation.objects.count() == 2  # nothing was deleted by a GET


# The outcome of a POST (with no data: a refusal must come before the form is read), for the
# views that take only POSTs (405 above tells nothing of who may use them) and for changes to a
# colleague's object. Administrators go last: they may act, and do.
POSTED: dict[str, dict[str, object]] = {
    "crm:membership_end": expect(NO, 302, NO, 302),  # ended (then: "ended already")
    "crm:erasure_review_done": expect(NO, NO, NO, 302),
    "crm:import_map own": expect(NO, 400, NO, 400),  # a mapping without a name column
    "crm:import_confirm own": expect(NO, 302, NO, 302),  # "preview it first"
    "crm:import_retry own": expect(NO, 302, NO, 302),
    "crm:import_cancel own": expect(NO, 302, NO, 302),
    "followups:action own": expect(302, NO, NO, 302),
    "comments:moderate": expect(302, NO, 302, 302),
    "comments:link_contact": expect(302, NO, 302, 302),  # no number: unlinked
    "comments:create_contact": expect(302, NO, 302, 302),
    "comments:set_union": expect(302, NO, 302, 302),  # no union: not recognised
    # A colleague's objects.
    "outreach:consultation_update other": expect(NO, NO, NO, 200),  # the form, with its errors
    "followups:reschedule other": expect(NO, NO, NO, 200),
    "followups:action other": expect(NO, NO, NO, 302),  # cancelled
    "crm:import_map other": expect(NO, 404, NO, 400),
    "crm:import_confirm other": expect(NO, 404, NO, 302),
    "crm:import_retry other": expect(NO, 404, NO, 302),
    "crm:import_cancel other": expect(NO, 404, NO, 302),  # cancelled
    "outreach:consultation_delete other": expect(NO, NO, NO, 302),  # deleted
}


def test_it_has_a_post_expectation_for_every_post_only_view():
    post_only = {key for key, outcomes in EXPECTED.items() if 405 in outcomes.values()}
    posted = {key.split(" ")[0] for key in POSTED}
    assert {key.split(" ")[0] for key in post_only} - posted == set()


def _state(objects: dict[str, Model]) -> tuple[object, ...]:
    """What the POSTs above could change."""
    consultation = Consultation.objects.filter(pk=objects["consultation other"].pk).first()
    followup = FollowUp.objects.get(pk=objects["followup other"].pk)
    job = ImportJob.objects.get(pk=objects["import other"].pk)
    return (
        consultation and (consultation.title, consultation.updated_at),
        (followup.status, followup.send_at),
        (job.status, job.mapping, job.dry_run),
    )


def test_it_lets_each_persona_post_exactly_as_expected(
    client, personas, outreach_staffer, organizer, colleagues
):
    objects = _objects(outreach_staffer, organizer, colleagues)
    failures = []
    for key, expected_by_persona in POSTED.items():
        url = _url(key, objects)
        for persona, user in personas.items():
            before = _state(objects)
            expected = expected_by_persona[persona]
            failure = _outcome(client, "post", url, user, expected)
            if failure:
                failures.append(f"POST {key} as {persona}: {failure}")
            if expected in {LOGIN, NO, 404} and _state(objects) != before:
                # Refused, including someone else's object: nothing of it may change.
                failures.append(f"POST {key} as {persona}: refused, but changed something")
    assert failures == []
    # The administrator did act on the colleague's objects.
    assert not Consultation.objects.filter(pk=objects["consultation other"].pk).exists()
    assert FollowUp.objects.get(pk=objects["followup other"].pk).status == FollowUp.Status.CANCELLED
    assert ImportJob.objects.get(pk=objects["import other"].pk).status == (
        ImportJob.Status.CANCELLED
    )


def test_it_sends_anonymous_posts_to_login_and_changes_nothing(client):
    membership = MembershipFactory.create()
    response = client.post(reverse("crm:membership_end", args=[membership.pk]))
    assert response["Location"].startswith(reverse("login"))
    membership.refresh_from_db()
    assert membership.end_date is None


def test_it_shows_the_no_access_page_to_a_user_without_role(client, outsider):
    client.force_login(outsider)
    response = client.get(reverse("crm:contact_list"))
    assert response.status_code == 403
    assert "no role yet" in response.content.decode()


@pytest.fixture
def objects(outreach_staffer, organizer, colleagues) -> dict[str, Model]:
    """One object of each kind the URLs are opened on."""
    return _objects(outreach_staffer, organizer, colleagues)


def test_it_keeps_every_page_out_of_caches_and_under_the_policy(client, administrator, objects):
    # Whatever the status: a redirect or an error page may name a person too.
    failures = []
    pages = 0
    urls = [_url(key, objects) for key in EXPECTED] + [
        reverse(name, args=[unsubscribe_token(objects["contact"])] if name == "unsubscribe" else [])
        for name in PUBLIC
    ]
    for user in (administrator, None):
        client.logout()
        if user is not None:
            client.force_login(user)
        for url in urls:
            response = client.get(url)
            pages += user is not None and response.status_code == 200
            if "no-store" not in response.get("Cache-Control", ""):
                failures.append(f"{url} as {user}: Cache-Control {response.get('Cache-Control')}")
            if "default-src 'self'" not in response.get("Content-Security-Policy", ""):
                failures.append(f"{url} as {user}: no Content-Security-Policy")
    assert failures == []
    # The pages themselves were seen, not only redirects and refusals.
    assert pages >= sum(expected["admin"] == 200 for expected in EXPECTED.values())
