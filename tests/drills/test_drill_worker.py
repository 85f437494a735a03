"""A Celery worker killed with SIGKILL in the middle of an import: the import is marked failed,
the database holds none of its rows, and run again it imports every row once."""

from __future__ import annotations

import csv
import io
import re

import pytest

from crm import roles
from crm.importing import services
from crm.models import Contact, ImportJob
from tests.drills.conftest import Drill, staff_user
from tests.http_client import page_text
from tests.processes import wait_for

pytestmark = [
    pytest.mark.services,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

ROWS = 20_000
DOMAIN = "drill-import.example.pl"


def _spreadsheet() -> bytes:
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(["Given name", "Surname", "E-mail address", "Country", "Occupation"])
    for number in range(ROWS):
        writer.writerow(["Łucja", f"Wójcik-{number}", f"lucja{number}@{DOMAIN}", "PL", "Welder"])
    return text.getvalue().encode()


def _imported() -> int:
    return Contact.objects.filter(email__endswith=f"@{DOMAIN}").count()


def _status(job: ImportJob, status: str, timeout: float) -> None:
    wait_for(
        lambda: ImportJob.objects.filter(pk=job.pk, status=status).exists(),
        timeout=timeout,
        interval=0.5,
        what=f"the import to be {status}",
    )


def test_it_fails_an_import_whose_worker_was_killed_and_runs_it_again(system, settings):
    drill = Drill("Celery worker killed with SIGKILL in the middle of an import")
    organizer = staff_user("drill.organizer", roles.ORGANIZER)
    running = system(IMPORT_BACKGROUND_ROWS="100", IMPORT_STALE_SECONDS="5")
    # The test reads the progress the worker writes to the drill's Redis, as the web does.
    settings.CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": running.env["REDIS_URL"],
            "KEY_PREFIX": "crm",
        }
    }
    running.start_web()
    first = running.start_worker("first", supervise=False)
    running.start_beat()
    web = running.session(organizer)

    status, _location, page = web.post(
        "/imports/new/", files={"file": ("union-list.csv", _spreadsheet(), "text/csv")}
    )
    assert status == 302, page_text(page)[:300]
    job = ImportJob.objects.latest("pk")
    mapping = {f"column_{index}": name for index, name in job.mapping.items()}
    assert web.post(f"/imports/{job.pk}/mapping/", mapping)[0] == 302
    _status(job, ImportJob.Status.PREVIEWED, timeout=120)
    job.refresh_from_db()
    assert job.preview["counts"]["created"] == ROWS
    drill.did(f"an organizer uploaded {ROWS:,} rows through the web; a worker previewed them")

    assert web.post(f"/imports/{job.pk}/confirm/")[0] == 302
    wait_for(
        lambda: services.import_job_progress(job)[0] >= 2000,
        timeout=120,
        interval=0.1,
        what="the worker to import a first chunk",
    )
    done = services.import_job_progress(job)[0]
    first.kill()
    drill.did(f"confirmed; killed the worker with SIGKILL at {done:,} of {ROWS:,} rows")
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    assert _imported() == 0
    drill.checked("the job still says running, and no row of the file is in the database")

    running.start_worker("second", supervise=False)
    drill.did("started a new worker, as a supervisor would; beat recovers imports every minute")
    _status(job, ImportJob.Status.FAILED, timeout=150)
    job.refresh_from_db()
    assert _imported() == 0
    _status_code, _location, page = web.get(f"/imports/{job.pk}/")
    shown = page_text(page)
    assert "stopped before it finished" in shown, shown[:500]
    drill.checked("the job is marked failed, its page says the import stopped before it finished")
    drill.checked("no row of the file is in the database: the killed transaction left nothing")

    assert web.post(f"/imports/{job.pk}/retry/")[0] == 302
    _status(job, ImportJob.Status.DONE, timeout=180)
    job.refresh_from_db()
    # Three runs: the preview, the killed import, and this one.
    assert (job.created, job.rejected, job.attempts) == (ROWS, 0, 3)
    assert _imported() == ROWS
    emails = Contact.objects.filter(email__endswith=f"@{DOMAIN}").values_list("email", flat=True)
    assert len(set(emails)) == ROWS
    numbers = sorted(int(re.sub(r"\D", "", email.split("@")[0])) for email in emails)
    assert numbers == list(range(ROWS))
    drill.did("ran the import again from its page")
    drill.checked(f"it finished on the new worker: all {ROWS:,} rows imported, each once")
