"""Public comments: taking one from the form (with the consent record and the e-mail opt-in),
moderating it (publishing only with consent), and the figures for the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from crm.models import Consent, ConsentRecord, ConsentSource, Contact, Membership
from outreach.comment_selectors import CommentFilters, public_comment_list, published_comments
from outreach.models import PublicComment
from outreach.services import comments as services
from tests.factories import ContactFactory, PublicCommentFactory, UnionFactory

pytestmark = pytest.mark.django_db
Status = PublicComment.Status
CONSENT_QUESTION = "May we post your comment for others to see and review?"
UPDATES_QUESTION = "Yes, send me updates about the campaign by e-mail."


def submit(**data) -> PublicComment:
    spam = data.pop("spam", False)
    return services.public_comment_submit(
        data={"comment": "Keep the work here.", "language": "en", **data},
        consent_question=data.pop("consent_question", CONSENT_QUESTION),
        updates_question=UPDATES_QUESTION,
        spam=spam,
    )


# Taking a comment


def test_it_stores_the_comment_with_the_questions_asked_and_the_answers():
    comment = submit(
        comment="Wir brauchen gleiche Zertifikate.",
        name="  Jürgen   Weber ",
        email="Juergen@Example.ORG",
        union_name="IG Metall",
        country="DE",
        trade="welder",
        role="shop_steward",
        language="de",
        consent_to_publish=True,
        consent_question="Dürfen wir Ihren Kommentar veröffentlichen?",
    )
    comment.refresh_from_db()
    assert comment.status == Status.NEW
    assert comment.name == "Jürgen Weber"
    assert comment.email == "Juergen@example.org"
    assert (comment.country, comment.trade, comment.role, comment.language) == (
        "DE",
        "welder",
        "shop_steward",
        "de",
    )
    assert comment.consent_to_publish is True
    assert comment.consent_question == "Dürfen wir Ihren Kommentar veröffentlichen?"
    assert comment.updates_opt_in is False
    assert comment.updates_question == UPDATES_QUESTION
    assert comment.received_at is not None


def test_it_takes_an_anonymous_comment_that_may_not_be_published_by_default():
    comment = submit()
    assert comment.name == comment.email == ""
    assert comment.consent_to_publish is False


def test_it_refuses_an_empty_or_too_long_comment(settings):
    settings.PUBLIC_COMMENT_MAX_LENGTH = 5000
    with pytest.raises(ValidationError) as empty:
        submit(comment="")
    assert "comment" in empty.value.message_dict
    with pytest.raises(ValidationError) as long:
        submit(comment="x" * 10_000)
    assert long.value.message_dict["comment"] == [
        "Your comment is 10,000 characters long; the limit is 5,000. "
        "Please shorten it and send it again."
    ]
    assert submit(comment="x" * 5000).pk
    assert PublicComment.objects.count() == 1


def test_it_creates_no_contact_without_the_opt_in():
    submit(name="Anna Kowalska", email="anna@example.org")
    assert not Contact.objects.exists()


def test_it_creates_a_contact_with_consent_from_the_public_form_on_opt_in():
    UnionFactory.create(name="IG Metall")
    comment = submit(
        name="Anna Kowalska",
        email="anna@example.org",
        country="PL",
        trade="welder",
        language="pl",
        updates_opt_in=True,
    )
    contact = Contact.objects.get()
    assert (contact.first_name, contact.last_name, contact.email) == (
        "Anna",
        "Kowalska",
        "anna@example.org",
    )
    assert contact.country == "PL"
    assert contact.trade == "welder"
    assert contact.preferred_language_id == "pl"
    assert contact.email_consent == Consent.GRANTED
    assert contact.email_consent_source == ConsentSource.PUBLIC_FORM
    assert contact.email_consent_at is not None
    # The union was typed, not recognised: no membership is guessed from it.
    assert not Membership.objects.exists()
    comment.refresh_from_db()
    assert comment.contact == contact


def test_it_refuses_an_opt_in_without_an_address():
    with pytest.raises(ValidationError) as error:
        submit(updates_opt_in=True)
    assert "email" in error.value.message_dict
    assert not PublicComment.objects.exists()


def test_it_files_someone_who_gave_no_name_under_their_address():
    submit(email="steward.42@example.org", updates_opt_in=True)
    contact = Contact.objects.get()
    assert contact.full_name == "steward.42"


def test_it_records_the_opt_in_of_a_known_address_in_any_case_and_changes_nothing_else():
    known = ContactFactory.create(
        first_name="Søren",
        last_name="Madsen",
        email="soren@example.dk",
        country="DK",
        email_consent=Consent.UNKNOWN,
    )
    comment = submit(
        name="Someone Else", email="SOREN@EXAMPLE.DK", country="SE", updates_opt_in=True
    )
    known.refresh_from_db()
    assert Contact.objects.count() == 1
    assert (known.first_name, known.last_name, known.country) == ("Søren", "Madsen", "DK")
    assert known.email_consent == Consent.GRANTED
    assert known.email_consent_source == ConsentSource.PUBLIC_FORM
    comment.refresh_from_db()
    assert comment.contact == known


@pytest.mark.parametrize("before", [Consent.WITHDRAWN, Consent.GRANTED])
def test_it_records_a_new_opt_in_as_a_new_consent(before):
    earlier = datetime(2025, 1, 1, tzinfo=UTC)
    known = ContactFactory.create(
        email="ayse@example.org",
        email_consent=before,
        email_consent_at=earlier,
        email_consent_source=ConsentSource.UNSUBSCRIBE,
        do_not_contact=True,
    )
    submit(email="ayse@example.org", updates_opt_in=True)
    known.refresh_from_db()
    assert known.email_consent == Consent.GRANTED
    assert known.email_consent_at is not None
    assert known.email_consent_at > earlier
    assert known.email_consent_source == ConsentSource.PUBLIC_FORM
    # "Do not contact" is a staff decision: an opt-in does not lift it.
    assert known.do_not_contact is True


def test_it_keeps_the_comment_when_the_contact_cannot_be_recorded(monkeypatch):
    def refuse(**kwargs):
        raise ValidationError({"last_name": "no"})

    monkeypatch.setattr(services, "contact_create", refuse)
    comment = submit(name="Ivan Petrov", email="ivan@example.org", updates_opt_in=True)
    comment.refresh_from_db()
    assert comment.contact is None
    assert comment.updates_opt_in is True
    assert not Contact.objects.exists()


def test_it_logs_an_opt_in_it_could_not_record_without_what_was_typed(monkeypatch, caplog):
    def refuse(**kwargs):
        invalid = ValidationError(
            "%(value)s is not a valid phone number.",
            params={"value": "0601 234 567"},
            code="invalid",
        )
        raise ValidationError({"phone": invalid, "last_name": "no"})

    monkeypatch.setattr(services, "contact_create", refuse)
    comment = submit(name="Ivan Petrov", email="ivan@example.org", updates_opt_in=True)
    assert [r.getMessage() for r in caplog.records if r.name == services.__name__] == [
        f"public comment {comment.pk}: e-mail opt-in not recorded: phone: invalid; "
        "last_name: invalid"
    ]
    assert "0601" not in caplog.text


def test_it_keeps_a_trapped_comment_as_spam_without_acting_on_its_opt_in():
    comment = submit(email="bot@example.org", updates_opt_in=True, spam=True)
    assert comment.status == Status.SPAM
    assert not Contact.objects.exists()


# Moderating


def test_it_publishes_a_comment_the_person_agreed_to(outreach_staffer):
    comment = PublicCommentFactory.create(consent_to_publish=True)
    services.public_comment_publish(comment=comment, by=outreach_staffer, note="Fine.")
    comment.refresh_from_db()
    assert comment.status == Status.PUBLISHED
    assert comment.published_at is not None
    assert comment.moderated_by == outreach_staffer
    assert comment.moderation_note == "Fine."
    assert list(published_comments().values_list("pk", flat=True)) == [comment.pk]


def test_it_refuses_to_publish_without_consent(outreach_staffer):
    comment = PublicCommentFactory.create(consent_to_publish=False, status=Status.REVIEWED)
    with pytest.raises(ValidationError) as error:
        services.public_comment_publish(comment=comment, by=outreach_staffer)
    assert error.value.code == "no_consent"
    comment.refresh_from_db()
    assert comment.status == Status.REVIEWED
    assert comment.moderated_by is None
    assert not published_comments().exists()


def test_it_is_refused_by_the_database_when_published_without_consent():
    comment = PublicCommentFactory.create(consent_to_publish=False)
    with pytest.raises(IntegrityError), transaction.atomic():
        PublicComment.objects.filter(pk=comment.pk).update(status=Status.PUBLISHED)


def test_it_refuses_to_publish_spam_until_it_is_reviewed(outreach_staffer):
    comment = PublicCommentFactory.create(status=Status.SPAM)
    with pytest.raises(ValidationError):
        services.public_comment_publish(comment=comment, by=outreach_staffer)
    services.public_comment_review(comment=comment, by=outreach_staffer)
    services.public_comment_publish(comment=comment, by=outreach_staffer)
    assert comment.status == Status.PUBLISHED


def test_it_takes_a_published_comment_off_the_page_by_hiding_it(manager):
    comment = PublicCommentFactory.create(status=Status.PUBLISHED)
    with pytest.raises(ValidationError):
        services.public_comment_review(comment=comment, by=manager)
    services.public_comment_hide(comment=comment, by=manager)
    comment.refresh_from_db()
    assert comment.status == Status.HIDDEN
    assert comment.moderated_by == manager
    assert not published_comments().exists()


def test_it_marks_spam_and_keeps_the_note_unless_given(outreach_staffer):
    comment = PublicCommentFactory.create(moderation_note="Looks automated.")
    services.public_comment_mark_spam(comment=comment, by=outreach_staffer)
    comment.refresh_from_db()
    assert comment.status == Status.SPAM
    assert comment.moderation_note == "Looks automated."
    services.public_comment_review(comment=comment, by=outreach_staffer, note="")
    comment.refresh_from_db()
    assert (comment.status, comment.moderation_note) == (Status.REVIEWED, "")


def test_it_checks_the_rules_against_the_stored_comment_not_a_stale_copy(outreach_staffer):
    comment = PublicCommentFactory.create(consent_to_publish=True)
    stale = PublicComment.objects.get(pk=comment.pk)
    services.public_comment_mark_spam(comment=comment, by=outreach_staffer)
    with pytest.raises(ValidationError):
        services.public_comment_publish(comment=stale, by=outreach_staffer)
    assert PublicComment.objects.get(pk=comment.pk).status == Status.SPAM


def test_it_links_and_unlinks_a_contact_and_sets_the_union(outreach_staffer):
    comment = PublicCommentFactory.create()
    contact = ContactFactory.create()
    union = UnionFactory.create()
    services.public_comment_link_contact(comment=comment, contact=contact, by=outreach_staffer)
    services.public_comment_set_union(comment=comment, union=union, by=outreach_staffer)
    comment.refresh_from_db()
    assert (comment.contact, comment.union) == (contact, union)
    services.public_comment_link_contact(comment=comment, contact=None, by=outreach_staffer)
    comment.refresh_from_db()
    assert comment.contact is None
    assert comment.status == Status.NEW


def test_it_creates_a_contact_from_a_comment_with_the_union_staff_recognised(outreach_staffer):
    union = UnionFactory.create(name="Unite", country="GB")
    comment = PublicCommentFactory.create(
        name="Kowalska, Anna",
        email="anna.k@example.org",
        country="GB",
        trade="pipefitter",
        role="shop_steward",
        union=union,
        updates_opt_in=False,
    )
    contact = services.public_comment_create_contact(comment=comment, by=outreach_staffer)
    assert (contact.first_name, contact.last_name) == ("Anna", "Kowalska")
    assert contact.created_by == outreach_staffer
    # No opt-in was given: the consent stays unknown.
    assert contact.email_consent == Consent.UNKNOWN
    membership = contact.memberships.get()
    assert (membership.union, membership.role) == (union, "shop_steward")
    comment.refresh_from_db()
    assert comment.contact == contact
    with pytest.raises(ValidationError):
        services.public_comment_create_contact(comment=comment, by=outreach_staffer)


def test_it_refuses_to_create_a_contact_twice_or_from_nothing(outreach_staffer):
    known = ContactFactory.create(email="known@example.org")
    with pytest.raises(ValidationError) as error:
        services.public_comment_create_contact(
            comment=PublicCommentFactory.create(email="KNOWN@example.org"), by=outreach_staffer
        )
    assert known.full_name in error.value.messages[0]
    with pytest.raises(ValidationError):
        services.public_comment_create_contact(
            comment=PublicCommentFactory.create(name="", email=""), by=outreach_staffer
        )
    assert Contact.objects.count() == 1


# Reads


def test_it_filters_the_queue_by_status_country_union_and_words():
    union = UnionFactory.create()
    local = UnionFactory.create(kind="local", parent=union)
    wanted = PublicCommentFactory.create(country="FR", union=local, comment="Formation croisée")
    PublicCommentFactory.create(country="FR", comment="Formation croisée")
    PublicCommentFactory.create(country="DE", union=union, comment="Formation croisée")
    PublicCommentFactory.create(country="FR", union=union, status=Status.SPAM)
    filters = CommentFilters(status=Status.NEW, country="FR", union=union, q="croisée")
    assert list(public_comment_list(filters=filters)) == [wanted]


def test_it_seeds_demo_comments_once(outreach_staffer):
    from outreach.demo import seed_comments

    assert seed_comments(seed=7) == 5
    assert seed_comments(seed=7) == 0
    assert PublicComment.objects.count() == 5
    assert published_comments().count() == 2


def test_it_keeps_the_opt_in_with_the_question_shown_on_the_form():
    known = ContactFactory.create(email="soren@example.dk", email_consent=Consent.WITHDRAWN)
    first = submit(email="new@example.org", updates_opt_in=True)
    second = submit(email="SOREN@example.dk", updates_opt_in=True)
    for comment in (first, second):
        comment.refresh_from_db()
        record = ConsentRecord.objects.get(contact=comment.contact)
        assert (record.question, record.answer, record.source, record.recorded_by) == (
            UPDATES_QUESTION,
            Consent.GRANTED,
            ConsentSource.PUBLIC_FORM,
            None,
        )
        assert record.recorded_at == comment.received_at
    assert second.contact == known


def test_it_dates_a_consent_made_into_a_contact_by_staff_from_the_comment(outreach_staffer):
    with time_machine.travel(datetime(2026, 3, 2, 9, 0, tzinfo=UTC), tick=False) as clock:
        comment = PublicCommentFactory.create(email="ewa@example.pl", updates_opt_in=True)
        clock.shift(timedelta(days=3))
        contact = services.public_comment_create_contact(comment=comment, by=outreach_staffer)
    record = ConsentRecord.objects.get(contact=contact)
    assert record.recorded_at == datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert (record.question, record.recorded_by) == (comment.updates_question, outreach_staffer)
