"""Factories for the core records, with names in several scripts."""

from __future__ import annotations

import factory
from factory.django import DjangoModelFactory

from crm.models import Consent, Contact, Employer, Membership, Site, Union


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
