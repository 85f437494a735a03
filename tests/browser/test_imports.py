"""In a browser, as an organizer: a spreadsheet with unusual headers, one column mapped by hand,
the preview, the progress bar of a worker, the import, and the file of rejected rows."""

from __future__ import annotations

import csv
import io

import pytest
from openpyxl import Workbook

from crm.models import Contact, ImportJob
from tests.browser.conftest import live, sign_in
from tests.factories import UnionFactory
from tests.processes import celery_worker, process_env

pytestmark = [pytest.mark.browser, pytest.mark.services, live]

ROWS = 3000


def _workbook(path):
    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Given name", "FAMILY-NAME", "E-mail Address", "Occupation", "Org", "Land"])
    sheet.append(["Bjørn", "Østergaard", "not an email", "welder", "Dansk Metal", "DK"])
    for number in range(ROWS - 1):
        sheet.append(
            [
                "Zsófia",
                f"Kovács-{number}",
                f"zsofia{number}@example.hu",
                "Machinist",
                "Dansk Metal",
                "Hungary",
            ]
        )
    workbook.save(path)


def test_it_imports_a_spreadsheet_end_to_end(
    page, live_server, organizer, tmp_path, settings, postgres, redis_url, redis_broker
):
    settings.IMPORT_BACKGROUND_ROWS = 100
    UnionFactory.create(name="Dansk Metal", acronym="DM", country="DK")
    path = tmp_path / "Site visit Esbjerg.xlsx"
    _workbook(path)
    worker = celery_worker(tmp_path, "worker", process_env(CELERY_BROKER_URL=redis_broker))
    try:
        sign_in(page, live_server, organizer.username, next_path="/imports/new/")
        page.get_by_label("Spreadsheet").set_input_files(str(path))
        page.get_by_role("button", name="Upload and check the columns").click()

        page.get_by_role("heading", name="Which column is which?").wait_for()
        assert page.get_by_label("E-mail Address").input_value() == "email"
        assert page.get_by_label("Occupation").input_value() == "trade"
        assert page.get_by_label("Org").input_value() == ""  # not a header it knows
        page.get_by_label("Org").select_option("union")
        page.get_by_role("button", name="Preview the import").click()

        # No worker yet: the page shows the bar and waits; then a worker takes the job.
        bar = page.get_by_test_id("import-progress")
        bar.wait_for()
        assert bar.get_attribute("max") == str(ROWS)
        worker.start()
        preview = page.get_by_test_id("import-preview")
        preview.wait_for(timeout=60_000)
        counts = page.get_by_test_id("import-counts")
        assert counts.locator("[data-count=created]").inner_text() == str(ROWS - 1)
        assert counts.locator("[data-count=rejected]").inner_text() == "1"
        assert "“not an email” is not a valid email address" in preview.inner_text()
        assert Contact.objects.count() == 0

        page.get_by_test_id("confirm-import").click()
        page.get_by_test_id("import-result").wait_for(timeout=60_000)
        assert Contact.objects.count() == ROWS - 1
        zsofia = Contact.objects.get(email="zsofia0@example.hu")
        assert zsofia.memberships.get().union.name == "Dansk Metal"
        assert zsofia.trade == "machinist"

        with page.expect_download() as download_info:
            page.get_by_test_id("rejected-download").click()
        content = open(download_info.value.path(), encoding="utf-8-sig").read()  # noqa: SIM115
        rows = list(csv.reader(io.StringIO(content)))
        assert rows[0] == [
            "Given name", "FAMILY-NAME", "E-mail Address", "Occupation", "Org", "Land", "error",
        ]  # fmt: skip
        assert rows[1][:3] == ["Bjørn", "Østergaard", "not an email"]
        assert "column “E-mail Address”" in rows[1][-1]
        assert ImportJob.objects.get().status == ImportJob.Status.DONE
    finally:
        worker.stop()
