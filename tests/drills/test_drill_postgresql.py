"""PostgreSQL restarted while staff log consultations: each request is saved whole or answered
503 with a message saying so; sent again (the same form), it is kept once."""

from __future__ import annotations

import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest
from django.db import connection

from crm import roles
from outreach.models import Consultation, Topic
from tests.drills.conftest import Drill, postgresql_cluster, staff_user
from tests.factories import ContactFactory, UnionFactory
from tests.http_client import consultation_form, page_text
from tests.processes import wait_for

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

SESSIONS = 4
DOWN_SECONDS = 3
TITLE = "Drill: PostgreSQL"


@dataclass
class Post:
    session: int
    title: str
    body: dict[str, object]
    status: int
    page: str
    retry_after: str | None


def _pg_ctl(action: str) -> None:
    version, cluster = postgresql_cluster()
    args = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, action]
    subprocess.run(args + (["-m", "fast"] if action == "stop" else []), check=True, timeout=60)


def _ready() -> bool:
    return subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False).returncode == 0


def test_it_saves_consultations_whole_or_not_at_all_while_postgresql_restarts(system):
    drill = Drill("PostgreSQL restarted while staff log consultations")
    union = UnionFactory.create()
    people = [ContactFactory.create() for _ in range(3)]
    topics = list(Topic.objects.values_list("pk", flat=True)[:2])
    user = staff_user("drill.staff", roles.OUTREACH_STAFF)
    running = system()
    running.start_web()
    sessions = [running.session(user) for _ in range(SESSIONS)]

    def form(title: str) -> dict[str, object]:
        return consultation_form(
            title,
            format="site_visit",
            position="support",
            unions=[str(union.pk)],
            attendees=[str(person.pk) for person in people],
            attendee_roles=["participant"] * len(people),
            topics=[str(pk) for pk in topics],
            summary="Cross-training on the floor, with the jobs kept here.",
        )

    posts: list[Post] = []
    lock = threading.Lock()
    stop = threading.Event()

    def post(number: int, body: dict[str, object]) -> Post:
        session = sessions[number]
        status, _location, page = session.post("/consultations/new/", body)
        retry_after = session.last_headers.get("Retry-After")
        return Post(number, str(body["title"]), body, status, page, retry_after)

    def log(number: int) -> None:
        count = 0
        while not stop.is_set():
            body = form(f"{TITLE} {number}-{count}")
            try:
                result = post(number, body)
            except OSError as error:  # a dropped connection: the server itself failed
                result = Post(number, str(body["title"]), body, 0, str(error), None)
            with lock:
                posts.append(result)
            count += 1
            time.sleep(0.1)

    threads = [threading.Thread(target=log, args=(number,)) for number in range(SESSIONS)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(3)
        drill.did(f"{SESSIONS} staff sessions log consultations through gunicorn, nonstop")
        _pg_ctl("stop")
        drill.did(f"stopped PostgreSQL (pg_ctlcluster stop -m fast) for {DOWN_SECONDS} s")
        time.sleep(DOWN_SECONDS)
        _pg_ctl("start")
        wait_for(_ready, timeout=60, what="PostgreSQL to accept connections")
        drill.did("started PostgreSQL again; the sessions went on logging for 5 s")
        time.sleep(5)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
        if not _ready():
            _pg_ctl("start")
    # The test's own connection died with the server.
    connection.close()

    statuses = Counter(result.status for result in posts)
    assert set(statuses) <= {302, 503}, statuses
    refused = [result for result in posts if result.status == 503]
    assert refused, "the restart was not felt: no request failed while PostgreSQL was down"
    drill.checked(
        f"{len(posts)} posts: {statuses[302]} saved (302), {statuses[503]} answered 503, "
        "none 500 and no connection dropped"
    )
    for result in refused:
        assert "The database did not answer" in page_text(result.page)
        assert "never in part" in page_text(result.page)
        assert result.retry_after == "5"
    drill.checked("each 503 says the database did not answer and nothing was half-saved")
    last = {result.session: result.status for result in posts}  # posts are in order
    assert set(last.values()) == {302}, last
    drill.checked("each session's last post, after the restart, was saved again")

    again = [post(result.session, result.body) for result in refused]
    assert {result.status for result in again} == {302}
    drill.did(f"sent the {len(refused)} refused forms again, as a person pressing Back and Send")

    sent = {result.title for result in posts}
    stored = Counter(
        Consultation.objects.filter(title__startswith=TITLE).values_list("title", flat=True)
    )
    assert set(stored) == sent
    assert max(stored.values()) == 1
    drill.checked(f"all {len(sent)} consultations are in the database, each exactly once")
    whole = Consultation.objects.filter(title__startswith=TITLE)
    for consultation in whole.prefetch_related("unions", "topics", "attendances"):
        assert [u.pk for u in consultation.unions.all()] == [union.pk]
        assert sorted(t.pk for t in consultation.topics.all()) == sorted(topics)
        assert sorted(a.contact_id for a in consultation.attendances.all()) == sorted(
            person.pk for person in people
        )
    drill.checked("each has its union, its 2 topics and its 3 attendees: none half-saved")
