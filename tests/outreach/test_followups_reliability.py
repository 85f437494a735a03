"""1,000 follow-ups due at once, two workers, one killed mid-run, the broker restarted: each e-mail
leaves at most once, and every follow-up ends sent, or (killed in flight) needing review."""

from __future__ import annotations

from collections import Counter

import pytest
from django.utils import timezone

from crm.models import Contact, contact_search_text
from outreach.models import FollowUp
from tests.conftest import free_port
from tests.factories import UserFactory
from tests.processes import (
    answers,
    celery_beat,
    celery_worker,
    process_env,
    redis_server,
    wait_for,
)

Status = FollowUp.Status
COUNT = 1000
CONCURRENCY = 4
pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def _make_followups() -> None:
    owner = UserFactory.create()
    contacts = Contact.objects.bulk_create(
        [
            Contact(
                first_name="Load",
                last_name=f"Test {index}",
                email=f"load{index}@example.org",
                email_consent="granted",
                search_text=contact_search_text(
                    "Load", f"Test {index}", f"load{index}@example.org"
                ),
            )
            for index in range(COUNT)
        ]
    )
    now = timezone.now()
    FollowUp.objects.bulk_create(
        [
            FollowUp(
                contact=contact,
                owner=owner,
                subject="Notes from our meeting",
                body="Thank you.",
                send_at=now,
                message_id=f"<load-{contact.pk}@reliability.test>",
            )
            for contact in contacts
        ]
    )


def test_it_sends_each_follow_up_at_most_once_through_crashes(tmp_path, postgres, smtp_server):
    _make_followups()
    broker_port = free_port()
    broker = redis_server(tmp_path, broker_port).start()
    wait_for(lambda: answers(broker_port), timeout=10, what="the test's Redis")
    env = process_env(
        CELERY_BROKER_URL=f"redis://127.0.0.1:{broker_port}/0",
        EMAIL_URL=smtp_server.url,
        FOLLOWUP_DISPATCH_SECONDS="1",
        FOLLOWUP_REQUEUE_AFTER="5",
        FOLLOWUP_SENDING_TIMEOUT="10",
        FOLLOWUP_RETRY_BASE_SECONDS="1",
    )
    first = celery_worker(tmp_path, "first", env, CONCURRENCY).start()
    second = celery_worker(tmp_path, "second", env, CONCURRENCY).start()
    beat = celery_beat(tmp_path, env).start()
    replacement = None
    try:
        received = lambda: len(smtp_server.messages)  # noqa: E731
        wait_for(lambda: received() >= 150, timeout=90, what="the first e-mails")
        first.kill()  # mid-run, with e-mails in flight
        replacement = celery_worker(tmp_path, "replacement", env, CONCURRENCY).start()

        wait_for(lambda: received() >= 500, timeout=90, what="more e-mails")
        broker.kill()  # queued tasks in the broker are lost with it (no persistence)
        wait_for(lambda: not answers(broker_port), timeout=10, what="Redis to stop")
        broker = redis_server(tmp_path, broker_port).start()
        wait_for(lambda: answers(broker_port), timeout=10, what="Redis to return")

        settled = {Status.SENT, Status.UNKNOWN}
        wait_for(
            lambda: not FollowUp.objects.exclude(status__in=settled).exists(),
            timeout=180,
            interval=1,
            what="every follow-up to settle",
        )
    finally:
        for process in (first, second, beat, replacement, broker):
            if process is not None:
                process.stop()

    delivered = Counter(smtp_server.handler.message_ids())
    statuses = Counter(FollowUp.objects.values_list("status", flat=True))
    assert max(delivered.values()) == 1, [mid for mid, n in delivered.items() if n > 1][:5]
    assert set(statuses) <= {Status.SENT, Status.UNKNOWN}
    assert statuses[Status.UNKNOWN] <= CONCURRENCY  # only what the killed worker had in flight
    sent_ids = set(FollowUp.objects.filter(status=Status.SENT).values_list("message_id", flat=True))
    assert sent_ids <= set(delivered)
    assert statuses[Status.SENT] + statuses[Status.UNKNOWN] == COUNT
