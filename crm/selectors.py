"""Reads of the core app: lists, details and histories, with related rows fetched up front."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from crm.models import Contact, Membership, Tag, Union
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
    return contacts.prefetch_related(
        Prefetch(
            "memberships",
            queryset=Membership.objects.filter(_current_memberships()).select_related("union"),
            to_attr="current_memberships",
        ),
        "tags",
    ).order_by("last_name", "first_name", "id")


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
    return (
        unions.annotate(
            member_count=Count(
                "memberships", filter=_current_memberships_of("memberships"), distinct=True
            ),
            local_count=Count("locals", distinct=True),
        )
        .prefetch_related("sectors")
        .order_by("name", "id")
    )


def _current_memberships_of(prefix: str) -> Q:
    return Q(**{f"{prefix}__end_date__isnull": True}) | Q(
        **{f"{prefix}__end_date__gte": timezone.localdate()}
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
        .annotate(
            member_count=Count(
                "memberships", filter=_current_memberships_of("memberships"), distinct=True
            )
        )
        .get(pk=pk)
    )


def union_members(*, union: Union, limit: int = 25) -> list[Membership]:
    return list(
        Membership.objects.filter(_current_memberships(), union=union)
        .select_related("contact")
        .order_by("contact__last_name", "contact__first_name", "id")[:limit]
    )


@dataclass
class HistoryEntry:
    when: Any
    who: Any
    kind: str
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


def history_entries(*, obj: Contact | Union, limit: int = 20) -> list[HistoryEntry]:
    """The latest changes of a record, newest first, each with the fields it changed.

    Bounded by `limit` because comparing versions reads their many-to-many snapshots.
    """
    records = list(
        obj.history.select_related("history_user").order_by("-history_date", "-history_id")[
            : limit + 1
        ]
    )
    entries = []
    for index, record in enumerate(records[:limit]):
        older = records[index + 1] if index + 1 < len(records) else None
        changes: list[tuple[str, Any, Any]] = []
        if older is not None:
            delta = record.diff_against(older, foreign_keys_are_objs=False)
            for change in delta.changes:
                model_field = obj._meta.get_field(change.field)
                old, new = change.old, change.new
                if model_field.many_to_many:
                    old, new = _m2m_names(model_field, old), _m2m_names(model_field, new)
                changes.append((str(getattr(model_field, "verbose_name", change.field)), old, new))
        entries.append(
            HistoryEntry(
                when=record.history_date,
                who=record.history_user,
                kind=record.history_type,
                changes=changes,
            )
        )
    return entries


def _m2m_names(model_field: Any, rows: list[dict[str, Any]]) -> str:
    """Names of the targets in a many-to-many snapshot (rows of the through table)."""
    target = model_field.related_model
    key = model_field.m2m_reverse_field_name()
    ids = [row[key] for row in rows if key in row]
    return ", ".join(sorted(str(item) for item in target._default_manager.filter(pk__in=ids)))
