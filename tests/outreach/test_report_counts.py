"""The report's running totals (outreach/report_sql.py) against the base tables.

`_report` counts the consultations themselves; `_report_from_counts` sums the rows the triggers
append. Whatever is written, through whatever path, the two must give the same figures for every
filter the totals can answer.
"""

from __future__ import annotations

import calendar
import random
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import time_machine
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import ProtectedError, RestrictedError
from django.test.utils import CaptureQueriesContext

from crm.models import Contact, Sector
from outreach import services
from outreach.models import Attendance, Concern, Consultation, FollowUp, Topic
from outreach.reports import (
    Report,
    ReportFilters,
    _median_of_histogram,
    _report,
    _report_from_counts,
    consultation_report,
    uses_running_totals,
)
from tests.factories import ConsultationFactory, ContactFactory, FollowUpFactory, UnionFactory

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
Status = Consultation.Status
FollowUpStatus = FollowUp.Status

# Instants near month (and year) edges: where the meeting was held decides the month.
INSTANTS = [
    datetime(2025, 12, 31, 23, 30, tzinfo=UTC),  # 1 January in Berlin, 31 December in New York
    datetime(2026, 1, 15, 10, 0, tzinfo=UTC),
    datetime(2026, 1, 31, 23, 30, tzinfo=UTC),  # 1 February in Berlin and Tokyo
    datetime(2026, 2, 1, 3, 0, tzinfo=UTC),  # still 31 January in New York
    datetime(2026, 2, 28, 16, 0, tzinfo=UTC),  # 1 March in Tokyo
    datetime(2026, 3, 31, 22, 30, tzinfo=UTC),  # 1 April in Warsaw (summer time)
    datetime(2026, 4, 30, 12, 0, tzinfo=UTC),
    datetime(2026, 5, 1, 2, 0, tzinfo=UTC),  # 30 April in New York
    datetime(2026, 5, 31, 23, 0, tzinfo=UTC),  # 1 June in Warsaw
    datetime(2026, 7, 3, 9, 0, tzinfo=UTC),  # after NOW: planned ones
]
COUNTRIES = ["DE", "PL", "US", "GB", ""]
ZONES = ["", "", "", "Asia/Tokyo", "America/New_York"]
# From the start of a meeting to a sent follow-up: before it, within the hour, on the hour...
SENT_AFTER = [timedelta(minutes=m) for m in (-300, -1, 0, 59, 60, 90, 1440, 2190, 4350)]
POSITIONS = [value for value, _label in Consultation.Position.choices]
ROLES = [value for value, _label in Attendance.Role.choices]


def _month(year: int, month: int) -> ReportFilters:
    last = calendar.monthrange(year, month)[1]
    return ReportFilters(date_from=date(year, month, 1), date_to=date(year, month, last))


FILTERS = [
    ReportFilters(),
    ReportFilters(country=""),  # no country: the same as no filter
    ReportFilters(country="DE"),
    ReportFilters(country="PL"),
    ReportFilters(country="US"),
    ReportFilters(country="GB"),
    ReportFilters(country="NO"),  # nothing there
    *[_month(2025, 12), _month(2026, 1), _month(2026, 2), _month(2026, 3)],
    *[_month(2026, 4), _month(2026, 5), _month(2026, 6), _month(2026, 7)],
    ReportFilters(date_from=date(2026, 2, 1)),
    ReportFilters(date_to=date(2026, 2, 28)),
    ReportFilters(date_from=date(2026, 1, 1), date_to=date(2026, 3, 31)),
    ReportFilters(date_from=date(2026, 3, 1), date_to=date(2026, 4, 30), country="DE"),
    ReportFilters(date_to=date(2026, 1, 31), country="US"),
    ReportFilters(date_from=date(2026, 4, 1), country=""),
    ReportFilters(date_from=date(2027, 1, 1)),  # nothing yet
]


@pytest.fixture
def frozen() -> Iterator[None]:
    # Both paths count "overdue" follow-ups against the clock: it must not move between them.
    with time_machine.travel(NOW, tick=False):
        yield


# Comparing the two paths


def _figures(report: Report) -> dict[str, Any]:
    """Everything the report holds but its filters: labels, order, positions by country..."""
    figures = asdict(report)
    figures.pop("filters")
    return figures


def _assert_agree(filters: list[ReportFilters] = FILTERS, context: str = "") -> None:
    for report_filters in filters:
        assert uses_running_totals(report_filters), report_filters
        base, totals = _report(report_filters), _report_from_counts(report_filters)
        where = f"{context} {report_filters}"
        assert totals.as_json() == base.as_json(), where
        assert totals.median_days_to_followup == base.median_days_to_followup, where
        assert _figures(totals) == _figures(base), where


def _rows() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT (SELECT count(*) FROM outreach_reportcount)"
            " + (SELECT count(*) FROM outreach_reportreach)"
        )
        return cursor.fetchone()[0]


def _sums() -> dict[str, set[tuple[Any, ...]]]:
    """The totals as figures: the non-zero sums per key, and the delays kept per consultation."""
    queries = {
        "count": "SELECT month, country, kind, key, sum(n) FROM outreach_reportcount"
        " GROUP BY 1, 2, 3, 4 HAVING sum(n) <> 0",
        "reach": "SELECT month, country, contact_id, sum(n) FROM outreach_reportreach"
        " GROUP BY 1, 2, 3 HAVING sum(n) <> 0",
        "first_sent": "SELECT consultation_id, hours FROM outreach_reportfirstsent",
    }
    sums = {}
    with connection.cursor() as cursor:
        for name, sql in queries.items():
            cursor.execute(sql)
            sums[name] = set(cursor.fetchall())
    return sums


def _duplicate_keys() -> list[tuple[Any, ...]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT month, country, kind, key FROM outreach_reportcount"
            " GROUP BY 1, 2, 3, 4 HAVING count(*) > 1"
            " UNION ALL SELECT month, country, 'reach', contact_id::text"
            " FROM outreach_reportreach GROUP BY 1, 2, 4 HAVING count(*) > 1"
        )
        return cursor.fetchall()


def _wipe_totals() -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM outreach_reportcount; DELETE FROM outreach_reportreach;"
            " DELETE FROM outreach_reportfirstsent"
        )


# A random sequence of writes, through the services and the models


class Writer:
    """Every kind of write the report reads, chosen by a seeded random generator."""

    def __init__(self, rng: random.Random, by: User) -> None:
        self.rng = rng
        self.by = by
        self.unions = [
            UnionFactory.create(name="Unite", country="GB"),
            UnionFactory.create(name="Unite", country="IE"),  # same name: labels with country
            UnionFactory.create(name="IG Metall", country="DE"),
            UnionFactory.create(name="OPZZ Metalowcy", country="PL"),
            UnionFactory.create(name="United Steelworkers", country="US"),
        ]
        self.contacts = [ContactFactory.create() for _ in range(8)]
        self.topics = list(Topic.objects.order_by("pk")[:6])
        for index in range(4):  # more concerns than the report's top ten
            Concern.objects.create(slug=f"extra-{index}", name=f"Extra concern {index}")
        self.concerns = list(Concern.objects.order_by("pk"))
        self.log: list[str] = []

    # Picking

    def _consultation(self) -> Consultation | None:
        pks = list(Consultation.objects.order_by("pk").values_list("pk", flat=True))
        return Consultation.objects.get(pk=self.rng.choice(pks)) if pks else None

    def _followup(self) -> FollowUp | None:
        pks = list(FollowUp.objects.order_by("pk").values_list("pk", flat=True))
        return FollowUp.objects.get(pk=self.rng.choice(pks)) if pks else None

    def _attendance(self) -> Attendance | None:
        pks = list(Attendance.objects.order_by("pk").values_list("pk", flat=True))
        return Attendance.objects.get(pk=self.rng.choice(pks)) if pks else None

    def _contact(self) -> Contact | None:
        pks = list(Contact.objects.order_by("pk").values_list("pk", flat=True))
        return Contact.objects.get(pk=self.rng.choice(pks)) if pks else None

    def _some(self, items: list[Any], most: int = 3) -> list[Any]:
        return self.rng.sample(items, self.rng.randint(0, min(most, len(items))))

    def _sent_at(self, consultation: Consultation | None) -> datetime:
        start = consultation.starts_at if consultation else self.rng.choice(INSTANTS)
        return start + self.rng.choice(SENT_AFTER)

    # Consultations

    def create_with_factory(self) -> None:
        consultation = ConsultationFactory.create(
            starts_at=self.rng.choice(INSTANTS),
            status=self.rng.choice(list(Status)),
            country=self.rng.choice(COUNTRIES),
            timezone=self.rng.choice(ZONES),
            position=self.rng.choice(POSITIONS),
            lead=self.by,
        )
        consultation.unions.set(self._some(self.unions))
        consultation.topics.set(self._some(self.topics))
        consultation.concerns.set(self._some(self.concerns, 5))
        for contact in self._some(self.contacts, 4):
            consultation.attendees.add(contact, through_defaults={"role": self.rng.choice(ROLES)})

    def create_with_service(self) -> None:
        starts_at = self.rng.choice(INSTANTS)
        data = {
            "starts_at": starts_at,
            "status": Status.PLANNED if starts_at > NOW else self.rng.choice(list(Status)),
            "format": Consultation.Format.VIDEO,
            "country": self.rng.choice(COUNTRIES),
            "position": self.rng.choice(POSITIONS),
            "unions": self._some(self.unions) or [self.unions[0]],
            "attendees": [
                (contact, self.rng.choice(ROLES)) for contact in self._some(self.contacts)
            ],
            "topics": self._some(self.topics),
            "concerns": self._some(self.concerns, 5),
        }
        services.consultation_create(data=data, by=self.by)

    def update_with_service(self) -> None:
        consultation = self._consultation()
        if consultation is None:
            return
        starts_at = self.rng.choice([consultation.starts_at, *INSTANTS])
        data = {
            "starts_at": starts_at,
            "status": self.rng.choice(list(Status)),
            "country": self.rng.choice([str(consultation.country), *COUNTRIES]),
            "position": self.rng.choice(POSITIONS),
            "unions": self._some(self.unions),
            "attendees": [
                (contact, self.rng.choice(ROLES)) for contact in self._some(self.contacts, 4)
            ],
            "concerns": self._some(self.concerns, 5),
        }
        # Refused (no union and nobody, or held in the future): nothing written.
        with suppress(ValidationError):
            services.consultation_update(consultation=consultation, data=data, by=self.by)

    def change_status(self) -> None:
        consultation = self._consultation()
        if consultation is None:
            return
        status = self.rng.choice(list(Status))
        if self.rng.random() < 0.3:
            Consultation.objects.filter(pk=consultation.pk).update(status=status)
        else:
            consultation.status = status
            consultation.save()

    def move_in_time(self) -> None:
        consultation = self._consultation()
        if consultation is None:
            return
        consultation.starts_at = self.rng.choice(INSTANTS) + timedelta(
            minutes=self.rng.choice([0, 17, 45])
        )
        if self.rng.random() < 0.5:
            consultation.save(update_fields=["starts_at"])  # held_on follows
        else:
            consultation.save()

    def change_country(self) -> None:
        consultation = self._consultation()
        if consultation is None:
            return
        consultation.country = self.rng.choice(COUNTRIES)  # the local date may move too
        consultation.save()

    def change_zone(self) -> None:
        consultation = self._consultation()
        if consultation is None:
            return
        consultation.timezone = self.rng.choice(ZONES)
        consultation.save()

    def change_position(self) -> None:
        consultation = self._consultation()
        if consultation is None:
            return
        consultation.position = self.rng.choice(POSITIONS)
        consultation.save(update_fields=["position"])

    def change_links(self) -> None:
        consultation = self._consultation()
        if consultation is None:
            return
        relations: list[tuple[str, list[Any]]] = [
            ("unions", self.unions),
            ("topics", self.topics),
            ("concerns", self.concerns),
        ]
        name, choices = self.rng.choice(relations)
        manager = getattr(consultation, name)
        action = self.rng.choice(["add", "remove", "set", "clear"])
        if action == "add":
            manager.add(*self._some(choices))
        elif action == "remove":
            current = list(manager.all())
            manager.remove(*self._some(current) if current else [])
        elif action == "set":
            manager.set(self._some(choices, 5))
        else:
            manager.clear()

    def delete_consultation(self) -> None:
        consultation = self._consultation()
        if consultation is None:
            return
        if self.rng.random() < 0.5:
            services.consultation_delete(consultation=consultation, by=self.by)
        else:
            consultation.delete()

    def edit_without_figures(self) -> None:
        """Only what the report does not read: nothing is appended."""
        consultation = self._consultation()
        if consultation is None:
            return
        before = _rows()
        consultation.summary = f"Notes {self.rng.random()}"
        consultation.title = f"Retitled {self.rng.randint(1, 999)}"
        consultation.save()
        assert _rows() == before

    # People

    def attend(self) -> None:
        consultation = self._consultation()
        if consultation is None:
            return
        contact = self.rng.choice(self.contacts)
        if self.rng.random() < 0.5:
            consultation.attendees.add(contact, through_defaults={"role": self.rng.choice(ROLES)})
        else:
            consultation.attendees.remove(contact)

    def change_attendance(self) -> None:
        attendance = self._attendance()
        if attendance is None:
            return
        what = self.rng.choice(["contact", "consultation", "role", "delete"])
        if what == "delete":
            attendance.delete()
            return
        if what == "contact":
            attendance.contact = self.rng.choice(self.contacts)
        elif what == "consultation":
            other = self._consultation()
            assert other is not None
            attendance.consultation = other
        else:
            attendance.role = self.rng.choice(ROLES)
        taken = (
            Attendance.objects.filter(
                consultation_id=attendance.consultation_id, contact_id=attendance.contact_id
            )
            .exclude(pk=attendance.pk)
            .exists()
        )
        if not taken:
            attendance.save()

    def delete_contact(self) -> None:
        contact = self._contact()
        if contact is None:
            return
        pk = contact.pk  # delete() forgets it
        try:
            with transaction.atomic():
                contact.delete()  # refused while a follow-up was written to them
        except (ProtectedError, RestrictedError):
            return
        self.contacts = [other for other in self.contacts if other.pk != pk] or [
            ContactFactory.create()
        ]

    # Follow-ups

    def create_followup(self) -> None:
        consultation = self._consultation() if self.rng.random() < 0.9 else None
        status = self.rng.choice(list(FollowUpStatus))
        sent = status == FollowUpStatus.SENT or self.rng.random() < 0.1
        FollowUpFactory.create(
            consultation=consultation,
            contact=self.rng.choice(self.contacts),
            owner=self.by,
            status=status,
            # Some pending ones more than ten minutes late: overdue.
            send_at=NOW + timedelta(minutes=self.rng.choice([-600, -11, -9, 30])),
            sent_at=self._sent_at(consultation) if sent and self.rng.random() < 0.9 else None,
        )

    def change_followup(self) -> None:
        followup = self._followup()
        if followup is None:
            return
        status = self.rng.choice(list(FollowUpStatus))
        changes: dict[str, Any] = {"status": status}
        if status == FollowUpStatus.SENT and (followup.sent_at is None or self.rng.random() < 0.5):
            changes["sent_at"] = self._sent_at(followup.consultation)
        elif self.rng.random() < 0.2:
            changes["sent_at"] = None
        if self.rng.random() < 0.5:
            FollowUp.objects.filter(pk=followup.pk).update(**changes)
        else:
            for name, value in changes.items():
                setattr(followup, name, value)
            followup.save()

    def followup_action(self) -> None:
        """What staff do to a follow-up, through the services (refused in the wrong status)."""
        followup = self._followup()
        if followup is None:
            return
        action = self.rng.choice(["cancel", "retry", "reschedule", "send_now"])
        try:
            if action == "cancel":
                services.followup_cancel(followup=followup, by=self.by)
            elif action == "retry":
                services.followup_retry(followup=followup, by=self.by)
            elif action == "reschedule":
                services.followup_reschedule(
                    followup=followup, send_at=NOW + timedelta(days=1), by=self.by
                )
            else:
                followup.status = FollowUpStatus.SCHEDULED
                followup.save()
                services.followup_send_now(followup=followup, by=self.by)
        except ValidationError:
            pass

    def resend_earlier(self) -> None:
        """A second follow-up of the same consultation sent: the first sent one decides."""
        followup = self._followup()
        if followup is None or followup.consultation is None:
            return
        followup.status = FollowUpStatus.SENT
        followup.sent_at = self._sent_at(followup.consultation)
        followup.save(update_fields=["status", "sent_at"])

    def move_followup(self) -> None:
        followup = self._followup()
        if followup is None:
            return
        followup.consultation = self._consultation() if self.rng.random() < 0.8 else None
        followup.save()

    def delete_followup(self) -> None:
        followup = self._followup()
        if followup is not None:
            followup.delete()

    def edit_followup_text(self) -> None:
        followup = self._followup()
        if followup is None:
            return
        before = _rows()
        followup.subject = f"Thanks again {self.rng.randint(1, 999)}"
        followup.save()
        assert _rows() == before

    # Upkeep

    def compact(self) -> None:
        services.report_counts_compact()
        assert _duplicate_keys() == []

    def operations(self) -> list[tuple[Callable[[], None], int]]:
        return [
            (self.create_with_factory, 6),
            (self.create_with_service, 3),
            (self.update_with_service, 3),
            (self.change_status, 5),
            (self.move_in_time, 4),
            (self.change_country, 3),
            (self.change_zone, 2),
            (self.change_position, 2),
            (self.change_links, 5),
            (self.delete_consultation, 1),
            (self.edit_without_figures, 1),
            (self.attend, 4),
            (self.change_attendance, 3),
            (self.delete_contact, 1),
            (self.create_followup, 6),
            (self.change_followup, 5),
            (self.followup_action, 2),
            (self.resend_earlier, 2),
            (self.move_followup, 2),
            (self.delete_followup, 2),
            (self.edit_followup_text, 1),
            (self.compact, 1),
        ]

    def step(self) -> None:
        choices, weights = zip(*self.operations(), strict=True)
        operation = self.rng.choices(choices, weights=weights)[0]
        self.log.append(operation.__name__)
        operation()


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_it_gives_the_same_figures_from_the_totals_as_from_the_consultations(
    postgres, frozen, outreach_staffer, seed
):
    writer = Writer(random.Random(seed), outreach_staffer)
    for _ in range(8):
        writer.create_with_factory()
    for _ in range(8):
        writer.create_followup()
        writer.resend_earlier()
    first = Consultation.objects.order_by("pk").first()
    assert first is not None
    Consultation.objects.filter(pk=first.pk).update(status=Status.HELD)
    FollowUpFactory.create(
        consultation=first,
        contact=writer.contacts[0],
        owner=outreach_staffer,
        status=FollowUpStatus.SENT,
        sent_at=first.starts_at + timedelta(hours=20),
    )
    _assert_agree(context=f"seed {seed} at the start")
    assert _report(ReportFilters()).median_days_to_followup is not None
    for index in range(60):
        writer.step()
        if index % 6 == 5:
            _assert_agree(context=f"seed {seed} after {writer.log[-6:]}")
    _assert_agree(context=f"seed {seed} at the end")

    # The rebuild counts the same from scratch, and repairs totals that were lost.
    incremental = _sums()
    services.report_counts_rebuild()
    assert _sums() == incremental
    assert _duplicate_keys() == []
    _assert_agree(context="rebuilt")
    _wipe_totals()
    assert _report_from_counts(ReportFilters()).as_json() != _report(ReportFilters()).as_json()
    services.report_counts_rebuild()
    assert _sums() == incremental
    _assert_agree(context="wiped and rebuilt")

    # And the totals keep counting after a rebuild or a compaction in the same transaction.
    for _ in range(12):
        writer.step()
    services.report_counts_compact()
    for _ in range(12):
        writer.step()
    _assert_agree(context=f"seed {seed} after upkeep and {writer.log[-24:]}")


# Compaction


def _held(**fields: Any) -> Consultation:
    fields.setdefault("starts_at", datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    return ConsultationFactory.create(**fields)


def _busy_month(by: User) -> list[Consultation]:
    """A few consultations written over and over: many rows per key."""
    unions = [UnionFactory.create() for _ in range(3)]
    people = [ContactFactory.create() for _ in range(3)]
    consultations = [_held(lead=by, country=country) for country in ("DE", "DE", "PL", "")]
    for consultation in consultations:
        for _ in range(3):
            consultation.unions.set(unions)
            consultation.attendees.set(people)
            consultation.topics.set(Topic.objects.order_by("pk")[:2])
            consultation.status = Status.CANCELLED
            consultation.save()
            consultation.status = Status.HELD
            consultation.save()
            consultation.unions.remove(unions[0])
        FollowUpFactory.create(
            consultation=consultation,
            contact=people[0],
            owner=by,
            status=FollowUpStatus.SENT,
            sent_at=consultation.starts_at + timedelta(hours=30),
        )
    consultations[-1].starts_at += timedelta(days=31)
    consultations[-1].save()
    return consultations


def test_it_folds_the_rows_into_one_per_key_without_changing_a_figure(
    postgres, frozen, outreach_staffer
):
    _busy_month(outreach_staffer)
    sums, rows = _sums(), _rows()
    assert _duplicate_keys()

    assert services.report_counts_compact() > 0
    assert _duplicate_keys() == []
    assert _rows() < rows
    assert _sums() == sums
    _assert_agree()
    with connection.cursor() as cursor:  # keys summing to nothing are gone
        cursor.execute("SELECT count(*) FROM outreach_reportcount WHERE n = 0")
        assert cursor.fetchone()[0] == 0
        cursor.execute("SELECT count(*) FROM outreach_reportreach WHERE n = 0")
        assert cursor.fetchone()[0] == 0

    assert services.report_counts_compact() == _rows()  # again: the same rows back
    assert _sums() == sums


def test_it_counts_writes_made_after_a_compaction_in_the_same_transaction(
    postgres, frozen, outreach_staffer
):
    consultation = _held(lead=outreach_staffer)
    services.report_counts_compact()
    consultation.unions.add(UnionFactory.create())
    consultation.attendees.add(ContactFactory.create())
    _assert_agree()
    services.report_counts_rebuild()
    consultation.status = Status.CANCELLED
    consultation.save()
    services.report_counts_rebuild()  # twice in one transaction
    _assert_agree()


def _in_thread(work: Callable[[], None]) -> None:
    """`work` on a connection of its own, committed: another writer."""
    failures: list[BaseException] = []

    def run() -> None:
        try:
            with transaction.atomic():
                work()
        except BaseException as error:
            failures.append(error)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert not failures, failures


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_leaves_rows_appended_after_the_bound_to_the_next_run(postgres, outreach_staffer):
    consultations = _busy_month(outreach_staffer)
    newcomer = UnionFactory.create(name="Newcomer")
    appended: list[tuple[Any, ...]] = []
    started: list[bool] = []

    def write_meanwhile(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        if sql.startswith("SELECT max(id) FROM outreach_reportcount") and not started:
            started.append(True)
            # Between the bound and the fold, another transaction links a union and commits.
            with connection.cursor() as cursor:
                cursor.execute("SELECT max(id) FROM outreach_reportcount")
                bound = cursor.fetchone()[0]
                _in_thread(lambda: consultations[0].unions.add(newcomer))
                cursor.execute("SELECT * FROM outreach_reportcount WHERE id > %s", [bound])
                appended.extend(cursor.fetchall())
        return result

    sums = _sums()
    with connection.execute_wrapper(write_meanwhile):
        services.report_counts_compact()
    # The union's row in its month, and its all-time copy.
    assert sorted((row[1] is None, row[4], row[5]) for row in appended) == [
        (False, str(newcomer.pk), 1),
        (True, str(newcomer.pk), 1),
    ]
    with connection.cursor() as cursor:  # left as they were
        cursor.execute(
            "SELECT * FROM outreach_reportcount WHERE id = ANY(%s)", [[row[0] for row in appended]]
        )
        assert sorted(cursor.fetchall()) == sorted(appended)
    assert _duplicate_keys() == []  # but for the newcomer's, folded next time
    assert _report_from_counts(ReportFilters()).as_json()["by_union"]["Newcomer"] == 1
    after = _sums()
    assert after["count"] - sums["count"] == {
        (date(2026, 3, 1), "DE", "union", str(newcomer.pk), 1),
        (None, "DE", "union", str(newcomer.pk), 1),
    }
    assert after["reach"] == sums["reach"]
    _assert_agree()
    services.report_counts_compact()  # the next run folds them
    assert _duplicate_keys() == []
    _assert_agree()


def test_it_appends_nothing_for_a_save_that_changes_no_figure(postgres, frozen, outreach_staffer):
    union = UnionFactory.create()
    person = ContactFactory.create()
    consultation = services.consultation_create(
        data={
            "starts_at": NOW - timedelta(days=3),
            "status": Status.HELD,
            "country": "DE",
            "unions": [union],
            "attendees": [(person, Attendance.Role.SPEAKER)],
        },
        by=outreach_staffer,
    )
    followup = FollowUpFactory.create(
        consultation=consultation, contact=person, owner=outreach_staffer
    )
    rows = _rows()
    assert rows > 0

    consultation.summary = "They asked for the training plan in Polish."
    consultation.save()
    services.consultation_update(
        consultation=consultation,
        data={
            "summary": "Same people, same unions.",
            "unions": [union],
            "attendees": [(person, "speaker")],
        },
        by=outreach_staffer,
    )
    Consultation.objects.filter(pk=consultation.pk).update(status=Status.HELD)  # as it was
    followup.subject = "Thank you again"
    followup.send_at += timedelta(hours=1)
    followup.save()
    attendance = consultation.attendances.get()
    attendance.role = Attendance.Role.OBSERVER
    attendance.save()
    assert _rows() == rows


# Which path


@pytest.mark.parametrize(
    ("given", "totals"),
    [
        ({}, True),
        ({"country": "DE"}, True),
        ({"country": "DE", "date_from": date(2026, 1, 1)}, True),
        ({"date_from": date(2026, 3, 1)}, True),
        ({"date_from": date(2026, 3, 2)}, False),
        ({"date_from": date(2026, 3, 31)}, False),
        ({"date_to": date(2026, 3, 31)}, True),
        ({"date_to": date(2026, 3, 30)}, False),
        ({"date_to": date(2026, 4, 1)}, False),
        ({"date_to": date(2026, 2, 28)}, True),
        ({"date_to": date(2028, 2, 28)}, False),  # a leap year
        ({"date_to": date(2028, 2, 29)}, True),
        ({"date_from": date(2026, 1, 1), "date_to": date(2026, 12, 31)}, True),
        ({"date_from": date(2026, 1, 1), "date_to": date(2026, 12, 30)}, False),
        ({"date_from": date(2026, 3, 10), "date_to": date(2026, 3, 31)}, False),
        ({"format": Consultation.Format.VIDEO}, False),
        ({"staff": "lead"}, False),
        ({"union": "union"}, False),
        ({"sector": "sector"}, False),
        ({"topic": "topic"}, False),
    ],
)
def test_it_reads_the_totals_exactly_when_the_filters_allow(
    postgres, frozen, outreach_staffer, given, totals
):
    union = UnionFactory.create()
    late = _held(lead=outreach_staffer, starts_at=datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
    late.unions.add(union)
    early = _held(lead=outreach_staffer, starts_at=datetime(2026, 3, 1, 9, 0, tzinfo=UTC))
    early.unions.add(union)
    named = {  # what the parametrization can only name
        "lead": outreach_staffer,
        "union": union,
        "sector": Sector.objects.get(slug="aerospace"),
        "topic": Topic.objects.get(slug="welding"),
    }
    filters = ReportFilters(**{name: named.get(value, value) for name, value in given.items()})

    assert uses_running_totals(filters) is totals
    with CaptureQueriesContext(connection) as queries:
        report = consultation_report(filters=filters)
    read_totals = any("outreach_reportcount" in query["sql"] for query in queries)
    assert read_totals is totals
    assert _figures(report) == _figures(_report(filters))


def test_it_counts_from_mid_month_by_the_consultations_themselves(
    postgres, frozen, outreach_staffer
):
    _held(lead=outreach_staffer, starts_at=datetime(2026, 3, 20, 9, 0, tzinfo=UTC))
    _held(lead=outreach_staffer, starts_at=datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    mid_march = ReportFilters(date_from=date(2026, 3, 10), date_to=date(2026, 3, 25))
    assert consultation_report(filters=mid_march).total_consultations == 1
    whole_march = ReportFilters(date_from=date(2026, 3, 1), date_to=date(2026, 3, 31))
    assert consultation_report(filters=whole_march).total_consultations == 2


# The median


def _percentile_cont(values: list[int]) -> float | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v) FROM unnest(%s::int[]) AS v",
            [values],
        )
        hours = cursor.fetchone()[0]
    return None if hours is None else round(float(hours) / 24, 1)


@pytest.mark.parametrize(
    ("counts", "days"),
    [
        ({}, None),
        ({30: 0}, None),
        ({36: 1}, 1.5),
        ({0: 1, 48: 1}, 1.0),  # even: halfway between the middle two
        ({0: 1, 12: 1, 48: 1}, 0.5),  # odd: the middle one
        ({-24: 1}, -1.0),  # sent before the meeting started
        ({-48: 2, 24: 1, 72: 1}, -0.5),
        ({5: 3, 100: 1}, 0.2),
        ({5: 2, 100: 2}, 2.2),
        ({1: 1, 2: 1}, 0.1),  # 1.5 hours
    ],
)
def test_it_takes_the_median_of_a_histogram(postgres, counts, days):
    assert _median_of_histogram(counts) == days
    assert _percentile_cont([value for value, n in counts.items() for _ in range(n)]) == days


def test_it_takes_the_median_of_a_histogram_as_percentile_cont_does(postgres):
    rng = random.Random(7)
    for size in [0, 1, 2, 3, 4, 5, 10, 11, *[rng.randint(1, 60) for _ in range(40)]]:
        values = [rng.randint(-100, 400) for _ in range(size)]
        if rng.random() < 0.5:  # many equal values: a few buckets
            values = [value - value % 24 for value in values]
        counts: dict[int, int] = {}
        for value in values:
            counts[value] = counts.get(value, 0) + 1
        counts[-1000] = 0  # an empty bucket: ignored
        assert _median_of_histogram(counts) == _percentile_cont(values), values


# Writers at the same time


def _until_blocked(pid: int) -> None:
    """Until the backend `pid` waits for a lock."""
    deadline = time.monotonic() + 10
    while True:
        with connection.cursor() as cursor:
            cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
            row = cursor.fetchone()
        if row is not None and row[0] == "Lock":
            return
        assert time.monotonic() < deadline, "the other transaction never waited"
        time.sleep(0.01)


def _together(
    first: Callable[[], None], second: Callable[[], None], *, second_waits: bool = True
) -> None:
    """`first` writes and holds its transaction open; `second` starts writing; once `second`
    waits on `first`'s locks, `first` commits, then `second`. Or, if `second` does not wait,
    `second` commits first."""
    start = threading.Barrier(2, timeout=10)
    first_wrote, second_writing, second_done, first_may_commit = (
        threading.Event() for _ in range(4)
    )
    failures: list[BaseException] = []
    second_pid: list[int] = []

    def run_first() -> None:
        try:
            start.wait()
            with transaction.atomic():
                first()
                first_wrote.set()
                assert first_may_commit.wait(timeout=10)
        except BaseException as error:
            failures.append(error)
            first_wrote.set()
        finally:
            connection.close()

    def run_second() -> None:
        try:
            start.wait()
            assert first_wrote.wait(timeout=10)
            with transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute("SELECT pg_backend_pid()")
                    second_pid.append(cursor.fetchone()[0])
                second_writing.set()
                second()
        except BaseException as error:
            failures.append(error)
        finally:
            second_writing.set()
            second_done.set()
            connection.close()

    threads = [threading.Thread(target=run_first), threading.Thread(target=run_second)]
    for thread in threads:
        thread.start()
    try:
        assert second_writing.wait(timeout=10)
        if second_waits:
            assert second_pid
            _until_blocked(second_pid[0])
        else:
            assert second_done.wait(timeout=10)
    finally:
        first_may_commit.set()
        for thread in threads:
            thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)
    assert not failures, failures


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
@pytest.mark.parametrize("union_first", [True, False], ids=["union-first", "status-first"])
def test_it_agrees_after_a_union_added_while_the_consultation_is_cancelled(
    postgres, outreach_staffer, union_first
):
    consultation = _held(lead=outreach_staffer, country="DE")
    consultation.unions.add(UnionFactory.create())
    union = UnionFactory.create(name="Joined meanwhile")

    def add_union() -> None:
        Consultation.objects.get(pk=consultation.pk).unions.add(union)

    def cancel() -> None:
        cancelled = Consultation.objects.get(pk=consultation.pk)
        cancelled.status = Status.CANCELLED
        cancelled.save()

    _together(add_union, cancel) if union_first else _together(cancel, add_union)

    report = _report(ReportFilters())
    assert (report.total_consultations, report.cancelled, report.by_union) == (0, 1, [])
    _assert_agree([ReportFilters(), ReportFilters(country="DE"), _month(2026, 3)])


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_agrees_after_two_follow_ups_of_a_consultation_sent_at_once(postgres, outreach_staffer):
    consultation = _held(lead=outreach_staffer, country="DE")
    people = [ContactFactory.create() for _ in range(2)]
    followups = [
        FollowUpFactory.create(
            consultation=consultation,
            contact=person,
            owner=outreach_staffer,
            status=FollowUpStatus.SENDING,
        )
        for person in people
    ]

    def send(followup: FollowUp, after: timedelta) -> Callable[[], None]:
        def sent() -> None:
            FollowUp.objects.filter(pk=followup.pk).update(
                status=FollowUpStatus.SENT, sent_at=consultation.starts_at + after
            )

        return sent

    # The later one first: the earlier, sent meanwhile, is the first sent follow-up.
    _together(send(followups[0], timedelta(hours=50)), send(followups[1], timedelta(hours=26)))

    assert _report(ReportFilters()).median_days_to_followup == 1.1
    _assert_agree([ReportFilters(), ReportFilters(country="DE"), _month(2026, 3)])


@pytest.mark.xfail(
    strict=True,
    reason="Known drift: a follow-up's trigger reads its consultation without a lock (a sender "
    "never waits on an editor), so a follow-up changing status while its consultation is "
    "cancelled or moved in another transaction is counted under the old state; "
    "report_counts_rebuild repairs it.",
)
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_it_agrees_after_a_follow_up_sent_while_its_consultation_is_cancelled(
    postgres, outreach_staffer
):
    consultation = _held(lead=outreach_staffer, country="DE")
    followup = FollowUpFactory.create(
        consultation=consultation,
        contact=ContactFactory.create(),
        owner=outreach_staffer,
        status=FollowUpStatus.SENDING,
    )

    def sent() -> None:
        FollowUp.objects.filter(pk=followup.pk).update(
            status=FollowUpStatus.SENT, sent_at=consultation.starts_at + timedelta(hours=5)
        )

    def cancel() -> None:
        cancelled = Consultation.objects.get(pk=consultation.pk)
        cancelled.status = Status.CANCELLED
        cancelled.save()

    _together(sent, cancel, second_waits=False)
    assert _report(ReportFilters()).followups["sent"] == 0
    _assert_agree([ReportFilters(), _month(2026, 3)])
