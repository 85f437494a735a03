"""Factories for the core records, with names in several scripts."""

from __future__ import annotations

from datetime import timedelta

import factory
from django.contrib.auth.models import User
from django.utils import timezone
from factory.django import DjangoModelFactory

from crm.models import Consent, Contact, Employer, Membership, Site, Union
from outreach.models import Consultation, FollowUp, PublicComment


class UnionFactory(DjangoModelFactory[Union]):
    class Meta:
        model = Union

    name = factory.Sequence(lambda n: f"Metalworkers' Union {n}")
    acronym = factory.Sequence(lambda n: f"MU{n}")
    country = "DE"
    kind = Union.Kind.NATIONAL_UNION


class EmployerFactory(DjangoModelFactory[Employer]):
    class Meta:
        model = Employer

    name = factory.Sequence(lambda n: f"Defence Works {n}")
    country = "DE"


class SiteFactory(DjangoModelFactory[Site]):
    class Meta:
        model = Site

    employer = factory.SubFactory(EmployerFactory)
    city = factory.Sequence(lambda n: f"Werkstadt {n}")
    country = "DE"


class ContactFactory(DjangoModelFactory[Contact]):
    class Meta:
        model = Contact

    first_name = factory.Iterator(["Jürgen", "Ελένη", "Иван", "Ayşe", "Łucja", "Søren"])
    last_name = factory.Sequence(lambda n: f"Tester{n}")
    email = factory.Sequence(lambda n: f"person{n}@example.org")
    country = "DE"
    timezone = "Europe/Berlin"
    email_consent = Consent.GRANTED


class MembershipFactory(DjangoModelFactory[Membership]):
    class Meta:
        model = Membership

    contact = factory.SubFactory(ContactFactory)
    union = factory.SubFactory(UnionFactory)
    role = Membership.Role.MEMBER


class UserFactory(DjangoModelFactory[User]):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"staffer{n}")
    email = factory.Sequence(lambda n: f"staffer{n}@example.org")


class ConsultationFactory(DjangoModelFactory[Consultation]):
    class Meta:
        model = Consultation

    title = factory.Sequence(lambda n: f"Consultation {n}")
    starts_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=1))
    status = Consultation.Status.HELD
    lead = factory.SubFactory(UserFactory)
    country = "DE"


class FollowUpFactory(DjangoModelFactory[FollowUp]):
    class Meta:
        model = FollowUp

    contact = factory.SubFactory(ContactFactory)
    owner = factory.SubFactory(UserFactory)
    subject = "Thank you, {{ first_name }}"
    body = "Thank you for meeting us."
    send_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=1))
    message_id = factory.Sequence(lambda n: f"<followup-{n}@test.example>")


class PublicCommentFactory(DjangoModelFactory[PublicComment]):
    class Meta:
        model = PublicComment

    comment = factory.Sequence(lambda n: f"Cross-training must keep the work here. ({n})")
    name = factory.Iterator(["Jürgen Weber", "Ελένη Παππά", "Иван Петров", "Ayşe Yılmaz", ""])
    email = factory.Sequence(lambda n: f"commenter{n}@example.org")
    union_name = "IG Metall"
    country = "DE"
    language = "en"
    consent_to_publish = True
    consent_question = "May we post your comment for others to see and review?"
    updates_question = "Yes, send me updates about the campaign by e-mail."
