"""Reads of the core app: lists, details and histories, with related rows fetched up front."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce, Lower
from django.utils import timezone

from crm.models import ConsentRecord, Contact, Membership, Tag, Union
from crm.text import search_terms


def _current_memberships() -> Q:
    return Q(end_date__isnull=True) | Q(end_date__gte=timezone.localdate())


def union_family(union: Union) -> Q:
    """A union and its locals, the unit managers filter by."""
    return Q(union=union) | Q(union__parent=union)


@dataclass(frozen=True)
class ContactFilters:
    q: str = ""
    union: Union | None = None
    country: str = ""
    trade: str = ""
    tag: Tag | None = None
    language: str = ""
    consent: str = ""


def contact_list(*, filters: ContactFilters) -> QuerySet[Contact]:
    contacts = Contact.objects.select_related("employer", "site", "site__employer")
    for term in search_terms(filters.q):
        contacts = contacts.filter(search_text__contains=term)
    if filters.union is not None:
        members = Membership.objects.filter(
            union_family(filters.union), _current_memberships(), contact=OuterRef("pk")
        )
        contacts = contacts.filter(Exists(members))
    if filters.country:
        contacts = contacts.filter(country=filters.country)
    if filters.trade:
        contacts = contacts.filter(trade=filters.trade)
    if filters.tag is not None:
        contacts = contacts.filter(
            Exists(Contact.tags.through.objects.filter(contact=OuterRef("pk"), tag=filters.tag))
        )
    if filters.language:
        contacts = contacts.filter(
            Exists(
                Contact.languages.through.objects.filter(
                    contact=OuterRef("pk"), language=filters.language
                )
            )
        )
    if filters.consent == "do_not_contact":
        contacts = contacts.filter(do_not_contact=True)
    elif filters.consent:
        contacts = contacts.filter(email_consent=filters.consent)
    return with_list_relations(contacts).order_by("last_name", "first_name", "id")


def with_list_relations(contacts: QuerySet[Contact]) -> QuerySet[Contact]:
    """What a list row or an export row shows besides the contact: current unions, tags."""
    return contacts.select_related("employer", "site", "site__employer").prefetch_related(
        Prefetch(
            "memberships",
            queryset=Membership.objects.filter(_current_memberships()).select_related("union"),
            to_attr="current_memberships",
        ),
        "tags",
    )


def contact_detail(*, pk: int) -> Contact:
    return (
        Contact.objects.select_related(
            "employer", "site", "site__employer", "preferred_language", "created_by", "updated_by"
        )
        .prefetch_related(
            Prefetch(
                "memberships", queryset=Membership.objects.select_related("union", "union__parent")
            ),
            "languages",
            "tags",
        )
        .get(pk=pk)
    )


@dataclass(frozen=True)
class UnionFilters:
    q: str = ""
    country: str = ""
    kind: str = ""
    sector: str = ""


def union_list(*, filters: UnionFilters) -> QuerySet[Union]:
    unions = Union.objects.select_related("parent")
    for term in search_terms(filters.q):
        unions = unions.filter(search_text__contains=term)
    if filters.country:
        unions = unions.filter(country=filters.country)
    if filters.kind:
        unions = unions.filter(kind=filters.kind)
    if filters.sector:
        unions = unions.filter(
            Exists(
                Union.sectors.through.objects.filter(union=OuterRef("pk"), sector=filters.sector)
            )
        )
    # Subqueries rather than two joined Counts, which would multiply each other's rows.
    people = (
        Membership.objects.filter(_current_memberships(), union=OuterRef("pk"))
        .values("union")
        .annotate(n=Count("contact", distinct=True))
        .values("n")
    )
    locals_ = (
        Union.objects.filter(parent=OuterRef("pk"))
        .values("parent")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        unions.annotate(
            member_count=Coalesce(Subquery(people), 0),
            local_count=Coalesce(Subquery(locals_), 0),
        )
        .prefetch_related("sectors")
        .order_by("name", "id")
    )


def union_detail(*, pk: int) -> Union:
    return (
        Union.objects.select_related("parent", "created_by", "updated_by")
        .prefetch_related(
            "affiliations",
            "sectors",
            "languages",
            Prefetch("locals", queryset=Union.objects.order_by("name")),
        )
        .get(pk=pk)
    )


def union_people_count(*, union: Union) -> int:
    """People with a current membership in the union or one of its locals."""
    members = Membership.objects.filter(
        union_family(union), _current_memberships(), contact=OuterRef("pk")
    )
    return Contact.objects.filter(Exists(members)).count()


def union_members(*, union: Union, limit: int = 25) -> list[Membership]:
    return list(
        Membership.objects.filter(_current_memberships(), union=union)
        .select_related("contact")
        .order_by("contact__last_name", "contact__first_name", "id")[:limit]
    )


def union_choices() -> QuerySet[Union]:
    """The unions of a filter's select box: only what a label shows and a filter reads. There
    are thousands; their timestamps and texts made up most of the cost of the box."""
    return Union.objects.order_by("name").only("id", "name", "acronym", "country", "kind")


def union_search(*, query: str, limit: int) -> list[Union]:
    """Unions matching every term, for pick lists: no counts, a handful of rows."""
    terms = search_terms(query)
    if not terms:
        return []
    unions = Union.objects.all()
    for term in terms:
        unions = unions.filter(search_text__contains=term)
    return list(unions.order_by("name", "id")[:limit])


def contact_search(*, query: str, limit: int) -> list[Contact]:
    """Contacts matching every term, with what tells namesakes apart (union, workplace)."""
    if not search_terms(query):
        return []
    return list(contact_list(filters=ContactFilters(q=query))[:limit])


def contact_with_email(*, email: str) -> Contact | None:
    """The contact holding this address, compared as the unique index compares (the database's
    lower(), which also lets it use the index)."""
    if not email:
        return None
    return Contact.objects.alias(key=Lower("email")).filter(key=Lower(Value(email))).first()


def contact_export_rows(*, filters: ContactFilters) -> Iterator[list[str]]:
    """The contacts of a filter as the importer's columns (crm/importing/headers.py), so that an
    exported file can be edited and imported back. Read in chunks: memory stays flat."""
    return contact_rows(contacts=contact_list(filters=filters))


def contact_rows(*, contacts: QuerySet[Contact]) -> Iterator[list[str]]:
    """Contacts (of a list query: memberships and tags prefetched) as the importer's columns."""
    contacts = contacts.select_related("preferred_language").prefetch_related("languages")
    # A name several unions share is written with the country, "Name (DE)", which the importer
    # reads back as that country's union.
    shared = set(
        Union.objects.annotate(key=Lower("name"))
        .values("key")
        .annotate(count=Count("id"))
        .filter(count__gt=1)
        .values_list("key", flat=True)
    )
    for contact in contacts.iterator(chunk_size=1000):
        current = list(getattr(contact, "current_memberships", []))
        membership = current[0] if current else None
        yield [
            contact.first_name,
            contact.last_name,
            contact.email,
            contact.phone,
            _union_label(membership.union, shared) if membership else "",
            membership.role if membership else "",
            contact.employer.name if contact.employer else "",
            (contact.site.name or contact.site.city) if contact.site else "",
            str(contact.country),
            contact.trade,
            ";".join(sorted(language.code for language in contact.languages.all())),
            contact.preferred_language_id or "",
            contact.timezone,
            ";".join(tag.name for tag in contact.tags.all()),
            {"granted": "yes", "withdrawn": "no"}.get(contact.email_consent, ""),
            contact.notes,
        ]


def union_rows(*, unions: QuerySet[Union]) -> Iterator[list[str]]:
    """Unions as the union importer's columns (crm/importing/headers.py UNION_COLUMNS)."""
    unions = unions.select_related("parent").prefetch_related("affiliations", "sectors")
    for union in unions.order_by("kind", "name", "pk").iterator(chunk_size=500):
        affiliations = list(union.affiliations.all())
        yield [
            union.name,
            union.acronym,
            str(union.country),
            union.kind,
            union.parent.name if union.parent else "",
            "; ".join(a.name for a in affiliations if a.kind == Union.Kind.NATIONAL_CENTRE),
            "; ".join(a.name for a in affiliations if a.kind == Union.Kind.GLOBAL_FEDERATION),
            "; ".join(sector.slug for sector in union.sectors.all()),
            "" if union.membership_size is None else str(union.membership_size),
            union.website,
            union.notes,
        ]


def _union_label(union: Union, shared: set[str]) -> str:
    if union.name.lower() in shared and union.country:
        return f"{union.name} ({union.country})"
    return union.name


def consent_records(*, contact: Contact) -> QuerySet[ConsentRecord]:
    """Every answer the person gave about e-mail, newest first."""
    return ConsentRecord.objects.filter(contact=contact).select_related("recorded_by")
