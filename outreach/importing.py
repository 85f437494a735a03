"""The importer of historical consultations (meetings logged elsewhere before the CRM).

Columns: date, title, format, status, country, city, unions and contacts (`;` lists of union
names and of people: "Name <email>", an email, or a name already in the CRM), topics,
concerns, position, summary, staff (the lead: a username or email).

A row matches the consultation with the same title on the same day, so a file imported twice
changes nothing the second time. Dates without a time are taken as noon in the country's time
zone (UTC where the country has several). Saved through consultation_create/update: the rules
of the logging form hold, and no follow-up is scheduled.
"""

from __future__ import annotations

import re
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth import get_user_model
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from crm.importing.cells import (
    CellError,
    parse_choice,
    parse_country,
    parse_email,
    parse_text,
    same_text,
    split_list,
    split_names,
)
from crm.importing.headers import split_full_name
from crm.importing.records import (
    Change,
    RecordImporter,
    RowRejectedError,
    outcome,
)
from crm.models import Contact, contact_search_text
from crm.text import fold
from crm.timezones import default_timezone
from outreach.models import Concern, Consultation, Topic
from outreach.services.consultations import (
    NewAttendee,
    consultation_create,
    consultation_update,
)

DATE_FORMATS = ("%Y-%m-%d", "%d.%m.%Y", "%d/%m/%Y", "%Y/%m/%d")
TIME_FORMATS = ("%H:%M", "%H:%M:%S")
PERSON = re.compile(r"^(?P<name>.*?)\s*<(?P<email>[^<>]+)>$")


def parse_when(value: str) -> tuple[date, time | None]:
    """ "2025-03-04", "04.03.2025 14:30", or a spreadsheet date ("2025-03-04 00:00:00")."""
    day_text, _space, time_text = value.strip().replace("T", " ").partition(" ")
    for pattern in DATE_FORMATS:
        try:
            day = datetime.strptime(day_text, pattern).date()
            break
        except ValueError:
            continue
    else:
        raise CellError(
            _("“%(value)s” is not a date; write it as YYYY-MM-DD (2025-03-04).") % {"value": value}
        )
    at: time | None = None
    if time_text and time_text not in {"00:00", "00:00:00"}:
        for pattern in TIME_FORMATS:
            try:
                at = datetime.strptime(time_text, pattern).time()
                break
            except ValueError:
                continue
        else:
            raise CellError(_("“%(value)s” has a time that cannot be read.") % {"value": value})
    return day, at


def _taxonomy(model: type[Topic] | type[Concern], value: str) -> list[int]:
    known: dict[str, int] = {}
    for entry in model.objects.all():
        for key in (entry.slug, entry.name, str(entry)):
            known[fold(key)] = entry.pk
    found = []
    for item in split_list(value):
        pk = known.get(fold(item))
        if pk is None:
            raise CellError(
                _("“%(value)s” is not a known %(what)s.")
                % {"value": item, "what": model._meta.verbose_name}
            )
        found.append(pk)
    return list(dict.fromkeys(found))


class ConsultationImporter(RecordImporter):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        refs = self.refs
        self.parsers = [
            ("date", lambda v, _row: parse_when(v)),
            ("title", lambda v, _row: parse_text(v, limit=200)),
            (
                "format",
                lambda v, _row: parse_choice(
                    v,
                    Consultation.Format.choices,
                    message=_("“%(value)s” is not a format; use one of: %(choices)s."),
                ),
            ),
            (
                "status",
                lambda v, _row: parse_choice(
                    v,
                    Consultation.Status.choices,
                    message=_("“%(value)s” is not a status; use one of: %(choices)s."),
                ),
            ),
            ("country", lambda v, _row: parse_country(v)),
            ("city", lambda v, _row: parse_text(v, limit=100)),
            # Missing unions are only noted while the row is read, and created when it is
            # saved: a row rejected for another cell created them all the same.
            (
                "unions",
                lambda v, row: [
                    refs.union_deferred(n, row.get("country", "")) for n in split_names(v)
                ],
            ),
            ("contacts", lambda v, _row: [_person(item) for item in split_names(v)]),
            ("topics", lambda v, _row: _taxonomy(Topic, v)),
            ("concerns", lambda v, _row: _taxonomy(Concern, v)),
            (
                "position",
                lambda v, _row: parse_choice(
                    v,
                    Consultation.Position.choices,
                    message=_("“%(value)s” is not a position; use one of: %(choices)s."),
                ),
            ),
            ("summary", lambda v, _row: parse_text(v, limit=32_767)),
            ("staff", lambda v, _row: _staff(v)),
        ]
        self.importer = refs.user

    def field_column(self, model_field: str) -> str:
        return {"starts_at": "date", "lead": "staff", "attendees": "contacts"}.get(
            model_field, model_field
        )

    def save(self, values: dict[str, Any]) -> tuple[str, str, list[Change]]:
        if "date" not in values:
            raise RowRejectedError(_("a consultation needs a date."), "date")
        if "title" not in values:
            # A consultation is found again by its title: without one, each import of the
            # file added the row once more (with a title made up from format and unions).
            raise RowRejectedError(_("a consultation needs a title."), "title")
        starts_at = self._starts_at(values)
        existing = self._find(values, starts_at)
        # An empty staff cell leaves an existing consultation's lead alone (it used to hand it
        # to whoever ran the import, or reject the row when nobody did); a new one needs one.
        lead = values.get("staff") or (existing.lead if existing else self.importer)
        if lead is None:
            raise RowRejectedError(
                _("whose consultation is this? Fill in the staff column."), "staff"
            )
        if not lead.is_active and (existing is None or existing.lead != lead):
            # As on the form: someone who has left keeps the consultations they led (so that
            # an exported file imports back), but is given no other.
            raise RowRejectedError(
                _("“%(value)s” is no longer an active staff member.")
                % {"value": lead.get_username()},
                "staff",
            )
        # Who made the change is who ran the import (history and "updated by"), not the lead.
        by = self.importer or lead
        attendees, new_people = self._attendees(values)
        data: dict[str, Any] = {"lead": lead}
        changes: list[Change] = []
        if existing is not None and existing.lead != lead:
            # A filled staff cell replaces the lead, as any filled cell replaces what is stored.
            changes.append(("lead", existing.lead.get_username(), lead.get_username()))
        fields = {
            "title": values.get("title"),
            "format": values.get("format"),
            "status": values.get("status"),
            "country": values.get("country"),
            "city": values.get("city"),
            "position": values.get("position"),
            "summary": values.get("summary"),
        }
        for field, value in fields.items():
            if value is None:
                continue
            old = getattr(existing, field) if existing else None
            if existing is None or not same_text(str(old), str(value)):
                data[field] = value
                if existing is not None:
                    changes.append((field, str(old or ""), str(value)))
        if existing is None:
            data["starts_at"] = starts_at
            data.setdefault(
                "status",
                Consultation.Status.HELD
                if starts_at <= timezone.now()
                else Consultation.Status.PLANNED,
            )
            data.update(
                unions=list(self.refs_unions(values)),
                attendees=attendees,
                new_attendees=new_people,
                topics=values.get("topics", []),
                concerns=values.get("concerns", []),
            )
            consultation = consultation_create(data=data, by=by)
            return outcome(True, []), consultation.title, []
        # An existing consultation: lists are added to, never emptied.
        union_ids = set(existing.unions.values_list("pk", flat=True))
        new_unions = [u for u in self.refs_unions(values) if u.pk not in union_ids]
        present = dict(existing.attendances.values_list("contact_id", "role"))
        more_people = [(c, role) for c, role in attendees if c.pk not in present]
        for field in ("topics", "concerns"):
            have = set(getattr(existing, field).values_list("pk", flat=True))
            wanted = set(values.get(field, []))
            if wanted - have:
                data[field] = sorted(have | wanted)
                changes.append((field, str(len(have)), str(len(have | wanted))))
        if new_unions or more_people or new_people:
            changes.append(("attendees", "", str(len(new_unions) + len(more_people))))
        if not changes:
            return outcome(False, []), existing.title, []
        data.update(
            unions=[*existing.unions.all(), *new_unions],
            attendees=[
                *[(c, present[c.pk]) for c in existing.attendees.all()],
                *more_people,
            ],
            new_attendees=new_people,
        )
        consultation = consultation_update(consultation=existing, data=data, by=by)
        return outcome(False, changes), consultation.title, changes

    def refs_unions(self, values: dict[str, Any]) -> list[Any]:
        from crm.models import Union

        return list(
            Union.objects.filter(pk__in=[self.refs.created(u) for u in values.get("unions", [])])
        )

    def _starts_at(self, values: dict[str, Any]) -> datetime:
        day, at = values["date"]
        zone = default_timezone(values.get("country", "")) if values.get("country") else None
        local = datetime.combine(day, at or time(12, 0), tzinfo=ZoneInfo(zone or "UTC"))
        return local.astimezone(ZoneInfo("UTC"))

    def _find(self, values: dict[str, Any], starts_at: datetime) -> Consultation | None:
        if "title" not in values:
            return None
        # The local day from midnight to midnight: a window of 14 hours around the row's time
        # missed a consultation at 23:30 when the row said 00:30 the same day.
        day = values["date"][0]
        zone = ZoneInfo(default_timezone(values.get("country", "")) or "UTC")
        return (
            Consultation.objects.filter(
                starts_at__gte=datetime.combine(day, time(0), tzinfo=zone),
                starts_at__lt=datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone),
                title__iexact=values["title"],
            )
            .select_related("lead")
            .order_by("starts_at", "pk")
            .first()
        )

    def _attendees(self, values: dict[str, Any]) -> tuple[list[Any], list[NewAttendee]]:
        """People of the row: existing contacts found by email or name; new ones by email."""
        found: list[tuple[Contact, str]] = []
        new: list[NewAttendee] = []
        for name, email in values.get("contacts", []):
            contact = None
            if email:
                contact = Contact.objects.filter(email__iexact=email).first()
            elif name:
                key = contact_search_text(*split_full_name(name), "")
                matches = [
                    c
                    for c in Contact.objects.filter(search_text__startswith=key)[:5]
                    if fold(c.full_name) == fold(name)
                ]
                if len(matches) != 1:
                    raise RowRejectedError(
                        _("“%(value)s” is not one contact of the CRM (found %(count)d); write "
                          "“Name <email>” to add them.")
                        % {"value": name, "count": len(matches)},
                        "contacts",
                    )  # fmt: skip
                contact = matches[0]
            if contact is not None:
                found.append((contact, "participant"))
            else:
                if not name:
                    raise RowRejectedError(
                        _("%(value)s is new to the CRM: write “Name <%(value)s>”.")
                        % {"value": email},
                        "contacts",
                    )
                first, last = split_full_name(name)
                new.append(NewAttendee(first_name=first, last_name=last, email=email))
        return found, new


def _person(item: str) -> tuple[str, str]:
    """ "Anna Nowak <anna@example.pl>" -> ("Anna Nowak", "anna@example.pl")."""
    match = PERSON.match(item)
    if match:
        return parse_text(match["name"], limit=200), parse_email(match["email"])
    if "@" in item:
        return "", parse_email(item)
    return parse_text(item, limit=200), ""


def _staff(value: str) -> Any:
    # Former staff too (active ones first): they may lead the consultation the row matches,
    # which an export names; save() refuses them as the lead of any other.
    users = get_user_model().objects.filter(Q(username__iexact=value) | Q(email__iexact=value))
    user = users.order_by("-is_active", "pk").first()
    if user is None:
        raise CellError(
            _("“%(value)s” is not a staff member's username or email.") % {"value": value}
        )
    return user
