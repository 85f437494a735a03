"""Redis (cache and broker) stopped for two minutes: staff keep working, the public form refuses
comments it cannot count (rate limiting fails closed there), and follow-ups due meanwhile leave
once Redis is back, each exactly once."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm import roles
from outreach.comment_forms import SHOWN_FIELD
from outreach.models import Consultation, FollowUp, PublicComment
from tests.drills.conftest import Drill, staff_user
from tests.factories import ContactFactory, UnionFactory
from tests.http_client import Session, consultation_form, errors, hidden_inputs, page_text
from tests.processes import wait_for

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# Two minutes, as the runbook's drill says; shorter only to try the drill out.
DOWN_SECONDS = float(os.environ.get("DRILL_REDIS_DOWN_SECONDS", "120"))
FOLLOWUPS = 3


def _comment(session: Session, text: str) -> tuple[int, str]:
    _status, _location, page = session.get("/voice/")
    token = hidden_inputs(page, [SHOWN_FIELD])[SHOWN_FIELD]
    status, location, page = session.post(
        "/voice/", {"comment": text, SHOWN_FIELD: token, "consent_to_publish": "no"}
    )
    return status, location or page_text(page)


def _schedule(session: Session, contact_id: int, send_at_local: str) -> None:
    day, clock = send_at_local.split(" ")
    status, _location, page = session.post(
        f"/followups/new/?contact={contact_id}",
        {
            "subject": "Notes from our site visit",
            "body": "Thank you for your time.",
            "send_date": day,
            "send_time": clock,
            "submission_key": str(uuid.uuid4()),
        },
    )
    assert status == 302, errors(page)


def test_it_keeps_staff_working_and_sends_late_follow_ups_when_redis_stops(system, smtp_server):
    drill = Drill(f"Redis (cache and broker) stopped for {DOWN_SECONDS:.0f} s")
    union = UnionFactory.create()
    people = [ContactFactory.create(timezone="Europe/Berlin") for _ in range(FOLLOWUPS)]
    staffer = staff_user("drill.staff", roles.OUTREACH_STAFF)
    manager = staff_user("drill.manager", roles.MANAGER)
    running = system(
        EMAIL_URL=smtp_server.url,
        FOLLOWUP_DISPATCH_SECONDS="2",
        FOLLOWUP_REQUEUE_AFTER="10",
        PUBLIC_COMMENT_MIN_SECONDS="0",
    )
    running.start_web()
    running.start_worker()
    running.start_beat()
    staff, boss = running.session(staffer), running.session(manager)
    public = running.anonymous()
    assert _comment(public, "Before the outage: keep the jobs here.")[0] == 302
    drill.did("gunicorn, a Celery worker and beat on the drill's Redis; a public comment sent")

    running.stop_redis()
    stopped = time.monotonic()
    drill.did("stopped Redis (SIGKILL)")

    # Due a minute or so from now, in each person's own clock: well inside the outage.
    zone = ZoneInfo("Europe/Berlin")
    due = (timezone.now() + timedelta(minutes=1)).astimezone(zone).replace(second=0, microsecond=0)
    for person in people:
        _schedule(staff, person.pk, due.strftime("%Y-%m-%d %H:%M"))
    drill.did(f"scheduled {FOLLOWUPS} follow-ups through the web, due at {due:%H:%M} Berlin time")

    health = json.loads(public.get("/healthz")[2])
    assert public.get("/healthz")[0] == 503
    assert health["checks"]["database"]["ok"]
    assert not health["checks"]["cache"]["ok"]
    assert not health["checks"]["broker"]["ok"]
    drill.checked("/healthz answers 503: database ok, cache and broker down")

    status, text = _comment(public, "During the outage: protect domestic jobs.")
    assert status == 503
    assert "We cannot take comments at this moment" in text
    assert PublicComment.objects.count() == 1
    drill.checked("the public form refuses a comment it cannot count (503, text kept), saves none")

    fresh = running.session(staffer)
    drill.checked("a staff member signs in afresh (sessions and lockout live in PostgreSQL)")

    rounds = 0
    statuses: Counter[int] = Counter()
    while time.monotonic() - stopped < DOWN_SECONDS:
        rounds += 1
        statuses[fresh.get(f"/contacts/?q={people[0].last_name}")[0]] += 1
        statuses[staff.get(f"/contacts/{people[rounds % FOLLOWUPS].pk}/")[0]] += 1
        statuses[boss.get("/reports/")[0]] += 1
        status, _location, page = staff.post(
            "/consultations/new/",
            consultation_form(
                f"Drill: Redis {rounds}",
                format="phone",
                position="conditional_support",
                unions=[str(union.pk)],
            ),
        )
        assert status == 302, errors(page)
        statuses[status] += 1
        time.sleep(10)
    assert set(statuses) <= {200, 302}, statuses
    assert Consultation.objects.filter(title__startswith="Drill: Redis").count() == rounds
    drill.checked(
        f"{sum(statuses.values())} staff requests during the outage (search, contact pages, "
        f"the dashboard, {rounds} consultations logged): all answered 200 or 302, all saved"
    )
    assert not smtp_server.messages
    overdue = FollowUp.objects.filter(send_at__lte=timezone.now()).count()
    if DOWN_SECONDS >= 90:
        assert overdue == FOLLOWUPS
    drill.checked(f"no e-mail left while Redis was down; {overdue} follow-ups were due meanwhile")

    running.start_redis()
    returned = time.monotonic()
    drill.did(f"started Redis again after {returned - stopped:.0f} s")
    wait_for(
        lambda: FollowUp.objects.filter(status=FollowUp.Status.SENT).count() == FOLLOWUPS,
        timeout=180,
        interval=1,
        what="the follow-ups to be sent",
    )
    took = time.monotonic() - returned
    restarts = running.restarts()
    if restarts:
        drill.checked(
            f"the worker stopped on the lost broker connection; its supervisor restarted it "
            f"{restarts} time(s) (README: run workers under one)"
        )
    delivered = Counter(smtp_server.handler.message_ids())
    assert len(delivered) == FOLLOWUPS
    assert max(delivered.values()) == 1, delivered
    drill.checked(f"the {FOLLOWUPS} follow-ups left {took:.0f} s after Redis returned, once each")
    time.sleep(3)  # a late duplicate would arrive now
    assert len(smtp_server.messages) == FOLLOWUPS

    assert _comment(public, "After the outage: cross-training works.")[0] == 302
    assert PublicComment.objects.count() == 2
    drill.checked("the public form takes comments again")
