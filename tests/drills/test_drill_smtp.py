"""The SMTP server unreachable: a follow-up is tried again, with a growing pause, then marked failed
with the reason on its owner's page; sent again once the server answers, it leaves exactly once."""

from __future__ import annotations

import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from crm import roles
from outreach.models import FollowUp
from tests.conftest import free_port
from tests.drills.conftest import Drill, staff_user
from tests.factories import ContactFactory
from tests.http_client import errors, page_text
from tests.processes import wait_for

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ATTEMPTS = 3


def test_it_retries_then_fails_visibly_when_smtp_is_unreachable(system, smtp_server):
    drill = Drill("SMTP server unreachable")
    person = ContactFactory.create(timezone="Europe/Berlin")
    staffer = staff_user("drill.staff", roles.OUTREACH_STAFF)
    # Nothing listens on this port until the drill starts a server there.
    port = free_port()
    smtp_server.stop()
    smtp_server.port = port
    running = system(
        EMAIL_URL=f"smtp://127.0.0.1:{port}?timeout=2",
        FOLLOWUP_DISPATCH_SECONDS="1",
        FOLLOWUP_MAX_ATTEMPTS=str(ATTEMPTS),
        FOLLOWUP_RETRY_BASE_SECONDS="1",
    )
    running.start_web()
    running.start_worker()
    running.start_beat()
    web = running.session(staffer)

    tomorrow = timezone.now().astimezone(ZoneInfo("Europe/Berlin")) + timedelta(days=1)
    status, _location, page = web.post(
        f"/followups/new/?contact={person.pk}",
        {
            "subject": "Notes from our meeting",
            "body": "Thank you for your time.",
            "send_date": tomorrow.strftime("%Y-%m-%d"),
            "send_time": "09:00",
            "submission_key": str(uuid.uuid4()),
        },
    )
    assert status == 302, errors(page)
    followup = FollowUp.objects.get(contact=person)
    assert web.post(f"/followups/{followup.pk}/send-now/")[0] == 302
    drill.did(f"scheduled a follow-up through the web and pressed 'send now'; port {port} closed")

    wait_for(
        lambda: FollowUp.objects.filter(pk=followup.pk, status=FollowUp.Status.FAILED).exists(),
        timeout=120,
        interval=0.5,
        what="the follow-up to fail",
    )
    followup.refresh_from_db()
    assert followup.attempts == ATTEMPTS
    assert "refused" in followup.last_error.lower(), followup.last_error
    drill.checked(
        f"tried {followup.attempts} times with a growing pause, then marked failed: "
        f"{followup.last_error!r}"
    )
    shown = page_text(web.get("/followups/")[2])
    assert "Failed" in shown
    assert followup.last_error in shown
    drill.checked("its owner's follow-up page shows it failed, with the reason")

    smtp_server.start()
    drill.did(f"started an SMTP server on port {port}; pressed 'try again' on the follow-up")
    assert web.post(f"/followups/{followup.pk}/retry/")[0] == 302
    wait_for(
        lambda: FollowUp.objects.filter(pk=followup.pk, status=FollowUp.Status.SENT).exists(),
        timeout=60,
        interval=0.5,
        what="the follow-up to be sent",
    )
    wait_for(lambda: len(smtp_server.messages) >= 1, timeout=10, what="the e-mail to arrive")
    assert smtp_server.handler.message_ids() == [followup.message_id]
    assert person.email in str(smtp_server.messages[0]["To"])
    drill.checked("it was sent, exactly once, to the right person")
